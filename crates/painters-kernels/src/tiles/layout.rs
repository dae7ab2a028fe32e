//! The int8 path's data: activations quantised and interleaved for the micro-kernel, and a
//! tile of weight rows unpacked to signed 8-bit quants with per-group scales.

use super::unpack::unpack_row;
use crate::WeightType;
use crate::act::quantize_run;
use crate::level::Level;

/// Activation rows per 512-bit register (lanes of i32 / f32).
pub(crate) const LANES: usize = 16;
/// Weight rows per tile.
pub(crate) const NR: usize = 6;
/// Registers of activation rows per tile (`MV · LANES` rows).
pub(crate) const MV: usize = 2;
/// Activations quantised to 8 bits and interleaved for the micro-kernel.
///
/// For lane group `L` (activation rows `16L..16L+16`): `qx[L][k/4][lane][k%4]` holds
/// `q + 128` (u8), `dx[L][k/32][lane]` the scale of each 32 values and `sx[L][k/16][lane]`
/// `d · Σq` of each 16. Rows past `m` are zero (scale 0).
#[derive(Debug, Default)]
pub(crate) struct Acts8 {
    pub(super) qx: Vec<u8>,
    pub(super) dx: Vec<f32>,
    pub(super) sx: Vec<f32>,
    pub(super) k: usize,
    pub(super) groups: usize,
}

impl Acts8 {
    /// Quantises and interleaves `m` rows of `k` values (`k` a multiple of 32). Only called
    /// on CPUs with AVX-512 (the int8 path's level).
    #[inline(always)]
    pub(super) fn pack(&mut self, x: &[f32], m: usize, k: usize) {
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
                let d = quantize_run(Level::Avx512, blk, &mut q);
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
    pub(super) acts: Acts8,
}

/// One tile of weight rows unpacked ([`unpack`]): `NR` rows of `k` signed quants, and per row
/// and group the scale, the bias and `128 · Σq` (which removes the `+128` of the activations).
#[derive(Debug, Default)]
pub(crate) struct Tile {
    pub(super) q: Vec<i8>,
    pub(super) scale: Vec<f32>,
    pub(super) bias: Vec<f32>,
    pub(super) corr: Vec<i32>,
}

impl Tile {
    /// Zeroes the tile for rows of `k` values in groups of `group`.
    #[inline(always)]
    pub(super) fn reset(&mut self, k: usize, group: usize) {
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
    pub(super) fn unpack_row_generic(
        &mut self,
        ty: WeightType,
        r: usize,
        src: &[u8],
        k: usize,
        group: usize,
    ) {
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
