//! The exact prompt path: `y = x · Wᵀ` for many activation rows, as panels of W dequantised to f32
//! and multiplied by the `gemm` crate's register-blocked f32 micro-kernel.
//!
//! Compute-bound: every weight is used `m` times, so dequantising a panel once costs little
//! next to the `2·m` flops per weight, and the product is the same f32 GEMM an f32 checkpoint
//! would run — exact with respect to dequantise-then-multiply up to the order of summation.
//! The panels (a few rows of W, sized to stay in the L2 cache) are split over rayon's threads;
//! each thread dequantises its own panels into a buffer it keeps between calls.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::format::dequantize_blocks_at;
use crate::level::Level;
use crate::view::{MatrixRef, OutPtr};
use crate::weight_type::WeightType;

/// Bytes of f32 a dequantised panel may take (half of a 1 MiB L2, leaving room for `x`'s
/// packed tiles).
const PANEL_BYTES: usize = 256 * 1024;
/// Panel rows are a multiple of this (the micro-kernel's register tile height).
const PANEL_ALIGN: usize = 16;

thread_local! {
    /// This thread's dequantised panel, kept between calls.
    static PANEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// How many weight rows one panel holds: as many as fit [`PANEL_BYTES`], split so that every
/// thread gets the same number of panels.
fn panel_rows(rows: usize, cols: usize, threads: usize) -> usize {
    let fit = (PANEL_BYTES / (4 * cols.max(1))).max(PANEL_ALIGN);
    let per_thread = rows.div_ceil(threads.max(1));
    let panels_per_thread = per_thread.div_ceil(fit).max(1);
    per_thread
        .div_ceil(panels_per_thread)
        .next_multiple_of(PANEL_ALIGN)
        .min(rows.next_multiple_of(PANEL_ALIGN))
}

/// `y[i, r] = Σ_k x[i, k] · W[r, k]` (`x`: `m × cols`, `y`: `m × rows`, row-major); sizes
/// are checked by the caller.
pub(crate) fn gemm_dequant(w: MatrixRef<'_>, level: Level, x: &[f32], m: usize, y: &mut [f32]) {
    let (rows, cols, row_bytes) = (w.rows, w.cols, w.row_bytes);
    if rows == 0 || m == 0 {
        return;
    }
    if cols == 0 {
        y.fill(0.0);
        return;
    }
    let threads = rayon::current_num_threads();
    let bytes = w.bytes;
    let out = OutPtr::new(y);
    if w.ty == WeightType::F32 && bytes.as_ptr().align_offset(4) == 0 {
        // Stored f32, suitably aligned: nothing to dequantise, so one call, threaded by gemm
        // itself (panels measured 25% slower here: each call packs `x` again).
        let par = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: `x` holds m × cols f32, the weights rows × cols f32 (aligned, checked above),
        // `y` m × rows; gemm reads and writes only inside those extents.
        unsafe {
            f32_gemm(
                m,
                rows,
                cols,
                x.as_ptr(),
                bytes.as_ptr() as *const f32,
                out.get(),
                rows,
                par,
            )
        };
        return;
    }
    let panel = panel_rows(rows, cols, threads);
    (0..rows.div_ceil(panel)).into_par_iter().for_each(|p| {
        let r0 = p * panel;
        let n = panel.min(rows - r0);
        let wb = &bytes[r0 * row_bytes..(r0 + n) * row_bytes];
        PANEL.with(|cell| {
            // A nested call on this thread (rayon work-stealing inside a product) finds the
            // buffer borrowed and uses a fresh one instead of failing.
            let mut local = Vec::new();
            let mut guard = cell.try_borrow_mut();
            let buf = match guard.as_mut() {
                Ok(b) => &mut **b,
                Err(_) => &mut local,
            };
            buf.resize(n * cols, 0.0);
            dequantize_blocks_at(level, w.ty, wb, &mut buf[..n * cols]);
            // SAFETY: `x` holds m × cols f32, the panel n × cols; `out + r0` addresses columns
            // r0..r0+n of the m × rows output (row stride `rows`), which no other panel writes.
            unsafe {
                f32_gemm(
                    m,
                    n,
                    cols,
                    x.as_ptr(),
                    buf.as_ptr(),
                    out.get().add(r0),
                    rows,
                    gemm::Parallelism::None,
                )
            };
        });
    });
}

/// `out[i·out_stride + j] = Σ_k x[i·k_len + k] · w[j·k_len + k]` for `i < m`, `j < n`: the
/// `gemm` crate's f32 kernel on `x · wᵀ` (both row-major with rows of `k_len`).
///
/// # Safety
///
/// `x` must point at `m × k_len` f32, `w` at `n × k_len`, `out` at an `m × out_stride` matrix
/// (`n ≤ out_stride`) that nothing else accesses during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn f32_gemm(
    m: usize,
    n: usize,
    k_len: usize,
    x: *const f32,
    w: *const f32,
    out: *mut f32,
    out_stride: usize,
    par: gemm::Parallelism,
) {
    // SAFETY: per the contract; gemm reads and writes only inside the given extents.
    unsafe {
        gemm::gemm(
            m,
            n,
            k_len,
            out,
            1,
            out_stride as isize,
            false,
            x,
            1,
            k_len as isize,
            w,
            k_len as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_cover_rows_evenly() {
        // SmolLM2's FFN on two threads: 1536 rows of 576 -> panels of at most 113 rows fit
        // 256 KiB; 768 rows per thread -> 7 panels of 110, rounded to 112.
        let p = panel_rows(1536, 576, 2);
        assert_eq!(p % PANEL_ALIGN, 0);
        assert!(p * 576 * 4 <= PANEL_BYTES + PANEL_ALIGN * 576 * 4);
        assert_eq!(panel_rows(10, 64, 2), 16);
        assert_eq!(panel_rows(1, 1, 1), 16);
        assert_eq!(panel_rows(49152, 576, 2) % PANEL_ALIGN, 0);
    }
}
