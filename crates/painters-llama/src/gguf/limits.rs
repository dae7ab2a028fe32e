//! The container's fixed sizes and the limits the reader enforces.

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
pub(super) const HEADER_LEN: u64 = 4 + 4 + 8 + 8;
/// Smallest possible metadata entry: empty key (u64 length), type u32, one-byte value.
pub(super) const MIN_KV_LEN: u64 = 8 + 4 + 1;
/// Smallest possible tensor description: empty name, n_dims u32, type u32, offset u64.
pub(super) const MIN_TENSOR_INFO_LEN: u64 = 8 + 4 + 4 + 8;
