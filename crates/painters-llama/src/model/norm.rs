//! Normalisation over the last axis: RMSNorm (Llama; Gemma's `1 + w` is folded into the weight at
//! load) and LayerNorm with a bias (GPT-NeoX), as HF computes them in float32.

use burn::tensor::Tensor;

/// A loaded norm: its (effective) weight, optional bias, and epsilon.
#[derive(Clone, Debug)]
pub(crate) enum Norm {
    /// `x · rsqrt(mean(x²) + eps) · w`.
    Rms { w: Tensor<1>, eps: f64 },
    /// `(x − mean(x)) · rsqrt(var(x) + eps) · w + b` (biased variance, as torch).
    Layer {
        w: Tensor<1>,
        b: Tensor<1>,
        eps: f64,
    },
}

/// `w` shaped to broadcast over the last axis of a rank-`D` tensor.
fn over_last<const D: usize>(w: &Tensor<1>) -> Tensor<D> {
    let d = w.dims()[0];
    w.clone().reshape(std::array::from_fn::<usize, D, _>(|i| {
        if i + 1 == D { d } else { 1 }
    }))
}

/// `x · rsqrt(mean(x²) + eps)` over the last axis: RMSNorm without its weight.
pub(crate) fn rms_scale<const D: usize>(x: Tensor<D>, eps: f64) -> Tensor<D> {
    let var = x.clone().square().mean_dim(D - 1);
    x.mul(var.add_scalar(eps).sqrt().recip())
}

impl Norm {
    /// # Shapes
    /// `x: [.., d]` → `[.., d]`.
    pub(crate) fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Norm::Rms { w, eps } => rms_scale(x, *eps).mul(over_last(w)),
            Norm::Layer { w, b, eps } => {
                let centred = x.clone() - x.mean_dim(D - 1);
                let var = centred.clone().square().mean_dim(D - 1);
                centred
                    .mul(var.add_scalar(*eps).sqrt().recip())
                    .mul(over_last(w))
                    .add(over_last(b))
            }
        }
    }

    /// The RMSNorm weight, for the batched path (None for LayerNorm).
    pub(crate) fn rms_weight(&self) -> Option<(&Tensor<1>, f64)> {
        match self {
            Norm::Rms { w, eps } => Some((w, *eps)),
            Norm::Layer { .. } => None,
        }
    }

    /// Bytes of the weight (and bias).
    pub(crate) fn bytes(&self) -> usize {
        let n = |t: &Tensor<1>| t.dims()[0] * t.dtype().size();
        match self {
            Norm::Rms { w, .. } => n(w),
            Norm::Layer { w, b, .. } => n(w) + n(b),
        }
    }
}
