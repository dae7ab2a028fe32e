//! Portable dot products of one weight row with one activation row: the reference the SIMD
//! levels are tested against, and what runs on CPUs without AVX2.
//!
//! The integer parts (sums of quant products, scaled by the sub-block scales) are the same
//! integers on every level; only the order of the f32 operations that combine blocks differs.

use crate::act::{Q8KRow, Q8Row};
use crate::format::float::{bf16_at, f16_at};
use crate::format::kquant::{Q2K, Q3K, Q6K, q3k_scales, q4k_scale_min, q6k_quant, two_bits};
use crate::weight_type::{QK, QK_K};

/// Σ w·x for an f32 row.
pub(crate) fn dot_f32(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(4)
        .zip(x)
        .map(|(b, &x)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * x)
        .sum()
}

/// Σ w·x for an f16 row.
pub(crate) fn dot_f16(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(2)
        .zip(x)
        .map(|(b, &x)| f16_at(b, 0) * x)
        .sum()
}

/// Σ w·x for a bf16 row.
pub(crate) fn dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    w.chunks_exact(2)
        .zip(x)
        .map(|(b, &x)| bf16_at(b, 0) * x)
        .sum()
}

/// Σ over 32 of (unsigned or signed) weight quants times activation quants.
#[inline(always)]
fn isum(w: impl Iterator<Item = i32>, a: &[i8]) -> i32 {
    w.zip(a).map(|(w, &a)| w * i32::from(a)).sum()
}

/// The 32 nibbles of a Q4 block in element order.
#[inline(always)]
fn nibbles(qs: &[u8]) -> impl Iterator<Item = i32> + '_ {
    let lo = qs[..16].iter().map(|&q| i32::from(q & 0x0F));
    let hi = qs[..16].iter().map(|&q| i32::from(q >> 4));
    lo.chain(hi)
}

/// The 32 five-bit quants of a Q5 block in element order.
#[inline(always)]
fn five_bits<'a>(qh: &'a [u8], qs: &'a [u8]) -> impl Iterator<Item = i32> + 'a {
    let h = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    nibbles(qs)
        .enumerate()
        .map(move |(j, q)| q | ((((h >> j) & 1) as i32) << 4))
}

/// Q8_0 weights · Q8 activations.
pub(crate) fn dot_q8_0(w: &[u8], a: Q8Row<'_>) -> f32 {
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(34).enumerate() {
        let q = blk[2..34].iter().map(|&q| i32::from(q as i8));
        let i = isum(q, &a.qs[QK * b..QK * b + QK]);
        sum += f16_at(blk, 0) * a.d[b] * i as f32;
    }
    sum
}

/// Q4_0 weights · Q8 activations: `Σ d·(d_a·Σ q·a − 8·s)`.
pub(crate) fn dot_q4_0(w: &[u8], a: Q8Row<'_>) -> f32 {
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(18).enumerate() {
        let i = isum(nibbles(&blk[2..18]), &a.qs[QK * b..QK * b + QK]);
        sum += f16_at(blk, 0) * (a.d[b] * i as f32 - 8.0 * a.s[b]);
    }
    sum
}

/// Q4_1 weights · Q8 activations: `Σ d·d_a·Σ q·a + m·s`.
pub(crate) fn dot_q4_1(w: &[u8], a: Q8Row<'_>) -> f32 {
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(20).enumerate() {
        let i = isum(nibbles(&blk[4..20]), &a.qs[QK * b..QK * b + QK]);
        sum += f16_at(blk, 0) * a.d[b] * i as f32 + f16_at(blk, 2) * a.s[b];
    }
    sum
}

/// Q5_0 weights · Q8 activations: `Σ d·(d_a·Σ q·a − 16·s)`.
pub(crate) fn dot_q5_0(w: &[u8], a: Q8Row<'_>) -> f32 {
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(22).enumerate() {
        let i = isum(
            five_bits(&blk[2..6], &blk[6..22]),
            &a.qs[QK * b..QK * b + QK],
        );
        sum += f16_at(blk, 0) * (a.d[b] * i as f32 - 16.0 * a.s[b]);
    }
    sum
}

/// Q5_1 weights · Q8 activations: `Σ d·d_a·Σ q·a + m·s`.
pub(crate) fn dot_q5_1(w: &[u8], a: Q8Row<'_>) -> f32 {
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(24).enumerate() {
        let i = isum(
            five_bits(&blk[4..8], &blk[8..24]),
            &a.qs[QK * b..QK * b + QK],
        );
        sum += f16_at(blk, 0) * a.d[b] * i as f32 + f16_at(blk, 2) * a.s[b];
    }
    sum
}

/// Σ over the 16 quants of group `g` of a super-block of `q(i)` times the activations.
#[inline(always)]
fn group_isum(q: impl Fn(usize) -> i32, a: &[i8], g: usize) -> i32 {
    (16 * g..16 * g + 16).map(|i| q(i) * i32::from(a[i])).sum()
}

/// Q2_K weights · Q8K activations.
pub(crate) fn dot_q2_k(w: &[u8], a: Q8KRow<'_>) -> f32 {
    let (o_sc, o_qs, o_d, o_dmin) = Q2K;
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(84).enumerate() {
        let qa = &a.qs[QK_K * b..QK_K * b + QK_K];
        let qs = &blk[o_qs..o_qs + 64];
        let (mut sumi, mut summ) = (0i32, 0i32);
        for g in 0..16 {
            let sc = blk[o_sc + g];
            sumi += i32::from(sc & 0x0F) * group_isum(|i| i32::from(two_bits(qs, i)), qa, g);
            summ += i32::from(sc >> 4) * i32::from(a.bsums[16 * b + g]);
        }
        sum += a.d[b] * (f16_at(blk, o_d) * sumi as f32 - f16_at(blk, o_dmin) * summ as f32);
    }
    sum
}

/// Q3_K weights · Q8K activations (unsigned quants `q + 4h`, offset 4 through the sums).
pub(crate) fn dot_q3_k(w: &[u8], a: Q8KRow<'_>) -> f32 {
    let (o_hm, o_qs, o_sc, o_d) = Q3K;
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(110).enumerate() {
        let qa = &a.qs[QK_K * b..QK_K * b + QK_K];
        let (hm, qs) = (&blk[o_hm..o_hm + 32], &blk[o_qs..o_qs + 64]);
        let scales = q3k_scales(&blk[o_sc..o_sc + 12]);
        let q = |i: usize| i32::from(two_bits(qs, i) | (((hm[i % 32] >> (i / 32)) & 1) << 2));
        let mut sumi = 0i32;
        for (g, &sc) in scales.iter().enumerate() {
            let i = group_isum(q, qa, g) - 4 * i32::from(a.bsums[16 * b + g]);
            sumi += i32::from(sc) * i;
        }
        sum += a.d[b] * f16_at(blk, o_d) * sumi as f32;
    }
    sum
}

/// Q4_K / Q5_K weights · Q8K activations; `qh` is Q5_K's fifth-bit array.
fn dot_q45_k(w: &[u8], a: Q8KRow<'_>, block_bytes: usize, five: bool) -> f32 {
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(block_bytes).enumerate() {
        let qa = &a.qs[QK_K * b..QK_K * b + QK_K];
        let (qh, qs) = if five {
            (&blk[16..48], &blk[48..176])
        } else {
            (&blk[0..0], &blk[16..144])
        };
        let (mut sumi, mut summ) = (0i32, 0i32);
        for j in 0..8 {
            let (sc, m) = q4k_scale_min(j, &blk[4..16]);
            let q = |i: usize| {
                let l = i % 32;
                let low = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0F;
                let high = if five { ((qh[l] >> j) & 1) << 4 } else { 0 };
                i32::from(low | high)
            };
            let i = group_isum(q, qa, 2 * j) + group_isum(q, qa, 2 * j + 1);
            sumi += i32::from(sc) * i;
            let bs = i32::from(a.bsums[16 * b + 2 * j]) + i32::from(a.bsums[16 * b + 2 * j + 1]);
            summ += i32::from(m) * bs;
        }
        sum += a.d[b] * (f16_at(blk, 0) * sumi as f32 - f16_at(blk, 2) * summ as f32);
    }
    sum
}

/// Q4_K weights · Q8K activations.
pub(crate) fn dot_q4_k(w: &[u8], a: Q8KRow<'_>) -> f32 {
    dot_q45_k(w, a, 144, false)
}

/// Q5_K weights · Q8K activations.
pub(crate) fn dot_q5_k(w: &[u8], a: Q8KRow<'_>) -> f32 {
    dot_q45_k(w, a, 176, true)
}

/// Q6_K weights · Q8K activations (unsigned quants, offset 32 through the sums).
pub(crate) fn dot_q6_k(w: &[u8], a: Q8KRow<'_>) -> f32 {
    let (o_ql, o_qh, o_sc, o_d) = Q6K;
    let mut sum = 0.0f32;
    for (b, blk) in w.chunks_exact(210).enumerate() {
        let qa = &a.qs[QK_K * b..QK_K * b + QK_K];
        let (ql, qh) = (&blk[o_ql..o_ql + 128], &blk[o_qh..o_qh + 64]);
        let mut sumi = 0i32;
        for g in 0..16 {
            let i = group_isum(|i| i32::from(q6k_quant(ql, qh, i)), qa, g)
                - 32 * i32::from(a.bsums[16 * b + g]);
            sumi += i32::from(blk[o_sc + g] as i8) * i;
        }
        sum += a.d[b] * f16_at(blk, o_d) * sumi as f32;
    }
    sum
}
