//! The prompt path: `y = x · Wᵀ` for many activation rows, as panels of W dequantised to f32
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
use crate::{Level, QMatrix, WeightType};

/// Bytes of f32 a dequantised panel may take (half of a 1 MiB L2, leaving room for `x`'s
/// packed tiles).
const PANEL_BYTES: usize = 256 * 1024;
/// Panel rows are a multiple of this (the micro-kernel's register tile height).
const PANEL_ALIGN: usize = 16;

thread_local! {
    /// This thread's dequantised panel, kept between calls.
    static PANEL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A raw output pointer that threads write disjoint columns through.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(*mut f32);
// SAFETY: every thread writes only the columns of its own panels (disjoint ranges),
// and the pointer outlives the parallel loop, which borrows the output mutably throughout.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    pub(crate) fn new(y: &mut [f32]) -> Self {
        Self(y.as_mut_ptr())
    }

    /// The pointer (a method, so closures capture the whole `Sync` wrapper, not the field).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
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
pub(crate) fn gemm_dequant(w: &QMatrix, level: Level, x: &[f32], m: usize, y: &mut [f32]) {
    let (rows, cols, row_bytes) = (w.rows(), w.cols(), w.row_bytes());
    if rows == 0 || m == 0 {
        return;
    }
    if cols == 0 {
        y.fill(0.0);
        return;
    }
    let panel = panel_rows(rows, cols, rayon::current_num_threads());
    let bytes = w.bytes();
    let out = OutPtr::new(y);
    let direct_f32 = w.ty() == WeightType::F32 && bytes.as_ptr().align_offset(4) == 0;
    (0..rows.div_ceil(panel)).into_par_iter().for_each(|p| {
        let r0 = p * panel;
        let n = panel.min(rows - r0);
        let wb = &bytes[r0 * row_bytes..(r0 + n) * row_bytes];
        let run = |rhs: *const f32| {
            // SAFETY: `x` holds m × cols f32; `rhs` points at n × cols f32 (row r of the panel
            // at r·cols); `out + r0` addresses columns r0..r0+n of the m × rows output, which
            // no other panel writes. gemm reads and writes only inside those extents.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    cols,
                    out.get().add(r0),
                    1,
                    rows as isize,
                    false,
                    x.as_ptr(),
                    1,
                    cols as isize,
                    rhs,
                    cols as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        };
        if direct_f32 {
            // Stored f32, suitably aligned: multiply the bytes in place.
            run(wb.as_ptr() as *const f32);
            return;
        }
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
            dequantize_blocks_at(level, w.ty(), wb, &mut buf[..n * cols]);
            run(buf.as_ptr());
        });
    });
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
