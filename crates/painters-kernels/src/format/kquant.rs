//! ggml's K-quants: super-blocks of 256 elements with per-sub-block scales (Q2_K … Q6_K).
//!
//! Dequantisation follows ggml's `dequantize_row_q*_K` (and gguf-py's numpy port) operation for
//! operation in f32 — e.g. Q6_K is `(d·scale)·q`, not `d·(scale·q)` — so results are
//! bit-identical to both. These types are only read here; there is no quantiser.
//!
//! # Layouts (bytes, in order)
//!
//! ```text
//! Q2_K (84):  scales[16] (low nibble scale, high nibble min) | qs[64] | d f16 | dmin f16
//! Q3_K (110): hmask[32] | qs[64] | scales[12] (16 × 6 bits) | d f16
//! Q4_K (144): d f16 | dmin f16 | scales[12] (8 × 6-bit scale, 8 × 6-bit min) | qs[128]
//! Q5_K (176): d f16 | dmin f16 | scales[12] | qh[32] | qs[128]
//! Q6_K (210): ql[128] | qh[64] | scales[16] (i8) | d f16
//! ```
//!
//! Where each element's bits live is documented on the functions; [`Q2K`] and its siblings give
//! the offsets the kernels share.

use super::float::f16_at;
use crate::weight_type::QK_K;

/// Byte offsets inside a Q2_K block: scales, qs, d, dmin.
pub(crate) const Q2K: (usize, usize, usize, usize) = (0, 16, 80, 82);
/// Byte offsets inside a Q3_K block: hmask, qs, scales, d.
pub(crate) const Q3K: (usize, usize, usize, usize) = (0, 32, 96, 108);
/// Byte offsets inside a Q4_K / Q5_K block: d, dmin, scales; Q4_K's qs start at 16, Q5_K's qh
/// at 16 and qs at 48.
pub(crate) const Q45K_SCALES: usize = 4;
/// Byte offsets inside a Q6_K block: ql, qh, scales, d.
pub(crate) const Q6K: (usize, usize, usize, usize) = (0, 128, 192, 208);

/// The 2-bit field of element `i` (0..256) in a Q2_K/Q3_K `qs` array: element
/// `128n + 32j + l` is bits `2j..2j+2` of byte `32n + l`.
#[inline(always)]
pub(crate) fn two_bits(qs: &[u8], i: usize) -> u8 {
    let (n, j, l) = (i / 128, (i % 128) / 32, i % 32);
    (qs[32 * n + l] >> (2 * j)) & 3
}

/// Q2_K block → 256 values: element `i` is `(d·(sc & 15))·q − dmin·(sc >> 4)` with
/// `sc = scales[i / 16]` and `q` its 2-bit field.
#[inline(always)]
pub(crate) fn dequantize_q2_k(b: &[u8], y: &mut [f32]) {
    let (o_sc, o_qs, o_d, o_dmin) = Q2K;
    let d = f16_at(b, o_d);
    let dmin = f16_at(b, o_dmin);
    let qs = &b[o_qs..o_qs + 64];
    for (g, y) in y[..QK_K].chunks_exact_mut(16).enumerate() {
        let sc = b[o_sc + g];
        let dl = d * f32::from(sc & 0x0F);
        let ml = dmin * f32::from(sc >> 4);
        for (k, y) in y.iter_mut().enumerate() {
            *y = dl * f32::from(two_bits(qs, 16 * g + k)) - ml;
        }
    }
}

/// The sixteen 6-bit scales of a Q3_K block, minus 32: scale `i` takes its low 4 bits from
/// byte `i % 8` (low nibble for `i < 8`, high nibble after) and its top 2 bits from byte
/// `8 + i % 4`, bits `2·(i / 4)`.
#[inline(always)]
pub(crate) fn q3k_scales(s: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let low = (s[i % 8] >> (4 * (i / 8))) & 0x0F;
        let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        *o = ((low | (high << 4)) as i8) - 32;
    }
    out
}

/// Q3_K block → 256 values: element `i = 128n + 32j + l` is `(d·scale)·(q − 4·(1 − h))` with
/// `q` its 2-bit field, `h` bit `4n + j` of `hmask[l]`, scale `i / 16`.
#[inline(always)]
pub(crate) fn dequantize_q3_k(b: &[u8], y: &mut [f32]) {
    let (o_hm, o_qs, o_sc, o_d) = Q3K;
    let d = f16_at(b, o_d);
    let scales = q3k_scales(&b[o_sc..o_sc + 12]);
    let hmask = &b[o_hm..o_hm + 32];
    let qs = &b[o_qs..o_qs + 64];
    for (g, y) in y[..QK_K].chunks_exact_mut(16).enumerate() {
        let dl = d * f32::from(scales[g]);
        for (k, y) in y.iter_mut().enumerate() {
            let i = 16 * g + k;
            let h = (hmask[i % 32] >> (i / 32)) & 1;
            let q = two_bits(qs, i) as i8 - if h == 0 { 4 } else { 0 };
            *y = dl * f32::from(q);
        }
    }
}

/// The `j`-th (0..8) 6-bit scale and 6-bit min of a Q4_K / Q5_K super-block from its 12 packed
/// bytes: sub-blocks 0–3 use the low 6 bits of bytes 0–3 (scales) and 4–7 (mins); sub-blocks
/// 4–7 take their low 4 bits from the nibbles of bytes 8–11 and their top 2 bits from the spare
/// top bits of bytes 0–3 (scales) and 4–7 (mins).
#[inline(always)]
pub(crate) fn q4k_scale_min(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// Q4_K block → 256 values. Eight sub-blocks of 32; chunk `c` (64 elements) uses the 32 bytes
/// `qs[32c..32c+32]`, low nibbles for sub-block `2c`, high nibbles for `2c+1`;
/// `x = (d·scale)·q − dmin·min`.
#[inline(always)]
pub(crate) fn dequantize_q4_k(b: &[u8], y: &mut [f32]) {
    dequantize_q45_k(b, None, &b[16..144], y);
}

/// Q5_K block → 256 values: as Q4_K with a fifth bit, bit `j` of `qh[l]` for element `32j + l`.
#[inline(always)]
pub(crate) fn dequantize_q5_k(b: &[u8], y: &mut [f32]) {
    dequantize_q45_k(b, Some(&b[16..48]), &b[48..176], y);
}

#[inline(always)]
fn dequantize_q45_k(b: &[u8], qh: Option<&[u8]>, qs: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[Q45K_SCALES..Q45K_SCALES + 12];
    for (j, y) in y[..QK_K].chunks_exact_mut(32).enumerate() {
        let (sc, m) = q4k_scale_min(j, scales);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        let q = &qs[32 * (j / 2)..32 * (j / 2) + 32];
        let shift = 4 * (j % 2);
        for (l, y) in y.iter_mut().enumerate() {
            let high = qh.map_or(0, |h| ((h[l] >> j) & 1) << 4);
            *y = dl * f32::from(((q[l] >> shift) & 0x0F) | high) - ml;
        }
    }
}

/// The unsigned 6-bit quant (0..64) of element `i` of a Q6_K block. Each 128-element half `h`
/// uses `ql[64h..64h+64]` and `qh[32h..32h+32]`: for `l` in 0..32, elements `l`, `l+32`, `l+64`,
/// `l+96` take the low nibble of `ql[l]`, low nibble of `ql[l+32]`, high nibble of `ql[l]`,
/// high nibble of `ql[l+32]`, and bits 0–1, 2–3, 4–5, 6–7 of `qh[l]` respectively.
#[inline(always)]
pub(crate) fn q6k_quant(ql: &[u8], qh: &[u8], i: usize) -> u8 {
    let (h, r) = (i / 128, i % 128);
    let (k, l) = (r / 32, r % 32);
    let low = (ql[64 * h + l + 32 * (k % 2)] >> (4 * (k / 2))) & 0x0F;
    let high = (qh[32 * h + l] >> (2 * k)) & 3;
    low | (high << 4)
}

/// Q6_K block → 256 values: `x = (d·scale)·(q − 32)` with `scale = scales[i / 16]` (i8).
#[inline(always)]
pub(crate) fn dequantize_q6_k(b: &[u8], y: &mut [f32]) {
    let (o_ql, o_qh, o_sc, o_d) = Q6K;
    let d = f16_at(b, o_d);
    let ql = &b[o_ql..o_ql + 128];
    let qh = &b[o_qh..o_qh + 64];
    for (g, y) in y[..QK_K].chunks_exact_mut(16).enumerate() {
        let dl = d * f32::from(b[o_sc + g] as i8);
        for (k, y) in y.iter_mut().enumerate() {
            let q = i16::from(q6k_quant(ql, qh, 16 * g + k)) - 32;
            *y = dl * f32::from(q);
        }
    }
}
