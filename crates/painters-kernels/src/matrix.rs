//! [`QMatrix`]: a weight matrix in its storage format, and its products.

use std::cell::RefCell;
use std::ops::Range;

use crate::format::{self, dequantize_blocks_at};
use crate::gemm::gemm_dequant;
use crate::gemv::{Scratch, gemv};
use crate::{KernelError, Level, WeightBytes, WeightType};

/// Activation rows up to which [`ProductPath::Auto`] takes the dot-product (decode) path.
/// Measured with `benches/kernels.rs` on SmolLM2's shapes (docs/kernels.md): the row-dot
/// kernels read each weight once per activation row from cache, the tiled path pays its
/// dequantisation once, and they cross between 4 and 8 rows.
pub const DOT_MAX_ROWS: usize = 4;

/// Which algorithm computes a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductPath {
    /// [`ProductPath::Dot`] for at most [`DOT_MAX_ROWS`] activation rows, else
    /// [`ProductPath::Int8`] (which is [`ProductPath::Dequant`] where it is not available).
    #[default]
    Auto,
    /// One fused dot product per weight row and activation row, reading the stored blocks
    /// directly (the decode path). Quantised weights meet activations quantised to 8 bits:
    /// **approximate** (see the crate docs for the measured error); float weights meet f32
    /// activations: exact up to summation order.
    Dot,
    /// Panels of W dequantised to f32, then an f32 GEMM micro-kernel (the prompt path for
    /// float weights, and where [`ProductPath::Int8`] is not available): exact with respect to
    /// dequantise-then-f32-GEMM, up to summation order.
    Dequant,
    /// Activations quantised to 8 bits (a scale per 32 values) and multiplied tile by tile with
    /// AVX-512 VNNI integer dot products (the prompt path for quantised weights on CPUs with
    /// VNNI): **approximate** like [`ProductPath::Dot`]. Where the level or type has no such
    /// kernel (float weights, levels below AVX-512) it falls back to [`ProductPath::Dequant`].
    Int8,
}

/// Per-call choices for [`QMatrix::matmul_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatmulOptions {
    /// Kernel level; `None` takes [`crate::default_level`] (the best this CPU has, unless
    /// `PAINTERS_KERNELS` says otherwise).
    pub level: Option<Level>,
    /// Algorithm.
    pub path: ProductPath,
}

/// A `rows × cols` weight matrix in its storage format, in the checkpoint's layout: `[out, in]`
/// row-major, each row a whole number of blocks along the input dimension.
///
/// The bytes are owned or borrowed from a shared buffer (a memory map: see
/// [`WeightBytes::shared`]); nothing here expands the whole matrix to f32 unless asked to
/// ([`QMatrix::dequantize`]).
#[derive(Debug, Clone)]
pub struct QMatrix {
    ty: WeightType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    bytes: WeightBytes,
}

thread_local! {
    /// The calling thread's product buffers, for [`QMatrix::matmul`].
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

impl QMatrix {
    /// Bytes per row for a `rows × cols` matrix of `ty`, checking block alignment and overflow.
    fn layout(ty: WeightType, rows: usize, cols: usize) -> Result<(usize, usize), KernelError> {
        let row_bytes = ty.row_bytes(cols).ok_or(KernelError::PartialBlock {
            ty,
            cols,
            block_len: ty.block_len(),
        })?;
        let total = row_bytes
            .checked_mul(rows)
            .ok_or(KernelError::TooLarge { ty, rows, cols })?;
        Ok((row_bytes, total))
    }

    /// A matrix over stored bytes (owned or shared), checking their length against the shape.
    pub fn from_bytes(
        ty: WeightType,
        rows: usize,
        cols: usize,
        bytes: WeightBytes,
    ) -> Result<Self, KernelError> {
        let (row_bytes, total) = Self::layout(ty, rows, cols)?;
        if bytes.len() != total {
            return Err(KernelError::ByteLength {
                ty,
                rows,
                cols,
                expected: total,
                got: bytes.len(),
            });
        }
        Ok(Self {
            ty,
            rows,
            cols,
            row_bytes,
            bytes,
        })
    }

    /// Quantises a row-major `rows × cols` f32 matrix to `ty` (byte-identical to gguf-py's
    /// quantisers; the K-quants cannot be written).
    pub fn from_f32(
        ty: WeightType,
        rows: usize,
        cols: usize,
        data: &[f32],
    ) -> Result<Self, KernelError> {
        let (_, total) = Self::layout(ty, rows, cols)?;
        check_len("weights", rows.saturating_mul(cols), data.len())?;
        let mut bytes = vec![0u8; total];
        format::quantize(ty, data, &mut bytes)?;
        Self::from_bytes(ty, rows, cols, WeightBytes::from_vec(bytes))
    }

    /// Storage type.
    pub fn ty(&self) -> WeightType {
        self.ty
    }

    /// Number of rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// Bytes of the whole matrix as stored.
    pub fn bytes_len(&self) -> usize {
        self.bytes.len()
    }

    /// The stored bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// The stored bytes, as shared or owned.
    pub fn weight_bytes(&self) -> &WeightBytes {
        &self.bytes
    }

    /// The stored bytes of row `r`.
    pub fn row(&self, r: usize) -> Result<&[u8], KernelError> {
        if r >= self.rows {
            return Err(KernelError::RowOutOfRange {
                row: r,
                rows: self.rows,
            });
        }
        Ok(&self.bytes()[r * self.row_bytes..(r + 1) * self.row_bytes])
    }

    /// The whole matrix as row-major f32 (bit-identical to ggml's / gguf-py's dequantisation).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        dequantize_blocks_at(Level::best(), self.ty, self.bytes(), &mut out);
        out
    }

    /// Rows `rows` as row-major f32 into `out` (`rows.len() · cols` values).
    pub fn dequantize_rows(&self, rows: Range<usize>, out: &mut [f32]) -> Result<(), KernelError> {
        if rows.start > rows.end || rows.end > self.rows {
            return Err(KernelError::RowOutOfRange {
                row: rows.end.max(rows.start),
                rows: self.rows,
            });
        }
        check_len("output", rows.len() * self.cols, out.len())?;
        let b = &self.bytes()[rows.start * self.row_bytes..rows.end * self.row_bytes];
        dequantize_blocks_at(Level::best(), self.ty, b, out);
        Ok(())
    }

    /// Gathers rows `ids` (e.g. token ids from an embedding table) as row-major f32 into `out`
    /// (`ids.len() · cols` values). Only the named rows are read.
    pub fn gather_rows(&self, ids: &[usize], out: &mut [f32]) -> Result<(), KernelError> {
        check_len("output", ids.len() * self.cols, out.len())?;
        if self.cols == 0 {
            return Ok(());
        }
        let level = Level::best();
        for (&id, o) in ids.iter().zip(out.chunks_exact_mut(self.cols)) {
            dequantize_blocks_at(level, self.ty, self.row(id)?, o);
        }
        Ok(())
    }

    /// A new matrix whose row `i` is row `order[i]` of this one, copying the stored rows (e.g.
    /// undoing llama.cpp's permutation of Q/K rows without expanding them to f32). `order`
    /// may repeat or drop rows.
    pub fn select_rows(&self, order: &[usize]) -> Result<QMatrix, KernelError> {
        let mut bytes = Vec::with_capacity(order.len() * self.row_bytes);
        for &r in order {
            bytes.extend_from_slice(self.row(r)?);
        }
        Self::from_bytes(
            self.ty,
            order.len(),
            self.cols,
            WeightBytes::from_vec(bytes),
        )
    }

    /// `y = x · Wᵀ`: `x` is `m × cols` and `y` is `m × rows`, both row-major f32. Threaded
    /// over rayon's current pool, kernel level and path chosen automatically; uses a
    /// thread-local [`Scratch`], so steady-state calls do not allocate.
    pub fn matmul(&self, x: &[f32], m: usize, y: &mut [f32]) -> Result<(), KernelError> {
        SCRATCH.with(|cell| {
            // A nested call on this thread (rayon work-stealing while this one waits) finds the
            // buffers borrowed and uses fresh ones instead of failing.
            match cell.try_borrow_mut() {
                Ok(mut s) => self.matmul_with(x, m, y, &MatmulOptions::default(), &mut s),
                Err(_) => self.matmul_with(x, m, y, &MatmulOptions::default(), &mut Scratch::new()),
            }
        })
    }

    /// [`QMatrix::matmul`] with explicit options and caller-provided scratch buffers.
    pub fn matmul_with(
        &self,
        x: &[f32],
        m: usize,
        y: &mut [f32],
        options: &MatmulOptions,
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        check_len("input", m.saturating_mul(self.cols), x.len())?;
        check_len("output", m.saturating_mul(self.rows), y.len())?;
        let level = match options.level {
            Some(l) => l.check()?,
            None => crate::default_level()?,
        };
        let path = match options.path {
            ProductPath::Auto if m <= DOT_MAX_ROWS => ProductPath::Dot,
            ProductPath::Auto => ProductPath::Int8,
            p => p,
        };
        match path {
            ProductPath::Dot => gemv(self, level, x, m, y, scratch),
            #[cfg(target_arch = "x86_64")]
            ProductPath::Int8 if level == Level::Avx512 && crate::tiles::supports(self.ty) => {
                crate::tiles::gemm_int8(self, x, m, y, &mut scratch.packed)
            }
            _ => gemm_dequant(self, level, x, m, y),
        }
        Ok(())
    }
}

fn check_len(what: &'static str, expected: usize, got: usize) -> Result<(), KernelError> {
    if expected == got {
        Ok(())
    } else {
        Err(KernelError::Length {
            what,
            expected,
            got,
        })
    }
}
