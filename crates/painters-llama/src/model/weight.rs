//! How a model's matrices are stored: as f32 tensors on the device (the exact path), or on the host
//! in a storage format (f16, bf16, GGUF blocks) multiplied by painters-kernels' CPU products without
//! ever being expanded to f32 as a whole.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{DType, Device, Tensor, TensorData};
use painters_kernels::QMatrix;

/// The storage of a model's matrices (projections, embedding, head), chosen at load.
///
/// * `F32`: every matrix expanded to f32 on the device — the exact path, the default, and the one
///   the conformance fixtures hold to their tolerances.
/// * `F16` / `BF16`: matrices stored in half precision on the host (converted once at load where
///   the file holds another type); products in f32 over half-precision weights: exact up to the
///   weights' rounding.
/// * `Native`: matrices kept as the file stores them (a GGUF's Q4_1 blocks stay Q4_1, a bf16
///   safetensors stays bf16), memory-mapped where possible. Quantised products round the
///   activations to 8 bits (approximate; docs/performance.md states the measured difference).
///
/// Norms and biases stay f32 in every mode. The packed modes need a CPU device.
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

/// A `[out, in]` matrix.
#[derive(Clone, Debug)]
pub(crate) enum Weight {
    /// `[in, out]` f32 on the device, for `x · W`.
    Dense(Box<Tensor<2>>),
    /// Row blocks `[out_i, in]` on the host, in their storage format; stacked they are `[out, in]`
    /// (fused projections whose parts have different storage types stay separate blocks).
    Packed(Vec<QMatrix>),
}

impl Weight {
    /// Output features.
    pub(crate) fn out_dim(&self) -> usize {
        match self {
            Weight::Dense(w) => w.dims()[1],
            Weight::Packed(parts) => parts.iter().map(QMatrix::rows).sum(),
        }
    }

    /// Bytes of the stored matrix.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Weight::Dense(w) => {
                let [i, o] = w.dims();
                i * o * w.dtype().size()
            }
            Weight::Packed(parts) => parts.iter().map(QMatrix::bytes_len).sum(),
        }
    }
}

/// `x · Wᵀ` over host-packed row blocks: `x: [m, in]` row-major → `[m, out]`.
pub(crate) fn packed_product(x: &[f32], m: usize, parts: &[QMatrix]) -> Vec<f32> {
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
pub(crate) fn packed_forward(x: Tensor<3>, parts: &[QMatrix]) -> Tensor<3> {
    let [b, s, _] = x.dims();
    let device: Device = x.device();
    let y = packed_product(&host_f32(x), b * s, parts);
    let out = y.len() / (b * s).max(1);
    Tensor::from_data(TensorData::new(y, [b, s, out]), &device)
}
