//! ggml's 32-element block formats: Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1.
//!
//! Dequantisation follows ggml's `dequantize_row_*` (and gguf-py's numpy port) operation for
//! operation in f32, so it is bit-identical to both. Quantisation follows gguf-py's
//! `quants.py` (`quantize_blocks`), which for these types reproduces ggml's reference C
//! quantisers: same scale choice, same rounding, so the bytes are identical.
//!
//! # Layouts (bytes)
//!
//! ```text
//! Q8_0: d f16 | 32 × i8                                  x = d·q
//! Q4_0: d f16 | 16 bytes of nibbles                      x = d·(q − 8)
//! Q4_1: d f16 | m f16 | 16 bytes of nibbles              x = d·q + m
//! Q5_0: d f16 | qh u32 | 16 bytes of nibbles             x = d·(q − 16)
//! Q5_1: d f16 | m f16 | qh u32 | 16 bytes of nibbles     x = d·q + m
//! ```
//!
//! Byte `j` of the nibbles holds element `j` in its low and element `j + 16` in its high half;
//! bit `j` of `qh` is bit 4 of element `j`.

use super::float::{f16_at, f16_bits};
use crate::weight_type::QK;

/// Q8_0 block → 32 values.
#[inline(always)]
pub(crate) fn dequantize_q8_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (y, &q) in y[..QK].iter_mut().zip(&b[2..2 + QK]) {
        *y = f32::from(q as i8) * d;
    }
}

/// Q4_0 block → 32 values.
#[inline(always)]
pub(crate) fn dequantize_q4_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let (lo, hi) = y[..QK].split_at_mut(QK / 2);
    for ((lo, hi), &q) in lo.iter_mut().zip(hi).zip(&b[2..18]) {
        *lo = f32::from(i16::from(q & 0x0F) - 8) * d;
        *hi = f32::from(i16::from(q >> 4) - 8) * d;
    }
}

/// Q4_1 block → 32 values.
#[inline(always)]
pub(crate) fn dequantize_q4_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let (lo, hi) = y[..QK].split_at_mut(QK / 2);
    for ((lo, hi), &q) in lo.iter_mut().zip(hi).zip(&b[4..20]) {
        *lo = f32::from(q & 0x0F) * d + m;
        *hi = f32::from(q >> 4) * d + m;
    }
}

/// The 5-bit quants of a Q5_0/Q5_1 block from its `qh` word and 16 nibble bytes.
#[inline(always)]
fn q5_quants(qh: u32, qs: &[u8]) -> [u8; QK] {
    let mut q = [0u8; QK];
    for j in 0..QK / 2 {
        let h0 = ((qh >> j) & 1) as u8;
        let h1 = ((qh >> (j + 16)) & 1) as u8;
        q[j] = (qs[j] & 0x0F) | (h0 << 4);
        q[j + 16] = (qs[j] >> 4) | (h1 << 4);
    }
    q
}

/// Q5_0 block → 32 values.
#[inline(always)]
pub(crate) fn dequantize_q5_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let q = q5_quants(qh, &b[6..22]);
    for (y, &q) in y[..QK].iter_mut().zip(&q) {
        *y = f32::from(i16::from(q) - 16) * d;
    }
}

/// Q5_1 block → 32 values.
#[inline(always)]
pub(crate) fn dequantize_q5_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let q = q5_quants(qh, &b[8..24]);
    for (y, &q) in y[..QK].iter_mut().zip(&q) {
        *y = f32::from(q) * d + m;
    }
}

/// `1 / d`, or 0 for a zero scale (an all-zero block), as the reference quantisers do.
#[inline(always)]
fn inverse(d: f32) -> f32 {
    if d == 0.0 { 0.0 } else { 1.0 / d }
}

/// The element of largest magnitude, with its sign (the first one on ties, like numpy's
/// `argmax`).
#[inline(always)]
fn signed_absmax(x: &[f32]) -> f32 {
    let mut best = 0.0f32;
    let mut best_abs = -1.0f32;
    for &v in x {
        if v.abs() > best_abs {
            best_abs = v.abs();
            best = v;
        }
    }
    best
}

/// Smallest and largest element.
#[inline(always)]
fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Packs 32 quants of at most 4 bits into 16 bytes (element `j` low, `j + 16` high).
#[inline(always)]
fn pack_nibbles(q: &[u8; QK], out: &mut [u8]) {
    for j in 0..QK / 2 {
        out[j] = (q[j] & 0x0F) | (q[j + 16] << 4);
    }
}

/// Bit 4 of each of 32 quants, as the `qh` word.
#[inline(always)]
fn pack_high_bits(q: &[u8; QK]) -> [u8; 4] {
    let mut qh = 0u32;
    for (j, &q) in q.iter().enumerate() {
        qh |= u32::from(q >> 4) << j;
    }
    qh.to_le_bytes()
}

/// 32 values → Q8_0 block: `d = max|x| / 127`, `q = round(x / d)` (half away from zero).
pub(crate) fn quantize_q8_0(x: &[f32], out: &mut [u8]) {
    let amax = x.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    out[..2].copy_from_slice(&f16_bits(d));
    for (o, &v) in out[2..2 + QK].iter_mut().zip(x) {
        *o = ((v * id).round() as i8) as u8;
    }
}

/// 32 values → Q4_0 block: `d = x_max / −8` for the element of largest magnitude,
/// `q = trunc(x / d + 8.5)` clamped to 0..=15.
pub(crate) fn quantize_q4_0(x: &[f32], out: &mut [u8]) {
    let d = signed_absmax(x) / -8.0;
    let id = inverse(d);
    let mut q = [0u8; QK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = ((v * id + 8.5).trunc() as u8).min(15);
    }
    out[..2].copy_from_slice(&f16_bits(d));
    pack_nibbles(&q, &mut out[2..18]);
}

/// 32 values → Q4_1 block: `d = (max − min) / 15`, `m = min`, `q = trunc((x − m) / d + 0.5)`
/// clamped to 0..=15.
pub(crate) fn quantize_q4_1(x: &[f32], out: &mut [u8]) {
    let (min, max) = min_max(&x[..QK]);
    let d = (max - min) / 15.0;
    let id = inverse(d);
    let mut q = [0u8; QK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = (((v - min) * id + 0.5).trunc() as u8).min(15);
    }
    out[..2].copy_from_slice(&f16_bits(d));
    out[2..4].copy_from_slice(&f16_bits(min));
    pack_nibbles(&q, &mut out[4..20]);
}

/// 32 values → Q5_0 block: `d = x_max / −16`, `q = trunc(x / d + 16.5)` clamped to 0..=31.
pub(crate) fn quantize_q5_0(x: &[f32], out: &mut [u8]) {
    let d = signed_absmax(x) / -16.0;
    let id = inverse(d);
    let mut q = [0u8; QK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = ((v * id + 16.5).trunc() as u8).min(31);
    }
    out[..2].copy_from_slice(&f16_bits(d));
    out[2..6].copy_from_slice(&pack_high_bits(&q));
    pack_nibbles(&q, &mut out[6..22]);
}

/// 32 values → Q5_1 block: `d = (max − min) / 31`, `m = min`, `q = trunc((x − m) / d + 0.5)`
/// clamped to 0..=31.
pub(crate) fn quantize_q5_1(x: &[f32], out: &mut [u8]) {
    let (min, max) = min_max(&x[..QK]);
    let d = (max - min) / 31.0;
    let id = inverse(d);
    let mut q = [0u8; QK];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = (((v - min) * id + 0.5).trunc() as u8).min(31);
    }
    out[..2].copy_from_slice(&f16_bits(d));
    out[2..4].copy_from_slice(&f16_bits(min));
    out[4..8].copy_from_slice(&pack_high_bits(&q));
    pack_nibbles(&q, &mut out[8..24]);
}
