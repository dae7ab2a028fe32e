//! How a model's matrices are stored: as f32 tensors on the device (the exact path), or on the host
//! in a storage format (f16, bf16, GGUF blocks) multiplied by painters-kernels' CPU products without
//! ever being expanded to f32 as a whole.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use burn::tensor::{DType, Device, Tensor, TensorData};
use painters_kernels::{QMatrix, WeightType};

use crate::error::DecoderError;

/// The storage of a model's matrices (projections, embedding, head), chosen at load.
///
/// * `F32`: every matrix expanded to f32 on the device — the exact path, the default, and the one
///   the conformance fixtures hold to their tolerances.
/// * `F16` / `BF16`: matrices stored in half precision (converted once at load where the file
///   holds another type). On the CPU they are packed on the host and multiplied in f32: exact up to
///   the weights' rounding. On a GPU they are device tensors of that type and the products run in
///   half precision (activations rounded to it, accumulation in f32); everything between the
///   products stays f32. wgpu has f16 but no bf16 ([`WeightMode::check_on`]).
/// * `Native`: matrices kept as the file stores them (a GGUF's Q4_1 blocks stay Q4_1, a bf16
///   safetensors stays bf16), memory-mapped where possible. Quantised products round the
///   activations to 8 bits (approximate; docs/performance.md states the measured difference).
///
/// Norms and biases stay f32 in every mode. `Native` needs a CPU device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WeightMode {
    #[default]
    F32,
    F16,
    BF16,
    Native,
}

impl WeightMode {
    pub const NAMES: &'static [&'static str] = &["f32", "f16", "bf16", "native"];

    pub fn name(self) -> &'static str {
        match self {
            WeightMode::F32 => "f32",
            WeightMode::F16 => "f16",
            WeightMode::BF16 => "bf16",
            WeightMode::Native => "native",
        }
    }
}

impl WeightMode {
    /// The half type this mode converts host-packed matrices to (None: kept as stored, or f32).
    pub(crate) fn half_type(self) -> Option<WeightType> {
        match self {
            WeightMode::F16 => Some(WeightType::F16),
            WeightMode::BF16 => Some(WeightType::BF16),
            WeightMode::Native | WeightMode::F32 => None,
        }
    }

    /// The stated bound on the largest |logit difference| from the f32 path, relative to the
    /// largest |f32 logit|, on the fixture models (6 blocks of random std-0.2 weights): what
    /// `painters conformance --weights` and the weight-mode tests hold each mode to.
    ///
    /// Measured: f16 ≤ 5.4e-3 and bf16 ≤ 4.3e-2 on the CPU (weights rounded, products in f32);
    /// on a GPU (products in half precision, activations rounded too) docs/backends.md has the
    /// figures. `native` on a quantised GGUF rounds activations to 8 bits: ≤ 0.15 on real models
    /// (on an f32 file it is the f32 path up to summation order).
    pub fn logit_tolerance(self) -> f32 {
        match self {
            WeightMode::F32 => 0.0,
            WeightMode::F16 => 1e-2,
            WeightMode::BF16 => 8e-2,
            WeightMode::Native => 0.15,
        }
    }
}

impl WeightMode {
    /// The mode as result keys record it for a model on `device`: its name, or `f16@gpu` /
    /// `bf16@gpu` where half-precision matrices are device tensors multiplied in half precision
    /// (on the host they are packed and multiplied in f32: another computation, another key).
    pub fn key_on(self, device: &Device) -> String {
        match self {
            WeightMode::F16 | WeightMode::BF16 if !painters::backend::runs_on_host(device) => {
                format!("{self}@gpu")
            }
            _ => self.name().to_string(),
        }
    }
}

impl WeightMode {
    /// Refuses a mode `device` cannot run: `native` (GGUF blocks, multiplied by the CPU kernels)
    /// off the host, and a half type the GPU does not support (wgpu has no bf16).
    pub fn check_on(self, device: &Device) -> Result<(), DecoderError> {
        if painters::backend::runs_on_host(device) {
            return Ok(());
        }
        let dtype = match self {
            WeightMode::F32 => return Ok(()),
            WeightMode::F16 => DType::F16,
            WeightMode::BF16 => DType::BF16,
            WeightMode::Native => {
                return Err(DecoderError::Input(format!(
                    "--weights native keeps matrices in their file format for the CPU kernels; on {device:?} use --weights f32, f16 or bf16"
                )));
            }
        };
        if device.supports_dtype(dtype) {
            Ok(())
        } else {
            Err(DecoderError::Input(format!(
                "--weights {self}: {device:?} does not support {dtype:?} arithmetic; use --weights f32{}",
                if self == WeightMode::BF16 {
                    " or f16"
                } else {
                    ""
                }
            )))
        }
    }
}

impl fmt::Display for WeightMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WeightMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "f32" => WeightMode::F32,
            "f16" => WeightMode::F16,
            "bf16" => WeightMode::BF16,
            "native" => WeightMode::Native,
            other => {
                return Err(format!(
                    "unknown weight mode `{other}` (expected one of {})",
                    WeightMode::NAMES.join(", ")
                ));
            }
        })
    }
}

/// `x · w` with `x` in f32 and `w` a device matrix of any float type: a half-precision `w` (f16 /
/// bf16 on a GPU) multiplies `x` rounded to its type — the GPU's half-precision product, which
/// accumulates in f32 — and the result returns to f32, so everything around the products (norms,
/// attention, softmax, the residual stream) stays f32.
pub(crate) fn product<const D: usize>(x: Tensor<D>, w: Tensor<D>) -> Tensor<D> {
    let out = x.dtype();
    let dtype = w.dtype();
    as_dtype(as_dtype(x, dtype).matmul(w), out)
}

/// `t` as `dtype`; untouched (no backend call) where it already is, as on the f32 path.
pub(crate) fn as_dtype<const D: usize>(t: Tensor<D>, dtype: DType) -> Tensor<D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}

/// A `[out, in]` matrix.
#[derive(Clone, Debug)]
pub(crate) enum Weight {
    /// `[in, out]` on the device, for `x · W`: f32 (the exact path) or, on a GPU, f16 / bf16.
    Dense(Box<Tensor<2>>),
    /// Row blocks `[out_i, in]` on the host, in their storage format; stacked they are `[out, in]`
    /// (fused projections whose parts have different storage types stay separate blocks).
    Packed {
        parts: Vec<QMatrix>,
        /// Where the stacked rows are not in the model's order (a GGUF's Q/K rows, permuted by
        /// llama.cpp's converter, kept as the file maps them): output column `j` is stored row
        /// `columns[j]`. The product's outputs are reordered, which costs `m · out` copies instead
        /// of a heap copy of the matrix at load.
        columns: Option<Arc<[usize]>>,
    },
}

impl Weight {
    /// One host-packed matrix, its rows in the model's order.
    pub(crate) fn packed(m: QMatrix) -> Weight {
        Weight::Packed {
            parts: vec![m],
            columns: None,
        }
    }

    /// Output features.
    pub(crate) fn out_dim(&self) -> usize {
        match self {
            Weight::Dense(w) => w.dims()[1],
            Weight::Packed { parts, .. } => parts.iter().map(QMatrix::rows).sum(),
        }
    }

    /// Bytes of the stored matrix.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Weight::Dense(w) => {
                let [i, o] = w.dims();
                i * o * w.dtype().size()
            }
            Weight::Packed { parts, .. } => parts.iter().map(QMatrix::bytes_len).sum(),
        }
    }
}

/// `x · Wᵀ` over host-packed row blocks: `x: [m, in]` row-major → `[m, out]`, output column `j`
/// taken from stored row `columns[j]` when given.
pub(crate) fn packed_product(
    x: &[f32],
    m: usize,
    parts: &[QMatrix],
    columns: Option<&[usize]>,
) -> Vec<f32> {
    let y = stacked_product(x, m, parts);
    let Some(columns) = columns else {
        return y;
    };
    let out = columns.len();
    let mut z = vec![0f32; y.len()];
    for (src, dst) in y.chunks_exact(out).zip(z.chunks_exact_mut(out)) {
        for (d, &c) in dst.iter_mut().zip(columns) {
            *d = src[c];
        }
    }
    z
}

/// `x · Wᵀ` over the row blocks as stored.
fn stacked_product(x: &[f32], m: usize, parts: &[QMatrix]) -> Vec<f32> {
    let out: usize = parts.iter().map(QMatrix::rows).sum();
    let mut y = vec![0f32; m * out];
    if let [only] = parts {
        // infallible: lengths are m·cols and m·rows by construction (loader checked shapes).
        only.matmul(x, m, &mut y).expect("packed product shapes");
        return y;
    }
    let mut col = 0;
    for p in parts {
        let rows = p.rows();
        let mut part = vec![0f32; m * rows];
        // infallible: as above.
        p.matmul(x, m, &mut part).expect("packed product shapes");
        for (r, chunk) in part.chunks_exact(rows).enumerate() {
            y[r * out + col..r * out + col + rows].copy_from_slice(chunk);
        }
        col += rows;
    }
    y
}

/// A tensor's f32 values, read out of the device (without a copy on CPU backends when the tensor
/// is unique and contiguous).
pub(crate) fn host_f32<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    let x = if x.dtype() == DType::F32 {
        x
    } else {
        x.cast(DType::F32)
    };
    let data = x.into_data();
    match data.try_into_vec::<f32>() {
        Ok(v) => v,
        // infallible: the tensor was cast to f32 above.
        Err(e) => panic!("f32 tensor data: {e:?}"),
    }
}

/// `[b, s, in] · Wᵀ` for host-packed `W` → `[b, s, out]` on `x`'s device.
pub(crate) fn packed_forward(
    x: Tensor<3>,
    parts: &[QMatrix],
    columns: Option<&[usize]>,
) -> Tensor<3> {
    let [b, s, _] = x.dims();
    let device: Device = x.device();
    let y = packed_product(&host_f32(x), b * s, parts, columns);
    let out = y.len() / (b * s).max(1);
    Tensor::from_data(TensorData::new(y, [b, s, out]), &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_runs_on_the_cpu_under_its_own_name() {
        let cpu = Device::flex();
        for &name in WeightMode::NAMES {
            let mode: WeightMode = name.parse().unwrap();
            assert!(mode.check_on(&cpu).is_ok(), "{name}");
            assert_eq!(mode.key_on(&cpu), name);
        }
    }

    #[test]
    fn a_half_weight_multiplies_in_its_type_and_returns_f32() {
        let cpu = Device::flex();
        let x: Tensor<2> = Tensor::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [1, 3]), &cpu);
        let w: Tensor<2> = Tensor::from_data(
            TensorData::new(vec![0.5f32, 1.0, 1.5, 2.0, 2.5, 3.0], [3, 2]),
            &cpu,
        );
        for dtype in [DType::F16, DType::BF16] {
            let y = product(x.clone(), w.clone().cast(dtype));
            assert_eq!(y.dtype(), DType::F32);
            // Exact in either half type: 1·0.5 + 2·1.5 + 3·2.5 = 11, 1·1 + 2·2 + 3·3 = 14.
            assert_eq!(y.into_data().try_to_vec::<f32>().unwrap(), [11.0, 14.0]);
        }
    }
}
