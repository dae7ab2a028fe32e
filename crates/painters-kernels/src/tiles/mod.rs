//! The int8 prompt path (AVX-512 VNNI): `y = x · Wᵀ` for many activation rows with integer
//! dot products, tile by tile.
//!
//! Compute-bound, so it works where the CPU does the most multiply-adds per cycle: `vpdpbusd`
//! on 512-bit registers does 64 u8·i8 multiply-adds per instruction (measured on the Zen 4 of
//! docs/kernels.md: ≈ 5× the f32 FMA rate). The activations are quantised once per call to 8
//! bits (a scale per 32 values, like the decode path's) and interleaved so that one register
//! holds 4 consecutive values of 16 activation rows; a tile of [`NR`] weight rows is unpacked
//! to signed 8-bit quants with per-group scales ([`unpack`]), and the micro-kernel broadcasts
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

pub(crate) mod unpack;

#[cfg(target_arch = "x86_64")]
mod vnni;

use rayon::prelude::*;

use crate::{Level, QMatrix, WeightType};
use unpack::{group_len, has_bias, unpack_row};

/// Activation rows per 512-bit register (lanes of i32 / f32).
pub(crate) const LANES: usize = 16;
/// Weight rows per tile.
pub(crate) const NR: usize = 6;
/// Registers of activation rows per tile (`MV · LANES` rows).
pub(crate) const MV: usize = 2;
/// Chunks of weight rows per thread.
const CHUNKS_PER_THREAD: usize = 4;

/// Activations quantised to 8 bits and interleaved for the micro-kernel.
///
/// For lane group `L` (activation rows `16L..16L+16`): `qx[L][k/4][lane][k%4]` holds
/// `q + 128` (u8), `dx[L][k/32][lane]` the scale of each 32 values and `sx[L][k/16][lane]`
/// `d · Σq` of each 16. Rows past `m` are zero (scale 0).
#[derive(Debug, Default)]
pub(crate) struct Acts8 {
    qx: Vec<u8>,
    dx: Vec<f32>,
    sx: Vec<f32>,
    k: usize,
    groups: usize,
}

impl Acts8 {
    /// Quantises and interleaves `m` rows of `k` values (`k` a multiple of 32). Only called
    /// on CPUs with AVX-512 (the int8 path's level).
    #[inline(always)]
    pub(crate) fn pack(&mut self, x: &[f32], m: usize, k: usize) {
        let groups = m.div_ceil(LANES);
        self.k = k;
        self.groups = groups;
        self.qx.clear();
        self.qx.resize(groups * k * LANES, 128);
        self.dx.clear();
        self.dx.resize(groups * (k / 32) * LANES, 0.0);
        self.sx.clear();
        self.sx.resize(groups * (k / 16) * LANES, 0.0);
        for (i, row) in x.chunks_exact(k).take(m).enumerate() {
            let (g, lane) = (i / LANES, i % LANES);
            let qx = &mut self.qx[g * k * LANES..(g + 1) * k * LANES];
            for (b, blk) in row.chunks_exact(32).enumerate() {
                let mut q = [0i8; 32];
                let d = crate::act::quantize_run(Level::Avx512, blk, &mut q);
                // four values at a time into their lane, as u8 (q + 128)
                for (j4, q4) in q.chunks_exact(4).enumerate() {
                    let at = (8 * b + j4) * 4 * LANES + 4 * lane;
                    for (o, &v) in qx[at..at + 4].iter_mut().zip(q4) {
                        *o = (v as u8) ^ 0x80;
                    }
                }
                self.dx[(g * (k / 32) + b) * LANES + lane] = d;
                for (h, q16) in q.chunks_exact(16).enumerate() {
                    let s: i32 = q16.iter().map(|&v| i32::from(v)).sum();
                    self.sx[(g * (k / 16) + 2 * b + h) * LANES + lane] = d * s as f32;
                }
            }
        }
    }
}

/// The int8 path's buffers (kept in [`crate::Scratch`] between calls).
#[derive(Debug, Default)]
pub(crate) struct PackedActs {
    acts: Acts8,
}

/// One tile of weight rows unpacked ([`unpack`]): `NR` rows of `k` signed quants, and per row
/// and group the scale, the bias and `128 · Σq` (which removes the `+128` of the activations).
#[derive(Debug, Default)]
pub(crate) struct Tile {
    q: Vec<i8>,
    scale: Vec<f32>,
    bias: Vec<f32>,
    corr: Vec<i32>,
}

impl Tile {
    /// Zeroes the tile for rows of `k` values in groups of `group`.
    #[inline(always)]
    fn reset(&mut self, k: usize, group: usize) {
        let ng = k / group;
        self.q.clear();
        self.q.resize(NR * k, 0);
        self.scale.clear();
        self.scale.resize(NR * ng, 0.0);
        self.bias.clear();
        self.bias.resize(NR * ng, 0.0);
        self.corr.clear();
        self.corr.resize(NR * ng, 0);
    }

    /// Tile row `r` from the stored row `src`, with the portable unpacker.
    #[inline(always)]
    fn unpack_row_generic(&mut self, ty: WeightType, r: usize, src: &[u8], k: usize, group: usize) {
        let ng = k / group;
        let q = &mut self.q[r * k..(r + 1) * k];
        unpack_row(
            ty,
            src,
            q,
            &mut self.scale[r * ng..(r + 1) * ng],
            &mut self.bias[r * ng..(r + 1) * ng],
        );
        for (c, q) in self.corr[r * ng..(r + 1) * ng]
            .iter_mut()
            .zip(q.chunks_exact(group))
        {
            *c = 128 * q.iter().map(|&v| i32::from(v)).sum::<i32>();
        }
    }
}

/// Whether the int8 tiled path can compute products of `ty` (quantised types).
pub(crate) fn supports(ty: WeightType) -> bool {
    group_len(ty).is_some()
}

/// `y[i, r] = Σ_k x[i, k] · W[r, k]` (`x`: `m × cols`, `y`: `m × rows`) with the AVX-512 VNNI
/// kernels. The caller has checked the sizes, that the CPU has the features and that
/// [`supports`] the type.
#[cfg(target_arch = "x86_64")]
pub(crate) fn gemm_int8(w: &QMatrix, x: &[f32], m: usize, y: &mut [f32], bufs: &mut PackedActs) {
    let (rows, k, row_bytes, ty) = (w.rows(), w.cols(), w.row_bytes(), w.ty());
    let Some(group) = group_len(ty) else { return };
    if rows == 0 || m == 0 {
        return;
    }
    // SAFETY: the caller checked the CPU features.
    unsafe { vnni::pack(&mut bufs.acts, x, m, k) };
    let acts = &bufs.acts;
    let bias = has_bias(ty);
    let out = crate::gemm::OutPtr::new(y);
    let tiles = rows.div_ceil(NR);
    let chunk = tiles
        .div_ceil(rayon::current_num_threads() * CHUNKS_PER_THREAD)
        .max(1);
    let bytes = w.bytes();
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
