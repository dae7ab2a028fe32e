//! Weight formats: dequantising stored bytes to f32 and quantising f32 to stored bytes.
//!
//! One file per family: [`float`] (f32, f16, bf16), [`legacy`] (ggml's 32-element blocks) and
//! [`kquant`] (ggml's 256-element super-blocks). This module dispatches on [`WeightType`] and
//! compiles the dequantiser once per [`Level`], so that the compiler vectorises the same
//! arithmetic with the instructions of each level: results are bit-identical on every level
//! (there is no FMA contraction in Rust), only faster.

pub(crate) mod float;
pub(crate) mod kquant;
pub(crate) mod legacy;

use crate::{KernelError, Level, WeightType};

/// Dequantises whole blocks: `bytes.len() / block_bytes` blocks into `out`, which must hold
/// exactly as many values. Sizes are the caller's to check.
#[inline(always)]
fn dequantize_blocks(ty: WeightType, bytes: &[u8], out: &mut [f32]) {
    let (n, nb) = (ty.block_len(), ty.block_bytes());
    let blocks = bytes.chunks_exact(nb).zip(out.chunks_exact_mut(n));
    match ty {
        WeightType::F32 => float::dequantize_f32(bytes, out),
        WeightType::F16 => float::dequantize_f16(bytes, out),
        WeightType::BF16 => float::dequantize_bf16(bytes, out),
        WeightType::Q8_0 => blocks.for_each(|(b, y)| legacy::dequantize_q8_0(b, y)),
        WeightType::Q4_0 => blocks.for_each(|(b, y)| legacy::dequantize_q4_0(b, y)),
        WeightType::Q4_1 => blocks.for_each(|(b, y)| legacy::dequantize_q4_1(b, y)),
        WeightType::Q5_0 => blocks.for_each(|(b, y)| legacy::dequantize_q5_0(b, y)),
        WeightType::Q5_1 => blocks.for_each(|(b, y)| legacy::dequantize_q5_1(b, y)),
        WeightType::Q2_K => blocks.for_each(|(b, y)| kquant::dequantize_q2_k(b, y)),
        WeightType::Q3_K => blocks.for_each(|(b, y)| kquant::dequantize_q3_k(b, y)),
        WeightType::Q4_K => blocks.for_each(|(b, y)| kquant::dequantize_q4_k(b, y)),
        WeightType::Q5_K => blocks.for_each(|(b, y)| kquant::dequantize_q5_k(b, y)),
        WeightType::Q6_K => blocks.for_each(|(b, y)| kquant::dequantize_q6_k(b, y)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn dequantize_blocks_avx2(ty: WeightType, bytes: &[u8], out: &mut [f32]) {
    dequantize_blocks(ty, bytes, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dequantize_blocks_avx512(ty: WeightType, bytes: &[u8], out: &mut [f32]) {
    dequantize_blocks(ty, bytes, out)
}

/// [`dequantize_blocks`] compiled for `level`, which the caller has checked is supported.
pub(crate) fn dequantize_blocks_at(level: Level, ty: WeightType, bytes: &[u8], out: &mut [f32]) {
    match level {
        Level::Scalar => dequantize_blocks(ty, bytes, out),
        // SAFETY: callers pass only levels that `Level::check` accepted, so the CPU has the
        // features these functions are compiled for.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { dequantize_blocks_avx2(ty, bytes, out) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { dequantize_blocks_avx512(ty, bytes, out) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => dequantize_blocks(ty, bytes, out),
    }
}

/// Checks that `bytes` holds exactly `n` elements of `ty`.
fn check_sizes(ty: WeightType, n: usize, bytes: usize) -> Result<(), KernelError> {
    let expected = ty.row_bytes(n).ok_or(KernelError::PartialBlock {
        ty,
        cols: n,
        block_len: ty.block_len(),
    })?;
    if expected != bytes {
        return Err(KernelError::ByteLength {
            ty,
            rows: 1,
            cols: n,
            expected,
            got: bytes,
        });
    }
    Ok(())
}

/// Dequantises `out.len()` elements of type `ty` from `bytes` (whole blocks, storage order),
/// bit-identically to ggml's `dequantize_row_*` and gguf-py's `quants.dequantize`.
pub fn dequantize(ty: WeightType, bytes: &[u8], out: &mut [f32]) -> Result<(), KernelError> {
    check_sizes(ty, out.len(), bytes.len())?;
    dequantize_blocks_at(Level::best(), ty, bytes, out);
    Ok(())
}

/// Quantises `x` (whole blocks) to type `ty` into `out`, byte-identically to gguf-py's
/// `quants.quantize` (which reproduces ggml's reference quantisers for these types). The
/// K-quants are refused: they are read, never written, here.
pub fn quantize(ty: WeightType, x: &[f32], out: &mut [u8]) -> Result<(), KernelError> {
    check_sizes(ty, x.len(), out.len())?;
    let (n, nb) = (ty.block_len(), ty.block_bytes());
    let blocks = x.chunks_exact(n).zip(out.chunks_exact_mut(nb));
    match ty {
        WeightType::F32 => float::quantize_f32(x, out),
        WeightType::F16 => float::quantize_f16(x, out),
        WeightType::BF16 => float::quantize_bf16(x, out),
        WeightType::Q8_0 => blocks.for_each(|(x, b)| legacy::quantize_q8_0(x, b)),
        WeightType::Q4_0 => blocks.for_each(|(x, b)| legacy::quantize_q4_0(x, b)),
        WeightType::Q4_1 => blocks.for_each(|(x, b)| legacy::quantize_q4_1(x, b)),
        WeightType::Q5_0 => blocks.for_each(|(x, b)| legacy::quantize_q5_0(x, b)),
        WeightType::Q5_1 => blocks.for_each(|(x, b)| legacy::quantize_q5_1(x, b)),
        WeightType::Q2_K
        | WeightType::Q3_K
        | WeightType::Q4_K
        | WeightType::Q5_K
        | WeightType::Q6_K => return Err(KernelError::CannotQuantize { ty }),
    }
    Ok(())
}

/// Whether [`quantize`] can write this type.
pub fn can_quantize(ty: WeightType) -> bool {
    !ty.is_k_quant()
}

/// [`dequantize`] with the kernels of `level` (an error if the CPU lacks it); every level gives
/// the same bits.
pub fn dequantize_with(
    level: Level,
    ty: WeightType,
    bytes: &[u8],
    out: &mut [f32],
) -> Result<(), KernelError> {
    let level = level.check()?;
    check_sizes(ty, out.len(), bytes.len())?;
    dequantize_blocks_at(level, ty, bytes, out);
    Ok(())
}
