//! The decode path: `y = x · Wᵀ` for a few activation rows, as one dot product per weight row
//! and activation row, the weight rows split over rayon's threads.
//!
//! Memory-bound: each weight byte is read once per call, so the kernels are fused
//! dequantise-and-dot loops over the stored blocks, and quantised weights meet activations
//! quantised once per call to 8 bits (integer dot products, as llama.cpp does). Nothing is
//! allocated per call once the [`Scratch`] buffers have grown to the largest shape seen.

use rayon::prelude::*;

use crate::act::QuantizedActs;
use crate::dot::{Acts, act_kind, rows_kernel};
use crate::{Level, QMatrix};

/// Weight bytes below which a product runs on the calling thread: spreading less over the
/// pool costs more in wake-ups than it saves (measured: `benches/kernels.rs`, docs/kernels.md).
const MIN_PARALLEL_BYTES: usize = 96 * 1024;
/// Chunks per thread, so that a slow thread does not hold the others up.
const CHUNKS_PER_THREAD: usize = 4;

/// Reusable buffers for products (quantised activations, a transposed output). Buffers only
/// grow; after the first call at the largest shape, products allocate nothing.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) acts: QuantizedActs,
    pub(crate) out_t: Vec<f32>,
    pub(crate) packed: crate::tiles::PackedActs,
}

impl Scratch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }
}

/// `y[i, r] = Σ_k x[i, k] · W[r, k]` for `m` rows of `x` (`x.len() == m·cols`,
/// `y.len() == m·rows`); sizes are checked by the caller.
pub(crate) fn gemv(
    w: &QMatrix,
    level: Level,
    x: &[f32],
    m: usize,
    y: &mut [f32],
    scratch: &mut Scratch,
) {
    let (rows, cols, row_bytes) = (w.rows(), w.cols(), w.row_bytes());
    if rows == 0 || m == 0 {
        return;
    }
    let Scratch { acts, out_t, .. } = scratch;
    let acts = match act_kind(w.ty()) {
        None => Acts::F32 { x, cols },
        Some(kind) => {
            acts.quantize(level, kind, x, m, cols);
            Acts::Quant(acts)
        }
    };
    let kernel = rows_kernel(level, w.ty());
    // Row-major by weight row: `out[r·m + i]`. For one activation row that is `y` itself.
    let out: &mut [f32] = if m == 1 {
        &mut *y
    } else {
        out_t.resize(rows * m, 0.0);
        &mut out_t[..]
    };
    let bytes = w.bytes();
    let threads = rayon::current_num_threads();
    if threads <= 1 || bytes.len() < MIN_PARALLEL_BYTES {
        // SAFETY: `level` was checked by the caller, `bytes` holds `rows` whole rows of the
        // kernel's type, the activations were prepared for that type and `out` is rows·m.
        unsafe { kernel(bytes, row_bytes, &acts, m, out) };
    } else {
        let chunk_rows = rows.div_ceil(threads * CHUNKS_PER_THREAD).max(1);
        out.par_chunks_mut(chunk_rows * m)
            .zip(bytes.par_chunks(chunk_rows * row_bytes))
            .for_each(|(o, wb)| {
                // SAFETY: as above, for a run of whole rows and its part of `out`.
                unsafe { kernel(wb, row_bytes, &acts, m, o) }
            });
    }
    if m > 1 {
        for (r, o) in out_t.chunks_exact(m).enumerate() {
            for (i, &v) in o.iter().enumerate() {
                y[i * rows + r] = v;
            }
        }
    }
}
