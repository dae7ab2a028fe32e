//! The int8 prompt path (AVX-512 VNNI): `y = x · Wᵀ` for many activation rows with integer
//! dot products, tile by tile.
//!
//! Compute-bound, so it works where the CPU does the most multiply-adds per cycle: `vpdpbusd`
//! on 512-bit registers does 64 u8·i8 multiply-adds per instruction (measured on the Zen 4 of
//! docs/kernels.md: ≈ 5× the f32 FMA rate). The activations are quantised once per call to 8
//! bits (a scale per 32 values, like the decode path's) and interleaved so that one register
//! holds 4 consecutive values of 16 activation rows; a tile of [`NR`] weight rows is unpacked
//! to signed 8-bit quants with per-group scales ([`unpack`], [`layout`]), and the micro-kernel broadcasts
//! 4 weight quants at a time against the activation registers, keeping `NR × MV` integer and
//! float accumulators in registers. After each scale group the integer sums are converted and
//! scaled into the float accumulators:
//!
//! ```text
//! y[i, r] = Σ_g d_x[i, g] · scale[r, g] · Σ_{k∈g} q_w[r, k] · q_x[i, k]  +  bias[r, g] · s_x[i, g]
//! ```
//!
//! with `s_x` the sum of the (dequantised) activations of the group. Approximate like the
//! decode path (8-bit activations); the exact alternative is [`crate::ProductPath::Dequant`].

mod layout;
pub(crate) mod unpack;
#[cfg(target_arch = "x86_64")]
mod vnni;

pub(crate) use layout::PackedActs;

use rayon::prelude::*;

use crate::view::{MatrixRef, OutPtr};
use crate::weight_type::WeightType;
use layout::{LANES, MV, NR, Tile};
use unpack::{group_len, has_bias};

/// Chunks of weight rows per thread.
const CHUNKS_PER_THREAD: usize = 4;

/// Whether the int8 tiled path can compute products of `ty` (quantised types).
pub(crate) fn supports(ty: WeightType) -> bool {
    group_len(ty).is_some()
}

/// `y[i, r] = Σ_k x[i, k] · W[r, k]` (`x`: `m × cols`, `y`: `m × rows`) with the AVX-512 VNNI
/// kernels. The caller has checked the sizes, that the CPU has the features and that
/// [`supports`] the type.
#[cfg(target_arch = "x86_64")]
pub(crate) fn gemm_int8(
    w: MatrixRef<'_>,
    x: &[f32],
    m: usize,
    y: &mut [f32],
    bufs: &mut PackedActs,
) {
    let (rows, k, row_bytes, ty) = (w.rows, w.cols, w.row_bytes, w.ty);
    let Some(group) = group_len(ty) else { return };
    if rows == 0 || m == 0 {
        return;
    }
    // SAFETY: the caller checked the CPU features.
    unsafe { vnni::pack(&mut bufs.acts, x, m, k) };
    let acts = &bufs.acts;
    let bias = has_bias(ty);
    let out = OutPtr::new(y);
    let tiles = rows.div_ceil(NR);
    let chunk = tiles
        .div_ceil(rayon::current_num_threads() * CHUNKS_PER_THREAD)
        .max(1);
    let bytes = w.bytes;
    let mp = acts.groups * LANES;
    (0..tiles.div_ceil(chunk)).into_par_iter().for_each(|c| {
        let mut tile = Tile::default();
        let mut res = vec![0.0f32; NR * mp];
        for t in c * chunk..((c + 1) * chunk).min(tiles) {
            let r0 = t * NR;
            let n = NR.min(rows - r0);
            let src = &bytes[r0 * row_bytes..(r0 + n) * row_bytes];
            // SAFETY: the caller checked the CPU features.
            unsafe { vnni::unpack(&mut tile, ty, src, row_bytes, n, k, group) };
            let mut lg = 0;
            while lg < acts.groups {
                let mv = MV.min(acts.groups - lg);
                // SAFETY: the caller checked the CPU features; the tile holds NR rows of k
                // quants and their scales, the activations `groups` lane groups, `res` NR rows
                // of mp values.
                unsafe { vnni::tile(&tile, acts, lg, mv, group, bias, &mut res, mp) };
                lg += mv;
            }
            // The tile's results are column-major (activation rows contiguous per weight row)
            // and hot in cache: write them to y's columns r0..r0+n here, on this thread.
            for i in 0..m {
                for r in 0..n {
                    // SAFETY: i < m, r0 + r < rows; this chunk alone writes these columns.
                    unsafe { *out.get().add(i * rows + r0 + r) = res[r * mp + i] };
                }
            }
        }
    });
}
