//! The float formats: f32, f16 and bf16, element by element (little-endian).
//!
//! Conversions to f32 are exact. Conversions from f32 round to nearest, ties to even, as numpy's
//! `astype(np.float16)` and ggml's `ggml_compute_fp32_to_bf16` (which gguf-py copies) do.

/// IEEE half at byte offset `at`.
#[inline(always)]
pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// bfloat16 at byte offset `at`: the upper 16 bits of an f32.
#[inline(always)]
pub(crate) fn bf16_at(b: &[u8], at: usize) -> f32 {
    f32::from_bits(u32::from(u16::from_le_bytes([b[at], b[at + 1]])) << 16)
}

/// f32 → f16 bits, round to nearest even.
#[inline(always)]
pub(crate) fn f16_bits(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_bits().to_le_bytes()
}

/// f32 → bf16 bits exactly as ggml's `ggml_compute_fp32_to_bf16`: NaNs become quiet NaNs with
/// their sign and top mantissa bits, everything else rounds to nearest even (overflowing to
/// infinity).
#[inline(always)]
pub(crate) fn bf16_bits(x: f32) -> [u8; 2] {
    let n = x.to_bits();
    let h = if n & 0x7fff_ffff > 0x7f80_0000 {
        (n >> 16) | 64
    } else {
        ((u64::from(n) + 0x7fff + u64::from((n >> 16) & 1)) >> 16) as u32
    };
    (h as u16).to_le_bytes()
}

/// Row of f32 values from little-endian bytes (`bytes.len() == 4 * out.len()`).
#[inline(always)]
pub(crate) fn dequantize_f32(bytes: &[u8], out: &mut [f32]) {
    for (y, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// Row of f16 values (`bytes.len() == 2 * out.len()`).
#[inline(always)]
pub(crate) fn dequantize_f16(bytes: &[u8], out: &mut [f32]) {
    for (y, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *y = f16_at(b, 0);
    }
}

/// Row of bf16 values (`bytes.len() == 2 * out.len()`).
#[inline(always)]
pub(crate) fn dequantize_bf16(bytes: &[u8], out: &mut [f32]) {
    for (y, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *y = bf16_at(b, 0);
    }
}

/// Writes `x` as f32 bytes.
pub(crate) fn quantize_f32(x: &[f32], out: &mut [u8]) {
    for (b, v) in out.chunks_exact_mut(4).zip(x) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

/// Writes `x` as f16 bytes.
pub(crate) fn quantize_f16(x: &[f32], out: &mut [u8]) {
    for (b, &v) in out.chunks_exact_mut(2).zip(x) {
        b.copy_from_slice(&f16_bits(v));
    }
}

/// Writes `x` as bf16 bytes.
pub(crate) fn quantize_bf16(x: &[f32], out: &mut [u8]) {
    for (b, &v) in out.chunks_exact_mut(2).zip(x) {
        b.copy_from_slice(&bf16_bits(v));
    }
}
