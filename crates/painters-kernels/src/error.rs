//! What can go wrong building or using a weight matrix.

use crate::{Level, WeightType};

/// Every way a kernel call can refuse its input. Messages name the type and sizes involved, so
/// a caller that adds the tensor name has a complete message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The row length is not a whole number of the type's blocks.
    #[error(
        "{ty} stores rows in blocks of {block_len} elements; a row of {cols} elements is not a whole number of blocks"
    )]
    PartialBlock {
        ty: WeightType,
        cols: usize,
        block_len: usize,
    },
    /// A `rows × cols` matrix whose byte size overflows `usize`.
    #[error("a {rows} x {cols} {ty} matrix is too large for this platform")]
    TooLarge {
        ty: WeightType,
        rows: usize,
        cols: usize,
    },
    /// The bytes given for a matrix are not the size its shape and type need.
    #[error("a {rows} x {cols} {ty} matrix takes {expected} bytes, got {got}")]
    ByteLength {
        ty: WeightType,
        rows: usize,
        cols: usize,
        expected: usize,
        got: usize,
    },
    /// A byte range that does not lie inside the buffer it should borrow from.
    #[error("bytes {start}..{end} are outside a buffer of {len} bytes")]
    RangeOutOfBounds {
        start: usize,
        end: usize,
        len: usize,
    },
    /// An f32 buffer (input, output or scratch) of the wrong length.
    #[error("{what} holds {got} values, expected {expected}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A row index past the end of the matrix.
    #[error("row {row} is out of range for a matrix of {rows} rows")]
    RowOutOfRange { row: usize, rows: usize },
    /// No quantiser for this type (the K-quants are only read, never written, here).
    #[error(
        "cannot quantise to {ty}: only F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 are written"
    )]
    CannotQuantize { ty: WeightType },
    /// A kernel level the CPU does not support was asked for.
    #[error(
        "kernel level {level} needs CPU features this machine lacks (it supports up to {best})"
    )]
    LevelUnavailable { level: Level, best: Level },
    /// `PAINTERS_KERNELS` holds something other than a level name.
    #[error("PAINTERS_KERNELS={value:?} is not a kernel level (expected scalar, avx2 or avx512)")]
    BadLevelName { value: String },
}
