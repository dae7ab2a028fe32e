//! Row-by-row dot products: the decode path's inner loops, one per (level, weight type).
//!
//! A [`RowsKernel`] takes a run of whole weight rows and `m` activation rows and writes every
//! row × activation dot product. Float weights (f32, f16, bf16) meet f32 activations (exact up to
//! summation order); quantised weights meet activations quantised to 8 bits ([`crate::act`]),
//! with integer products as llama.cpp computes them (approximate: the activations are rounded).

mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;

use crate::act::{ActKind, Q8KRow, Q8Row, QuantizedActs};
use crate::{Level, WeightType};

/// The activation rows a kernel reads.
pub(crate) enum Acts<'a> {
    /// f32 rows of `cols` values (float weight types).
    F32 { x: &'a [f32], cols: usize },
    /// Rows quantised to 8 bits (quantised weight types).
    Quant(&'a QuantizedActs),
}

impl Acts<'_> {
    #[inline(always)]
    fn f32_row(&self, i: usize) -> &[f32] {
        match self {
            Acts::F32 { x, cols } => &x[i * cols..(i + 1) * cols],
            Acts::Quant(_) => &[],
        }
    }

    #[inline(always)]
    fn q8_row(&self, i: usize) -> Q8Row<'_> {
        match self {
            Acts::Quant(q) => q.q8_row(i),
            Acts::F32 { .. } => Q8Row {
                qs: &[],
                d: &[],
                s: &[],
            },
        }
    }

    #[inline(always)]
    fn q8k_row(&self, i: usize) -> Q8KRow<'_> {
        match self {
            Acts::Quant(q) => q.q8k_row(i),
            Acts::F32 { .. } => Q8KRow {
                qs: &[],
                d: &[],
                bsums: &[],
            },
        }
    }
}

/// The activation layout the decode kernels of `ty` read; `None` for float weights (f32
/// activations).
pub(crate) fn act_kind(ty: WeightType) -> Option<ActKind> {
    match ty {
        WeightType::F32 | WeightType::F16 | WeightType::BF16 => None,
        WeightType::Q8_0
        | WeightType::Q4_0
        | WeightType::Q4_1
        | WeightType::Q5_0
        | WeightType::Q5_1 => Some(ActKind::Q8),
        WeightType::Q2_K
        | WeightType::Q3_K
        | WeightType::Q4_K
        | WeightType::Q5_K
        | WeightType::Q6_K => Some(ActKind::Q8K),
    }
}

/// `out[r·m + i] = Σ_k W[r, k] · act_i[k]` for the whole rows in `w` (`row_bytes` each) and the
/// `m` activation rows.
///
/// # Safety
///
/// The kernel must come from [`rows_kernel`] for a level the CPU supports, `w` must hold whole
/// rows of that kernel's type, the activations must be prepared for that type with the same
/// row length, and `out.len()` must be `rows · m`.
pub(crate) type RowsKernel = unsafe fn(&[u8], usize, &Acts<'_>, usize, &mut [f32]);

/// Generates one row loop per dot function; `$feat` is empty for the portable level.
macro_rules! rows_fns {
    ($( $name:ident => $dot:expr, $row:ident; )*) => {$(
        #[allow(clippy::missing_safety_doc)]
        unsafe fn $name(w: &[u8], row_bytes: usize, acts: &Acts<'_>, m: usize, out: &mut [f32]) {
            for (wr, o) in w.chunks_exact(row_bytes).zip(out.chunks_exact_mut(m)) {
                for (i, o) in o.iter_mut().enumerate() {
                    *o = $dot(wr, acts.$row(i));
                }
            }
        }
    )*};
    (#[target_feature($feat:literal)] $( $name:ident => $dot:expr, $row:ident; )*) => {$(
        #[target_feature(enable = $feat)]
        unsafe fn $name(w: &[u8], row_bytes: usize, acts: &Acts<'_>, m: usize, out: &mut [f32]) {
            for (wr, o) in w.chunks_exact(row_bytes).zip(out.chunks_exact_mut(m)) {
                for (i, o) in o.iter_mut().enumerate() {
                    // SAFETY: the features are enabled on this function; sizes per RowsKernel.
                    *o = unsafe { $dot(wr, acts.$row(i)) };
                }
            }
        }
    )*};
}

rows_fns! {
    scalar_f32 => scalar::dot_f32, f32_row;
    scalar_f16 => scalar::dot_f16, f32_row;
    scalar_bf16 => scalar::dot_bf16, f32_row;
    scalar_q8_0 => scalar::dot_q8_0, q8_row;
    scalar_q4_0 => scalar::dot_q4_0, q8_row;
    scalar_q4_1 => scalar::dot_q4_1, q8_row;
    scalar_q5_0 => scalar::dot_q5_0, q8_row;
    scalar_q5_1 => scalar::dot_q5_1, q8_row;
    scalar_q2_k => scalar::dot_q2_k, q8k_row;
    scalar_q3_k => scalar::dot_q3_k, q8k_row;
    scalar_q4_k => scalar::dot_q4_k, q8k_row;
    scalar_q5_k => scalar::dot_q5_k, q8k_row;
    scalar_q6_k => scalar::dot_q6_k, q8k_row;
}

#[cfg(target_arch = "x86_64")]
rows_fns! {
    #[target_feature("avx2,fma,f16c")]
    avx2_f32 => x86::dot_f32, f32_row;
    avx2_f16 => x86::dot_f16, f32_row;
    avx2_bf16 => x86::dot_bf16, f32_row;
    avx2_q8_0 => x86::dot_q8_0::<x86::Avx2>, q8_row;
    avx2_q4_0 => x86::dot_q4_0::<x86::Avx2>, q8_row;
    avx2_q4_1 => x86::dot_q4_1::<x86::Avx2>, q8_row;
    avx2_q5_0 => x86::dot_q5_0::<x86::Avx2>, q8_row;
    avx2_q5_1 => x86::dot_q5_1::<x86::Avx2>, q8_row;
    avx2_q2_k => x86::dot_q2_k::<x86::Avx2>, q8k_row;
    avx2_q3_k => x86::dot_q3_k::<x86::Avx2>, q8k_row;
    avx2_q4_k => x86::dot_q4_k::<x86::Avx2>, q8k_row;
    avx2_q5_k => x86::dot_q5_k::<x86::Avx2>, q8k_row;
    avx2_q6_k => x86::dot_q6_k::<x86::Avx2>, q8k_row;
}

#[cfg(target_arch = "x86_64")]
rows_fns! {
    #[target_feature("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    avx512_f32 => x86::dot_f32, f32_row;
    avx512_f16 => x86::dot_f16, f32_row;
    avx512_bf16 => x86::dot_bf16, f32_row;
    avx512_q8_0 => x86::dot_q8_0::<x86::Avx512>, q8_row;
    avx512_q4_0 => x86::dot_q4_0::<x86::Avx512>, q8_row;
    avx512_q4_1 => x86::dot_q4_1::<x86::Avx512>, q8_row;
    avx512_q5_0 => x86::dot_q5_0::<x86::Avx512>, q8_row;
    avx512_q5_1 => x86::dot_q5_1::<x86::Avx512>, q8_row;
    avx512_q2_k => x86::dot_q2_k::<x86::Avx512>, q8k_row;
    avx512_q3_k => x86::dot_q3_k::<x86::Avx512>, q8k_row;
    avx512_q4_k => x86::dot_q4_k::<x86::Avx512>, q8k_row;
    avx512_q5_k => x86::dot_q5_k::<x86::Avx512>, q8k_row;
    avx512_q6_k => x86::dot_q6_k::<x86::Avx512>, q8k_row;
}

/// The row kernel of `ty` at `level` (which the caller has checked the CPU supports).
pub(crate) fn rows_kernel(level: Level, ty: WeightType) -> RowsKernel {
    use WeightType as T;
    #[cfg(target_arch = "x86_64")]
    match level {
        Level::Scalar => {}
        Level::Avx2 => {
            return match ty {
                T::F32 => avx2_f32,
                T::F16 => avx2_f16,
                T::BF16 => avx2_bf16,
                T::Q8_0 => avx2_q8_0,
                T::Q4_0 => avx2_q4_0,
                T::Q4_1 => avx2_q4_1,
                T::Q5_0 => avx2_q5_0,
                T::Q5_1 => avx2_q5_1,
                T::Q2_K => avx2_q2_k,
                T::Q3_K => avx2_q3_k,
                T::Q4_K => avx2_q4_k,
                T::Q5_K => avx2_q5_k,
                T::Q6_K => avx2_q6_k,
            };
        }
        Level::Avx512 => {
            return match ty {
                T::F32 => avx512_f32,
                T::F16 => avx512_f16,
                T::BF16 => avx512_bf16,
                T::Q8_0 => avx512_q8_0,
                T::Q4_0 => avx512_q4_0,
                T::Q4_1 => avx512_q4_1,
                T::Q5_0 => avx512_q5_0,
                T::Q5_1 => avx512_q5_1,
                T::Q2_K => avx512_q2_k,
                T::Q3_K => avx512_q3_k,
                T::Q4_K => avx512_q4_k,
                T::Q5_K => avx512_q5_k,
                T::Q6_K => avx512_q6_k,
            };
        }
    }
    let _ = level;
    match ty {
        T::F32 => scalar_f32,
        T::F16 => scalar_f16,
        T::BF16 => scalar_bf16,
        T::Q8_0 => scalar_q8_0,
        T::Q4_0 => scalar_q4_0,
        T::Q4_1 => scalar_q4_1,
        T::Q5_0 => scalar_q5_0,
        T::Q5_1 => scalar_q5_1,
        T::Q2_K => scalar_q2_k,
        T::Q3_K => scalar_q3_k,
        T::Q4_K => scalar_q4_k,
        T::Q5_K => scalar_q5_k,
        T::Q6_K => scalar_q6_k,
    }
}
