//! Everything that can go wrong reading a GGUF file.

use std::path::PathBuf;

use super::MAX_ARRAY_NESTING;
use super::MAX_DIMS;

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
        "{}: tensor '{tensor}' has ggml type {type_name} (id {type_id}), which cannot be dequantised (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)",
        .path.display()
    )]
    UnsupportedTensorType {
        path: PathBuf,
        tensor: String,
        type_id: u32,
        type_name: &'static str,
    },
    /// A tensor whose bytes cannot form a weight matrix (a size the kernels reject).
    #[error("{}: tensor '{tensor}': {source}", .path.display())]
    Matrix {
        path: PathBuf,
        tensor: String,
        #[source]
        source: painters_kernels::KernelError,
    },
    /// A tensor too large to address on this platform.
    #[error("{}: tensor '{tensor}' is too large for this platform", .path.display())]
    TensorTooLarge { path: PathBuf, tensor: String },
    /// [`permute_rope_rows`](super::permute_rope_rows) / [`unpermute_rope_rows`](super::unpermute_rope_rows) called with inconsistent sizes.
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
