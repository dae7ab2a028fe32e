//! Normalisation over the last axis: RMSNorm (Llama; Gemma's `1 + w` is folded into the weight at
//! load) and LayerNorm with a bias (GPT-NeoX), as HF computes them in float32.

use burn::tensor::Tensor;

/// A loaded norm: its (effective) weight, the bias of a LayerNorm, and epsilon.
#[derive(Clone, Debug)]
pub(crate) struct Norm {
    pub w: Tensor<1>,
    /// Some for a LayerNorm: `(x − mean(x)) · rsqrt(var(x) + eps) · w + b` (biased variance, as
    /// torch); None for an RMSNorm: `x · rsqrt(mean(x²) + eps) · w`.
    pub layer_norm_bias: Option<Tensor<1>>,
    pub eps: f64,
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
        match &self.layer_norm_bias {
            None => rms_scale(x, self.eps).mul(over_last(&self.w)),
            Some(b) => {
                let centred = x.clone() - x.mean_dim(D - 1);
                let var = centred.clone().square().mean_dim(D - 1);
                centred
                    .mul(var.add_scalar(self.eps).sqrt().recip())
                    .mul(over_last(&self.w))
                    .add(over_last(b))
            }
        }
    }

    /// The RMSNorm weight and epsilon, for the batched path (None for a LayerNorm).
    pub(crate) fn rms_weight(&self) -> Option<(&Tensor<1>, f64)> {
        self.layer_norm_bias
            .is_none()
            .then_some((&self.w, self.eps))
    }

    /// Bytes of the weight (and bias).
    pub(crate) fn bytes(&self) -> usize {
        let n = |t: &Tensor<1>| t.dims()[0] * t.dtype().size();
        n(&self.w) + self.layer_norm_bias.as_ref().map_or(0, n)
    }
}
