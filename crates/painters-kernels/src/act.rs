//! Activations quantised to 8 bits for the integer kernels.
//!
//! Like llama.cpp, the quantised products quantise each activation row once to 8-bit integers
//! and then take integer dot products with the weight blocks. The layouts here are this
//! crate's own (not ggml's `block_q8_*`): quants of a row are contiguous, so a kernel loads the
//! 32 activations of a block with one instruction, and the scales are f32 (ggml stores f16),
//! so the activation error is only the 8-bit rounding.
//!
//! * [`ActKind::Q8`] (for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1): a scale per 32 values
//!   `d = max|x| / 127`, quants `q = round(x / d)` in −127..=127, and `s = d·Σq` per block (the
//!   term the offsets and minimums of the weight formats multiply).
//! * [`ActKind::Q8K`] (for the K-quants): one scale per 256 values and the sum of each 16
//!   quants (`bsums`), which the K-quants' minimums and offsets multiply.

use crate::Level;
use crate::weight_type::{QK, QK_K};

/// `x` rounded to the nearest integer, ties away from zero — exactly `f32::round`, written so
/// that it vectorises (`f32::round` is a `roundf` call per value on x86-64): adding the largest
/// f32 below one half, with `x`'s sign, and truncating rounds correctly for every f32.
#[inline(always)]
pub(crate) fn round_half_away(x: f32) -> f32 {
    (x + 0.499_999_97f32.copysign(x)).trunc()
}

/// Which 8-bit activation layout a weight type's integer kernel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActKind {
    /// A scale per 32 values, with `s = d·Σq` per block.
    Q8,
    /// A scale per 256 values, with sums per 16 quants.
    Q8K,
}

impl ActKind {
    /// Values per scale.
    fn block(self) -> usize {
        match self {
            ActKind::Q8 => QK,
            ActKind::Q8K => QK_K,
        }
    }
}

/// Quantised activation rows (reused between calls: buffers only grow).
#[derive(Debug, Default)]
pub(crate) struct QuantizedActs {
    pub(crate) qs: Vec<i8>,
    pub(crate) d: Vec<f32>,
    /// `d·Σq` per 32-block (Q8).
    pub(crate) s: Vec<f32>,
    /// Σq per 16 quants (Q8K).
    pub(crate) bsums: Vec<i16>,
    cols: usize,
    kind: Option<ActKind>,
}

/// One quantised row with a scale per 32 values.
#[derive(Clone, Copy)]
pub(crate) struct Q8Row<'a> {
    pub(crate) qs: &'a [i8],
    pub(crate) d: &'a [f32],
    pub(crate) s: &'a [f32],
}

/// One quantised row with a scale per 256 values.
#[derive(Clone, Copy)]
pub(crate) struct Q8KRow<'a> {
    pub(crate) qs: &'a [i8],
    pub(crate) d: &'a [f32],
    pub(crate) bsums: &'a [i16],
}

/// Quantises a run of values (a multiple of 32) with one scale: `d = max|x| / 127`,
/// `q = round(x · (1/d))` (ties away from zero), returning `d`. Every level gives the same
/// quants; the caller has checked the CPU supports `level`.
pub(crate) fn quantize_run(level: Level, x: &[f32], q: &mut [i8]) -> f32 {
    match level {
        Level::Scalar => quantize_run_generic(x, q),
        // SAFETY: the caller checked that the CPU supports `level`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 | Level::Avx512 => unsafe { quantize_run_avx2(x, q) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => quantize_run_generic(x, q),
    }
}

fn quantize_run_generic(x: &[f32], q: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d == 0.0 { 0.0 } else { 1.0 / d };
    for (q, &v) in q.iter_mut().zip(x) {
        // |v·id| <= 127 up to rounding; the float-to-int cast saturates anyway.
        *q = round_half_away(v * id) as i8;
    }
    d
}

/// [`quantize_run_generic`] with AVX2: the compiler cannot vectorise the NaN-aware `max`
/// chain and the saturating casts (≈ 2 ns per value), this does 32 values in ≈ 20 instructions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_run_avx2(x: &[f32], q: &mut [i8]) -> f32 {
    use std::arch::x86_64::*;
    debug_assert!(x.len().is_multiple_of(32) && q.len() >= x.len());
    let (px, pq) = (x.as_ptr(), q.as_mut_ptr());
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_setzero_ps();
    for i in (0..x.len()).step_by(8) {
        // SAFETY: i + 8 <= x.len().
        m = _mm256_max_ps(
            m,
            _mm256_andnot_ps(sign, unsafe { _mm256_loadu_ps(px.add(i)) }),
        );
    }
    let m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
    let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    let amax = _mm_cvtss_f32(_mm_max_ss(m2, _mm_movehdup_ps(m2)));
    let d = amax / 127.0;
    let id = _mm256_set1_ps(if d == 0.0 { 0.0 } else { 1.0 / d });
    let half = _mm256_set1_ps(0.499_999_97);
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for i in (0..x.len()).step_by(32) {
        let r = |j: usize| {
            // SAFETY: i + 32 <= x.len().
            let t = _mm256_mul_ps(unsafe { _mm256_loadu_ps(px.add(i + 8 * j)) }, id);
            // round half away from zero: add ±(largest f32 below ½), truncate
            _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_or_ps(_mm256_and_ps(t, sign), half)))
        };
        let lo = _mm256_packs_epi32(r(0), r(1));
        let hi = _mm256_packs_epi32(r(2), r(3));
        let packed = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(lo, hi), order);
        // SAFETY: i + 32 <= q.len().
        unsafe { _mm256_storeu_si256(pq.add(i) as *mut __m256i, packed) };
    }
    d
}

impl QuantizedActs {
    /// Quantises `m` rows of `cols` values (`x.len() == m * cols`, `cols` a multiple of the
    /// kind's block) into this buffer, with the instructions of `level` (same results on every
    /// level; the caller has checked the CPU supports it).
    pub(crate) fn quantize(
        &mut self,
        level: Level,
        kind: ActKind,
        x: &[f32],
        m: usize,
        cols: usize,
    ) {
        let block = kind.block();
        debug_assert!(cols.is_multiple_of(block) && x.len() == m * cols);
        let nb = m * cols / block;
        self.qs.resize(m * cols, 0);
        self.d.resize(nb, 0.0);
        match kind {
            ActKind::Q8 => self.s.resize(nb, 0.0),
            ActKind::Q8K => self.bsums.resize(m * cols / 16, 0),
        }
        for (b, (x, q)) in x
            .chunks_exact(block)
            .zip(self.qs.chunks_exact_mut(block))
            .enumerate()
        {
            let d = quantize_run(level, x, q);
            self.d[b] = d;
            match kind {
                ActKind::Q8 => {
                    let sum: i32 = q.iter().map(|&q| i32::from(q)).sum();
                    self.s[b] = d * sum as f32;
                }
                ActKind::Q8K => {
                    for (g, q16) in q.chunks_exact(16).enumerate() {
                        // |sum| <= 16 * 127, well inside i16.
                        self.bsums[b * (QK_K / 16) + g] = q16.iter().map(|&q| i16::from(q)).sum();
                    }
                }
            }
        }
        self.cols = cols;
        self.kind = Some(kind);
    }

    /// Row `i` of a Q8 quantisation.
    pub(crate) fn q8_row(&self, i: usize) -> Q8Row<'_> {
        debug_assert_eq!(self.kind, Some(ActKind::Q8));
        let nb = self.cols / QK;
        Q8Row {
            qs: &self.qs[i * self.cols..(i + 1) * self.cols],
            d: &self.d[i * nb..(i + 1) * nb],
            s: &self.s[i * nb..(i + 1) * nb],
        }
    }

    /// Row `i` of a Q8K quantisation.
    pub(crate) fn q8k_row(&self, i: usize) -> Q8KRow<'_> {
        debug_assert_eq!(self.kind, Some(ActKind::Q8K));
        let nb = self.cols / QK_K;
        Q8KRow {
            qs: &self.qs[i * self.cols..(i + 1) * self.cols],
            d: &self.d[i * nb..(i + 1) * nb],
            bsums: &self.bsums[i * self.cols / 16..(i + 1) * self.cols / 16],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_quantises_alike() {
        let mut x: Vec<f32> = (0..512)
            .map(|i| ((i * 7919) % 1013) as f32 / 97.0 - 5.0)
            .collect();
        // with max 127 the scale is 1 and these are exact ties
        x[..4].copy_from_slice(&[127.0, 2.5, -3.5, 0.5]);
        x[100..132].fill(0.0);
        x[200] = -40.0;
        for n in [32, 256] {
            for run in x.chunks_exact(n) {
                let mut want = vec![0i8; n];
                let d = quantize_run_generic(run, &mut want);
                for level in Level::supported() {
                    let mut got = vec![0i8; n];
                    assert_eq!(quantize_run(level, run, &mut got).to_bits(), d.to_bits());
                    assert_eq!(got, want, "{level}");
                }
            }
        }
    }

    #[test]
    fn round_half_away_is_f32_round() {
        // every f32 within 64 ulps of each half-integer and integer in [-130, 130], plus zeros
        for k in -260i32..=260 {
            let c = k as f32 / 2.0;
            let bits = c.to_bits();
            for d in -64i32..=64 {
                let x = f32::from_bits(bits.wrapping_add_signed(d));
                if x.is_finite() {
                    assert_eq!(round_half_away(x).to_bits(), x.round().to_bits(), "{x:e}");
                }
            }
        }
        for x in [
            0.0f32,
            -0.0,
            0.499_999_97,
            -0.499_999_97,
            0.5,
            -0.5,
            1e-30,
            8388609.0,
        ] {
            assert_eq!(round_half_away(x).to_bits(), x.round().to_bits(), "{x:e}");
        }
    }
}
