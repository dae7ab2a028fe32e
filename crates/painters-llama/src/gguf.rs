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
mod llama;
#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;

pub use dequant::{DequantError, GgmlType, dequantize};
pub use llama::{GgufLlamaMeta, llama_config_from_gguf, permute_rope_rows, unpermute_rope_rows};

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use painters::weights::FileBytes;

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

/// Everything that can go wrong reading a GGUF file.
///
/// Variants carry the file path and, where one is involved, the metadata key or tensor name, so
/// the message alone tells a user which file is bad and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened, stat'ed or mapped.
    #[error("{}: cannot read GGUF file: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A read ran past the end of the file.
    #[error(
        "{}: truncated GGUF file: {what} needs {needed} bytes at offset {offset}, only {available} remain",
        .path.display()
    )]
    Truncated {
        path: PathBuf,
        what: String,
        offset: u64,
        needed: u64,
        available: u64,
    },
    /// The file does not start with `GGUF`.
    #[error("{}: not a GGUF file (magic bytes {found:02x?}, expected \"GGUF\")", .path.display())]
    BadMagic { path: PathBuf, found: [u8; 4] },
    /// A version this reader does not implement (only 2 and 3 are).
    #[error("{}: unsupported GGUF version {version} (supported: 2 and 3)", .path.display())]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// The version field reads as a small number only when byte-swapped: a big-endian file.
    #[error("{}: big-endian GGUF files are not supported", .path.display())]
    BigEndian { path: PathBuf },
    /// A declared element count cannot fit in the bytes left in the file.
    #[error(
        "{}: {what} declares {count} entries but the {remaining} remaining bytes hold at most {max}",
        .path.display()
    )]
    CountTooLarge {
        path: PathBuf,
        what: String,
        count: u64,
        remaining: u64,
        max: u64,
    },
    /// A string (key, value or tensor name) is not valid UTF-8.
    #[error("{}: {what} is not valid UTF-8", .path.display())]
    InvalidUtf8 { path: PathBuf, what: String },
    /// A metadata value (or array element) type id outside the GGUF spec.
    #[error("{}: key '{key}' has unknown value type id {type_id}", .path.display())]
    UnknownValueType {
        path: PathBuf,
        key: String,
        type_id: u32,
    },
    /// A bool byte that is neither 0 nor 1.
    #[error("{}: key '{key}' holds bool byte {value}, expected 0 or 1", .path.display())]
    InvalidBool {
        path: PathBuf,
        key: String,
        value: u8,
    },
    /// Arrays nested deeper than [`MAX_ARRAY_NESTING`].
    #[error(
        "{}: key '{key}' nests arrays deeper than {max} levels",
        .path.display(),
        max = MAX_ARRAY_NESTING
    )]
    NestingTooDeep { path: PathBuf, key: String },
    /// The same metadata key appears twice.
    #[error("{}: metadata key '{key}' appears more than once", .path.display())]
    DuplicateKey { path: PathBuf, key: String },
    /// `general.alignment` is not a non-zero power-of-two u32.
    #[error(
        "{}: general.alignment must be a non-zero power-of-two u32, found {found}",
        .path.display()
    )]
    InvalidAlignment { path: PathBuf, found: String },
    /// More dimensions than ggml supports.
    #[error(
        "{}: tensor '{tensor}' has {n_dims} dimensions, at most {max} are allowed",
        .path.display(),
        max = MAX_DIMS
    )]
    TooManyDims {
        path: PathBuf,
        tensor: String,
        n_dims: u32,
    },
    /// Dimensions whose element count (or byte size) overflows.
    #[error(
        "{}: tensor '{tensor}' has dimensions {dims:?} whose size overflows",
        .path.display()
    )]
    DimsOverflow {
        path: PathBuf,
        tensor: String,
        dims: Vec<u64>,
    },
    /// A ggml type id this reader does not know, so the tensor's size cannot be checked.
    #[error("{}: tensor '{tensor}' has unknown ggml type id {type_id}", .path.display())]
    UnknownTensorType {
        path: PathBuf,
        tensor: String,
        type_id: u32,
    },
    /// The row length (`ne[0]`) is not a whole number of quantisation blocks.
    #[error(
        "{}: tensor '{tensor}' of type {ggml_type} has rows of {row_len} elements, not a multiple of the block size {block_size}",
        .path.display()
    )]
    RowNotBlockAligned {
        path: PathBuf,
        tensor: String,
        ggml_type: &'static str,
        row_len: u64,
        block_size: u64,
    },
    /// Two tensors with the same name.
    #[error("{}: tensor name '{tensor}' appears more than once", .path.display())]
    DuplicateTensor { path: PathBuf, tensor: String },
    /// A tensor offset that is not a multiple of the file's alignment.
    #[error(
        "{}: tensor '{tensor}' starts at data offset {offset}, not a multiple of the alignment {alignment}",
        .path.display()
    )]
    MisalignedTensor {
        path: PathBuf,
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    /// A tensor whose bytes run past the end of the file.
    #[error(
        "{}: tensor '{tensor}' ({size} bytes at file offset {start}) runs past the end of the {file_len}-byte file",
        .path.display()
    )]
    TensorOutOfBounds {
        path: PathBuf,
        tensor: String,
        start: u64,
        size: u64,
        file_len: u64,
    },
    /// A metadata key that is required but absent.
    #[error("{}: missing metadata key '{key}'", .path.display())]
    MissingKey { path: PathBuf, key: String },
    /// A metadata key holding a value of the wrong type.
    #[error("{}: metadata key '{key}' should be {expected}, found {found}", .path.display())]
    WrongType {
        path: PathBuf,
        key: String,
        expected: &'static str,
        found: String,
    },
    /// An integer metadata value that does not fit the requested type.
    #[error("{}: metadata key '{key}' value {value} does not fit in {target}", .path.display())]
    ValueOutOfRange {
        path: PathBuf,
        key: String,
        value: String,
        target: &'static str,
    },
    /// A metadata value that is present and well-typed but makes no sense.
    #[error("{}: metadata key '{key}': {reason}", .path.display())]
    InvalidMetadata {
        path: PathBuf,
        key: String,
        reason: String,
    },
    /// `general.architecture` is not the one the caller needs.
    #[error(
        "{}: general.architecture is '{found}', expected '{expected}'",
        .path.display()
    )]
    WrongArchitecture {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    /// No tensor with that name.
    #[error("{}: no tensor named '{tensor}'", .path.display())]
    TensorNotFound { path: PathBuf, tensor: String },
    /// A tensor whose ggml type cannot be dequantised by this reader.
    #[error(
        "{}: tensor '{tensor}' has ggml type {type_name} (id {type_id}), which cannot be dequantised (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)",
        .path.display()
    )]
    UnsupportedTensorType {
        path: PathBuf,
        tensor: String,
        type_id: u32,
        type_name: &'static str,
    },
    /// A tensor too large to address on this platform.
    #[error("{}: tensor '{tensor}' is too large for this platform", .path.display())]
    TensorTooLarge { path: PathBuf, tensor: String },
    /// [`permute_rope_rows`] / [`unpermute_rope_rows`] called with inconsistent sizes.
    #[error(
        "cannot (un)permute RoPE rows: {len} values for {rows}x{cols} with {n_heads} heads (rows must be a multiple of 2*heads)"
    )]
    BadRopeShape {
        rows: usize,
        cols: usize,
        n_heads: usize,
        len: usize,
    },
}

/// The type of a metadata value, with its GGUF type id (`gguf_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgufValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl GgufValueType {
    /// Maps a type id from the file; `None` for ids outside the spec.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    /// The id this type is written as.
    pub fn id(self) -> u32 {
        match self {
            Self::U8 => 0,
            Self::I8 => 1,
            Self::U16 => 2,
            Self::I16 => 3,
            Self::U32 => 4,
            Self::I32 => 5,
            Self::F32 => 6,
            Self::Bool => 7,
            Self::String => 8,
            Self::Array => 9,
            Self::U64 => 10,
            Self::I64 => 11,
            Self::F64 => 12,
        }
    }

    /// Lower-case name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::U16 => "u16",
            Self::I16 => "i16",
            Self::U32 => "u32",
            Self::I32 => "i32",
            Self::F32 => "f32",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Array => "array",
            Self::U64 => "u64",
            Self::I64 => "i64",
            Self::F64 => "f64",
        }
    }

    /// Fewest bytes one value of this type can occupy in the file. Used to reject an array count
    /// that the rest of the file cannot possibly hold before allocating for it.
    fn min_encoded_len(self) -> u64 {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
            // u64 length of an empty string
            Self::String => 8,
            // element type u32 + u64 count of an empty array
            Self::Array => 12,
        }
    }
}

impl fmt::Display for GgufValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(GgufArray),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A metadata array. Elements are stored in typed vectors (the element type is fixed per array),
/// which keeps e.g. a 50k-entry `tokenizer.ggml.token_type` compact.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<GgufArray>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl GgufValue {
    /// The GGUF type of this value.
    pub fn value_type(&self) -> GgufValueType {
        match self {
            Self::U8(_) => GgufValueType::U8,
            Self::I8(_) => GgufValueType::I8,
            Self::U16(_) => GgufValueType::U16,
            Self::I16(_) => GgufValueType::I16,
            Self::U32(_) => GgufValueType::U32,
            Self::I32(_) => GgufValueType::I32,
            Self::F32(_) => GgufValueType::F32,
            Self::Bool(_) => GgufValueType::Bool,
            Self::String(_) => GgufValueType::String,
            Self::Array(_) => GgufValueType::Array,
            Self::U64(_) => GgufValueType::U64,
            Self::I64(_) => GgufValueType::I64,
            Self::F64(_) => GgufValueType::F64,
        }
    }

    /// Any integer value widened to i128 (which holds every GGUF integer exactly); `None` for
    /// non-integers. The typed getters narrow from this with a range check.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Self::U8(v) => v.into(),
            Self::I8(v) => v.into(),
            Self::U16(v) => v.into(),
            Self::I16(v) => v.into(),
            Self::U32(v) => v.into(),
            Self::I32(v) => v.into(),
            Self::U64(v) => v.into(),
            Self::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// An F32 or F64 value as f64; `None` otherwise.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if this is a bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The array, if this is an array value.
    pub fn as_array(&self) -> Option<&GgufArray> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Type description for error messages, e.g. `u32` or `array of string`.
    fn describe(&self) -> String {
        match self {
            Self::Array(a) => format!("array of {}", a.element_type()),
            v => v.value_type().name().to_string(),
        }
    }
}

impl GgufArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::U8(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U16(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::U32(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::F32(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::String(v) => v.len(),
            Self::Array(v) => v.len(),
            Self::U64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::F64(v) => v.len(),
        }
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn element_type(&self) -> GgufValueType {
        match self {
            Self::U8(_) => GgufValueType::U8,
            Self::I8(_) => GgufValueType::I8,
            Self::U16(_) => GgufValueType::U16,
            Self::I16(_) => GgufValueType::I16,
            Self::U32(_) => GgufValueType::U32,
            Self::I32(_) => GgufValueType::I32,
            Self::F32(_) => GgufValueType::F32,
            Self::Bool(_) => GgufValueType::Bool,
            Self::String(_) => GgufValueType::String,
            Self::Array(_) => GgufValueType::Array,
            Self::U64(_) => GgufValueType::U64,
            Self::I64(_) => GgufValueType::I64,
            Self::F64(_) => GgufValueType::F64,
        }
    }

    /// The elements of a string array.
    pub fn as_strings(&self) -> Option<&[String]> {
        match self {
            Self::String(v) => Some(v),
            _ => None,
        }
    }

    /// Elements of any integer array widened to i128; `None` for non-integer arrays.
    pub fn to_integers(&self) -> Option<Vec<i128>> {
        fn widen<T: Copy + Into<i128>>(v: &[T]) -> Vec<i128> {
            v.iter().map(|&x| x.into()).collect()
        }
        Some(match self {
            Self::U8(v) => widen(v),
            Self::I8(v) => widen(v),
            Self::U16(v) => widen(v),
            Self::I16(v) => widen(v),
            Self::U32(v) => widen(v),
            Self::I32(v) => widen(v),
            Self::U64(v) => widen(v),
            Self::I64(v) => widen(v),
            _ => return None,
        })
    }
}

/// Where one tensor lives and what it holds, as described in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in GGUF order: `dims[0]` (ggml `ne[0]`) varies fastest, i.e. is the row length.
    pub dims: Vec<u64>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// Offset of the first byte relative to the start of the data section.
    pub offset: u64,
    /// Number of elements (product of `dims`; 1 for zero dimensions).
    pub n_elements: u64,
    /// Number of bytes the tensor occupies in the data section.
    pub n_bytes: u64,
}

impl GgufTensorInfo {
    /// The shape in PyTorch / Hugging Face order (slowest dimension first): `dims` reversed.
    pub fn hf_shape(&self) -> Vec<usize> {
        // A dim that does not fit in usize can only occur on 32-bit targets, where such a tensor
        // could not be loaded anyway (tensor_f32 reports it); saturate instead of panicking.
        self.dims
            .iter()
            .rev()
            .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
            .collect()
    }
}

/// An open, memory-mapped GGUF file with its parsed metadata and tensor table.
pub struct GgufFile {
    path: PathBuf,
    bytes: FileBytes,
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, GgufValue)>,
    metadata_index: HashMap<String, usize>,
    tensors: Vec<GgufTensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("file_len", &self.bytes.len())
            .field("metadata_entries", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Opens, maps and validates a GGUF file. All metadata and tensor descriptions are parsed and
    /// every tensor's byte range is checked to lie inside the file, so later tensor reads cannot
    /// fail on bounds.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| GgufError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if len < HEADER_LEN {
            // Checked before mapping: mapping an empty file is an error on some platforms, and
            // this gives the better message anyway.
            return Err(GgufError::Truncated {
                path,
                what: "GGUF header".into(),
                offset: 0,
                needed: HEADER_LEN,
                available: len,
            });
        }
        // As with every mmap-based model loader, another process truncating or rewriting the file
        // while it is mapped is outside what we can guard against; that is accepted in exchange
        // for not copying the weights into memory.
        let bytes = FileBytes::map(&file).map_err(io_err)?;
        Self::from_bytes(bytes, path)
    }

    /// Parses and validates a GGUF file that is already in memory (`path` names it in errors),
    /// with the same checks as [`GgufFile::open`].
    pub fn from_bytes(bytes: FileBytes, path: impl Into<PathBuf>) -> Result<Self, GgufError> {
        let path = path.into();
        let parsed = parse(&bytes, &path)?;
        Ok(Self {
            path,
            bytes,
            version: parsed.version,
            alignment: parsed.alignment,
            data_offset: parsed.data_offset,
            metadata: parsed.metadata,
            metadata_index: parsed.metadata_index,
            tensors: parsed.tensors,
            tensor_index: parsed.tensor_index,
        })
    }

    /// The path this file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Data-section alignment in bytes.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset where the data section starts.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The value stored under `key`, if any.
    pub fn metadata(&self, key: &str) -> Option<&GgufValue> {
        self.metadata_index
            .get(key)
            .and_then(|&i| self.metadata.get(i))
            .map(|(_, v)| v)
    }

    /// All metadata entries, in file order.
    pub fn metadata_entries(&self) -> impl Iterator<Item = (&str, &GgufValue)> {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    fn require(&self, key: &str) -> Result<&GgufValue, GgufError> {
        self.metadata(key).ok_or_else(|| GgufError::MissingKey {
            path: self.path.clone(),
            key: key.into(),
        })
    }

    fn wrong_type(&self, key: &str, expected: &'static str, found: &GgufValue) -> GgufError {
        GgufError::WrongType {
            path: self.path.clone(),
            key: key.into(),
            expected,
            found: found.describe(),
        }
    }

    fn integer<T: TryFrom<i128>>(&self, key: &str, target: &'static str) -> Result<T, GgufError> {
        let v = self.require(key)?;
        let i = v
            .as_integer()
            .ok_or_else(|| self.wrong_type(key, "an integer", v))?;
        T::try_from(i).map_err(|_| GgufError::ValueOutOfRange {
            path: self.path.clone(),
            key: key.into(),
            value: i.to_string(),
            target,
        })
    }

    /// An integer value as u32. Any GGUF integer type is accepted when its value fits, because
    /// writers are not consistent about which width they use for counts and token ids.
    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        self.integer(key, "u32")
    }

    /// An integer value as u64 (any integer type whose value fits).
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        self.integer(key, "u64")
    }

    /// An integer value as i64 (any integer type whose value fits).
    pub fn get_i64(&self, key: &str) -> Result<i64, GgufError> {
        self.integer(key, "i64")
    }

    /// An integer value as usize (any integer type whose value fits).
    pub fn get_usize(&self, key: &str) -> Result<usize, GgufError> {
        self.integer(key, "usize")
    }

    /// A float value as f32. F64 values are accepted and rounded to f32.
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let v = self.require(key)?;
        match *v {
            GgufValue::F32(x) => Ok(x),
            GgufValue::F64(x) => Ok(x as f32),
            _ => Err(self.wrong_type(key, "f32", v)),
        }
    }

    /// A float value as f64 (F32 or F64).
    pub fn get_f64(&self, key: &str) -> Result<f64, GgufError> {
        let v = self.require(key)?;
        v.as_float().ok_or_else(|| self.wrong_type(key, "f64", v))
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        let v = self.require(key)?;
        v.as_bool().ok_or_else(|| self.wrong_type(key, "bool", v))
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| self.wrong_type(key, "string", v))
    }

    /// An array value of any element type.
    pub fn get_array(&self, key: &str) -> Result<&GgufArray, GgufError> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| self.wrong_type(key, "array", v))
    }

    /// An array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<&[String], GgufError> {
        let v = self.require(key)?;
        v.as_array()
            .and_then(GgufArray::as_strings)
            .ok_or_else(|| self.wrong_type(key, "array of string", v))
    }

    /// An array of integers as i32 (any integer element type whose values all fit).
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>, GgufError> {
        let v = self.require(key)?;
        let ints = v
            .as_array()
            .and_then(GgufArray::to_integers)
            .ok_or_else(|| self.wrong_type(key, "array of integer", v))?;
        ints.into_iter()
            .map(|i| {
                i32::try_from(i).map_err(|_| GgufError::ValueOutOfRange {
                    path: self.path.clone(),
                    key: key.into(),
                    value: i.to_string(),
                    target: "i32",
                })
            })
            .collect()
    }

    /// An array of floats as f32 (F32 arrays as-is, F64 arrays rounded).
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>, GgufError> {
        let v = self.require(key)?;
        match v.as_array() {
            Some(GgufArray::F32(x)) => Ok(x.clone()),
            Some(GgufArray::F64(x)) => Ok(x.iter().map(|&f| f as f32).collect()),
            _ => Err(self.wrong_type(key, "array of f32", v)),
        }
    }

    /// All tensor descriptions, in file order.
    pub fn tensors(&self) -> &[GgufTensorInfo] {
        &self.tensors
    }

    /// The description of the tensor called `name`, if any.
    pub fn tensor_info(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensor_index
            .get(name)
            .and_then(|&i| self.tensors.get(i))
    }

    fn find_tensor(&self, name: &str) -> Result<&GgufTensorInfo, GgufError> {
        self.tensor_info(name)
            .ok_or_else(|| GgufError::TensorNotFound {
                path: self.path.clone(),
                tensor: name.into(),
            })
    }

    fn bytes_of(&self, info: &GgufTensorInfo) -> Result<&[u8], GgufError> {
        let out_of_bounds = || GgufError::TensorOutOfBounds {
            path: self.path.clone(),
            tensor: info.name.clone(),
            start: self.data_offset.saturating_add(info.offset),
            size: info.n_bytes,
            file_len: self.file_len(),
        };
        // open() already checked these ranges; re-checking costs nothing and keeps this function
        // panic-free on its own.
        let start = self
            .data_offset
            .checked_add(info.offset)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(out_of_bounds)?;
        let len = usize::try_from(info.n_bytes).map_err(|_| out_of_bounds())?;
        let end = start.checked_add(len).ok_or_else(out_of_bounds)?;
        self.bytes.get(start..end).ok_or_else(out_of_bounds)
    }

    /// The raw stored bytes of a tensor (a slice of the mapping, no copy).
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8], GgufError> {
        let info = self.find_tensor(name)?;
        self.bytes_of(info)
    }

    /// Dequantises a tensor to f32.
    ///
    /// Returns the Hugging Face–order shape (GGUF dims reversed, so a GGUF `[576, 49152]`
    /// embedding comes back as `[49152, 576]`) and the values in row-major order for that shape,
    /// which is exactly the order ggml stores them in.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), GgufError> {
        let info = self.find_tensor(name)?;
        let bytes = self.bytes_of(info)?;
        let n = usize::try_from(info.n_elements).map_err(|_| GgufError::TensorTooLarge {
            path: self.path.clone(),
            tensor: info.name.clone(),
        })?;
        let values = dequantize(info.ggml_type, bytes, n).map_err(|e| match e {
            DequantError::Unsupported { ggml_type } => GgufError::UnsupportedTensorType {
                path: self.path.clone(),
                tensor: info.name.clone(),
                type_id: ggml_type.id(),
                type_name: ggml_type.name(),
            },
            // open() sized n_bytes from n_elements with the same block table, so this cannot
            // happen for a tensor of an opened file; report it as a bounds problem if it does.
            DequantError::BadLength { .. } | DequantError::PartialBlock { .. } => {
                GgufError::TensorOutOfBounds {
                    path: self.path.clone(),
                    tensor: info.name.clone(),
                    start: self.data_offset.saturating_add(info.offset),
                    size: info.n_bytes,
                    file_len: self.file_len(),
                }
            }
        })?;
        Ok((info.hf_shape(), values))
    }
}

/// Everything [`parse`] extracts from the bytes.
struct Parsed {
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, GgufValue)>,
    metadata_index: HashMap<String, usize>,
    tensors: Vec<GgufTensorInfo>,
    tensor_index: HashMap<String, usize>,
}

/// A bounds-checked little-endian cursor over the file bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos.min(self.buf.len())) as u64
    }

    /// Takes the next `n` bytes. `what` describes the read for the error message and is only
    /// called on failure, so the hot path allocates nothing.
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        let available = self.remaining();
        if n > available {
            return Err(GgufError::Truncated {
                path: self.path.to_path_buf(),
                what: what(),
                offset: self.pos as u64,
                needed: n,
                available,
            });
        }
        // n <= remaining <= buf.len(), so it fits in usize and the slice is in bounds.
        let n = n as usize;
        let end = self.pos + n;
        let out = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8, GgufError> {
        Ok(self.fixed::<1>(what)?[0])
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.fixed(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.fixed(what)?))
    }

    /// Reads a GGUF string: u64 length (checked against the remaining bytes), then UTF-8.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, GgufError> {
        let len = self.u64(&|| format!("length of {}", what()))?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::InvalidUtf8 {
            path: self.path.to_path_buf(),
            what: what(),
        })
    }

    /// Rejects `count` elements of at least `min_len` bytes each when they cannot fit.
    fn check_count(
        &self,
        count: u64,
        min_len: u64,
        what: &dyn Fn() -> String,
    ) -> Result<usize, GgufError> {
        let remaining = self.remaining();
        let max = remaining / min_len.max(1);
        if count > max {
            return Err(GgufError::CountTooLarge {
                path: self.path.to_path_buf(),
                what: what(),
                count,
                remaining,
                max,
            });
        }
        // count <= remaining <= buf.len(), so it fits in usize.
        Ok(count as usize)
    }
}

/// Reads `n` fixed-width little-endian values (`W` bytes each) into a vector.
fn read_fixed_vec<T, const W: usize>(
    r: &mut Reader<'_>,
    n: usize,
    what: &dyn Fn() -> String,
    convert: fn([u8; W]) -> T,
) -> Result<Vec<T>, GgufError> {
    // n was checked against the remaining bytes with W as the element size, so no overflow.
    let bytes = r.take((n as u64).saturating_mul(W as u64), what)?;
    Ok(bytes
        .chunks_exact(W)
        .map(|c| {
            let mut a = [0u8; W];
            a.copy_from_slice(c);
            convert(a)
        })
        .collect())
}

fn read_value(
    r: &mut Reader<'_>,
    ty: GgufValueType,
    key: &str,
    depth: usize,
) -> Result<GgufValue, GgufError> {
    let what = || format!("value of key '{key}'");
    Ok(match ty {
        GgufValueType::U8 => GgufValue::U8(r.u8(&what)?),
        GgufValueType::I8 => GgufValue::I8(i8::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::U16 => GgufValue::U16(u16::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::I16 => GgufValue::I16(i16::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::U32 => GgufValue::U32(r.u32(&what)?),
        GgufValueType::I32 => GgufValue::I32(i32::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::F32 => GgufValue::F32(f32::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::U64 => GgufValue::U64(r.u64(&what)?),
        GgufValueType::I64 => GgufValue::I64(i64::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::F64 => GgufValue::F64(f64::from_le_bytes(r.fixed(&what)?)),
        GgufValueType::Bool => GgufValue::Bool(to_bool(r.u8(&what)?, r.path, key)?),
        GgufValueType::String => GgufValue::String(r.string(&what)?),
        GgufValueType::Array => GgufValue::Array(read_array(r, key, depth + 1)?),
    })
}

fn to_bool(b: u8, path: &Path, key: &str) -> Result<bool, GgufError> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(GgufError::InvalidBool {
            path: path.to_path_buf(),
            key: key.into(),
            value,
        }),
    }
}

fn read_array(r: &mut Reader<'_>, key: &str, depth: usize) -> Result<GgufArray, GgufError> {
    if depth > MAX_ARRAY_NESTING {
        return Err(GgufError::NestingTooDeep {
            path: r.path.to_path_buf(),
            key: key.into(),
        });
    }
    let elem_id = r.u32(&|| format!("array element type of key '{key}'"))?;
    let elem = GgufValueType::from_id(elem_id).ok_or_else(|| GgufError::UnknownValueType {
        path: r.path.to_path_buf(),
        key: key.into(),
        type_id: elem_id,
    })?;
    let count = r.u64(&|| format!("array length of key '{key}'"))?;
    let n = r.check_count(count, elem.min_encoded_len(), &|| {
        format!("array of {elem} under key '{key}'")
    })?;
    let what = || format!("array data of key '{key}'");
    Ok(match elem {
        GgufValueType::U8 => GgufArray::U8(r.take(n as u64, &what)?.to_vec()),
        GgufValueType::I8 => GgufArray::I8(read_fixed_vec(r, n, &what, i8::from_le_bytes)?),
        GgufValueType::U16 => GgufArray::U16(read_fixed_vec(r, n, &what, u16::from_le_bytes)?),
        GgufValueType::I16 => GgufArray::I16(read_fixed_vec(r, n, &what, i16::from_le_bytes)?),
        GgufValueType::U32 => GgufArray::U32(read_fixed_vec(r, n, &what, u32::from_le_bytes)?),
        GgufValueType::I32 => GgufArray::I32(read_fixed_vec(r, n, &what, i32::from_le_bytes)?),
        GgufValueType::F32 => GgufArray::F32(read_fixed_vec(r, n, &what, f32::from_le_bytes)?),
        GgufValueType::U64 => GgufArray::U64(read_fixed_vec(r, n, &what, u64::from_le_bytes)?),
        GgufValueType::I64 => GgufArray::I64(read_fixed_vec(r, n, &what, i64::from_le_bytes)?),
        GgufValueType::F64 => GgufArray::F64(read_fixed_vec(r, n, &what, f64::from_le_bytes)?),
        GgufValueType::Bool => {
            let bytes = r.take(n as u64, &what)?;
            let mut v = Vec::with_capacity(n);
            for &b in bytes {
                v.push(to_bool(b, r.path, key)?);
            }
            GgufArray::Bool(v)
        }
        GgufValueType::String => {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                v.push(r.string(&|| format!("element {i} of key '{key}'"))?);
            }
            GgufArray::String(v)
        }
        GgufValueType::Array => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(read_array(r, key, depth + 1)?);
            }
            GgufArray::Array(v)
        }
    })
}

/// Parses and validates the whole header, metadata and tensor table of `buf`.
fn parse(buf: &[u8], path: &Path) -> Result<Parsed, GgufError> {
    let mut r = Reader { buf, pos: 0, path };
    let magic: [u8; 4] = r.fixed(&|| "GGUF magic".into())?;
    if magic != GGUF_MAGIC {
        return Err(GgufError::BadMagic {
            path: path.into(),
            found: magic,
        });
    }
    let version = r.u32(&|| "GGUF version".into())?;
    match version {
        2 | 3 => {}
        v if matches!(v.swap_bytes(), 1..=3) => {
            return Err(GgufError::BigEndian { path: path.into() });
        }
        // Version 1 used 32-bit counts and lengths; nothing current writes it.
        v => {
            return Err(GgufError::UnsupportedVersion {
                path: path.into(),
                version: v,
            });
        }
    }
    let tensor_count = r.u64(&|| "tensor count".into())?;
    let kv_count = r.u64(&|| "metadata entry count".into())?;
    let kv_n = r.check_count(kv_count, MIN_KV_LEN, &|| "metadata entry count".into())?;

    let mut metadata = Vec::with_capacity(kv_n);
    let mut metadata_index = HashMap::with_capacity(kv_n);
    for i in 0..kv_n {
        let key = r.string(&|| format!("key of metadata entry {i}"))?;
        let type_id = r.u32(&|| format!("value type of key '{key}'"))?;
        let ty = GgufValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType {
            path: path.into(),
            key: key.clone(),
            type_id,
        })?;
        let value = read_value(&mut r, ty, &key, 0)?;
        if metadata_index.insert(key.clone(), metadata.len()).is_some() {
            return Err(GgufError::DuplicateKey {
                path: path.into(),
                key,
            });
        }
        metadata.push((key, value));
    }

    let alignment = match metadata_index
        .get("general.alignment")
        .map(|&i| &metadata[i].1)
    {
        None => DEFAULT_ALIGNMENT,
        Some(GgufValue::U32(a)) if a.is_power_of_two() => u64::from(*a),
        Some(GgufValue::U32(a)) => {
            return Err(GgufError::InvalidAlignment {
                path: path.into(),
                found: a.to_string(),
            });
        }
        Some(other) => {
            return Err(GgufError::InvalidAlignment {
                path: path.into(),
                found: format!("a value of type {}", other.describe()),
            });
        }
    };

    let tensor_n = r.check_count(tensor_count, MIN_TENSOR_INFO_LEN, &|| "tensor count".into())?;
    let mut tensors: Vec<GgufTensorInfo> = Vec::with_capacity(tensor_n);
    let mut tensor_index = HashMap::with_capacity(tensor_n);
    for i in 0..tensor_n {
        let name = r.string(&|| format!("name of tensor {i}"))?;
        let info = read_tensor_info(&mut r, name)?;
        if tensor_index
            .insert(info.name.clone(), tensors.len())
            .is_some()
        {
            return Err(GgufError::DuplicateTensor {
                path: path.into(),
                tensor: info.name,
            });
        }
        tensors.push(info);
    }

    let file_len = buf.len() as u64;
    let header_end = r.pos as u64;
    // The data section starts at the next multiple of the alignment after the tensor table.
    let data_offset = header_end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| GgufError::Truncated {
            path: path.into(),
            what: "data section".into(),
            offset: header_end,
            needed: alignment,
            available: 0,
        })?;
    for t in &tensors {
        if !t.offset.is_multiple_of(alignment) {
            return Err(GgufError::MisalignedTensor {
                path: path.into(),
                tensor: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.n_bytes));
        if end.is_none_or(|e| e > file_len) {
            return Err(GgufError::TensorOutOfBounds {
                path: path.into(),
                tensor: t.name.clone(),
                start: start.unwrap_or(u64::MAX),
                size: t.n_bytes,
                file_len,
            });
        }
    }

    Ok(Parsed {
        version,
        alignment,
        data_offset,
        metadata,
        metadata_index,
        tensors,
        tensor_index,
    })
}

/// Reads the rest of one tensor description (after its name) and computes its element count and
/// byte size with overflow checks.
fn read_tensor_info(r: &mut Reader<'_>, name: String) -> Result<GgufTensorInfo, GgufError> {
    let path = r.path;
    let n_dims = r.u32(&|| format!("dimension count of tensor '{name}'"))?;
    if n_dims as usize > MAX_DIMS {
        return Err(GgufError::TooManyDims {
            path: path.into(),
            tensor: name,
            n_dims,
        });
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        dims.push(r.u64(&|| format!("dimension {d} of tensor '{name}'"))?);
    }
    let type_id = r.u32(&|| format!("type of tensor '{name}'"))?;
    let offset = r.u64(&|| format!("data offset of tensor '{name}'"))?;
    let Some(ggml_type) = GgmlType::from_id(type_id) else {
        return Err(GgufError::UnknownTensorType {
            path: path.into(),
            tensor: name,
            type_id,
        });
    };

    // ggml stores dims as int64, so anything above i64::MAX is as bad as an overflow.
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64);
    let Some(n_elements) = n_elements else {
        return Err(GgufError::DimsOverflow {
            path: path.into(),
            tensor: name,
            dims,
        });
    };
    let block = ggml_type.block_size() as u64;
    let row_len = dims.first().copied().unwrap_or(1);
    if !row_len.is_multiple_of(block) {
        return Err(GgufError::RowNotBlockAligned {
            path: path.into(),
            tensor: name,
            ggml_type: ggml_type.name(),
            row_len,
            block_size: block,
        });
    }
    // Whole rows are whole blocks, so bytes = elements / block * block_bytes exactly.
    let Some(n_bytes) = (n_elements / block).checked_mul(ggml_type.type_size() as u64) else {
        return Err(GgufError::DimsOverflow {
            path: path.into(),
            tensor: name,
            dims,
        });
    };
    Ok(GgufTensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        n_elements,
        n_bytes,
    })
}
