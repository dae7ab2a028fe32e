//! A reader for GGUF files (the llama.cpp / ggml model container), versions 2 and 3.
//!
//! The file is memory-mapped, not read: only the metadata (key/values and tensor descriptions) is
//! parsed into owned values, and tensor data is sliced out of the mapping on demand, so loading a
//! model never holds a second full copy of the file. [`GgufFile::tensor_f32`] dequantises one
//! tensor into a plain `Vec<f32>` in Hugging Face (row-major, slowest dimension first) order.
//!
//! # Layout (little-endian throughout)
//!
//! ```text
//! magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
//! kv_count × (key: string, value_type u32, value)
//! tensor_count × (name: string, n_dims u32, dims u64 × n_dims, ggml_type u32, offset u64)
//! padding to `general.alignment` (default 32)
//! data section: each tensor at data_start + offset
//! ```
//!
//! A string is a u64 byte length followed by UTF-8 bytes; an array is an element type u32, a u64
//! count and the elements. GGUF lists dimensions fastest-varying first (ggml's `ne[0]` is the row
//! length), which is the reverse of the PyTorch / Hugging Face shape.
//!
//! # Hostile input
//!
//! Every count, length, dimension and offset read from the file is checked against the bytes that
//! remain (or against overflow) *before* anything is allocated or sliced, so a truncated or lying
//! file yields a [`GgufError`] naming the file (and the key or tensor), never a panic or a huge
//! allocation.

mod dequant;
mod error;
mod file;
mod llama;
mod reader;
#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;
mod value;

pub use dequant::{DequantError, GgmlType, dequantize};
pub use error::GgufError;
pub use file::{GgufFile, GgufTensorInfo};
pub use llama::{GgufLlamaMeta, llama_config_from_gguf, permute_rope_rows, unpermute_rope_rows};
pub use value::{GgufArray, GgufValue, GgufValueType};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Data-section alignment used when the file has no `general.alignment` key.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most this many dimensions (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;
/// Arrays of arrays are legal GGUF; deeper nesting than this is refused so that a hostile file
/// cannot drive the recursive value parser into a stack overflow.
pub const MAX_ARRAY_NESTING: usize = 8;

/// Size of the fixed header: magic, version, tensor count, kv count.
const HEADER_LEN: u64 = 4 + 4 + 8 + 8;
/// Smallest possible metadata entry: empty key (u64 length), type u32, one-byte value.
const MIN_KV_LEN: u64 = 8 + 4 + 1;
/// Smallest possible tensor description: empty name, n_dims u32, type u32, offset u64.
const MIN_TENSOR_INFO_LEN: u64 = 8 + 4 + 4 + 8;
