//! A projection `x · Wᵀ + b`: `W` either an f32 tensor stored transposed (`[in, out]`, so every
//! call is one product without a transpose) or host-packed row blocks (see [`Weight`]).

use burn::tensor::Tensor;

use super::weight::{Weight, packed_forward, product};

/// A loaded projection.
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    pub w: Weight,
    /// `[out]`.
    pub b: Option<Tensor<1>>,
}

/// `x · W` for `x: [b, s, i]`, `W: [i, o]`.
pub(crate) fn project(x: Tensor<3>, w: &Tensor<2>) -> Tensor<3> {
    let [b, s, i] = x.dims();
    let o = w.dims()[1];
    product(x.reshape([b * s, i]), w.clone()).reshape([b, s, o])
}

fn add_bias(y: Tensor<3>, b: Option<Tensor<1>>) -> Tensor<3> {
    match b {
        Some(b) => {
            let o = b.dims()[0];
            y + b.reshape([1, 1, o])
        }
        None => y,
    }
}

impl Linear {
    /// # Shapes
    /// `x: [b, s, in]` → `[b, s, out]`.
    pub(crate) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = match &self.w {
            Weight::Dense(w) => project(x, w),
            Weight::Packed { parts, columns } => packed_forward(x, parts, columns.as_deref()),
        };
        add_bias(y, self.b.clone())
    }

    /// The two column parts `..cut` and `cut..` of a fused projection (queries | keys and values,
    /// gate | up), each contiguous.
    ///
    /// With `threads` and an f32 weight, the parts are two GEMMs on rayon's threads at once,
    /// reading the weight's columns in place. Why: burn-flex hands every product to `gemm`, which
    /// threads 128-row products of these shapes poorly (on 2 cores, 128×576×960: 1.12 ms as one
    /// GEMM, 0.82 ms as two parts at once; 128×576×3072: 2.80 vs 2.43 ms). Otherwise one fused
    /// product (GPU backends prefer it; the packed kernels thread by themselves).
    pub(crate) fn forward_parts(
        &self,
        x: Tensor<3>,
        cut: usize,
        threads: bool,
    ) -> (Tensor<3>, Tensor<3>) {
        let rest = self.w.out_dim() - cut;
        match &self.w {
            Weight::Dense(w) if threads => {
                let bias =
                    |start: usize, len: usize| self.b.clone().map(|b| b.narrow(0, start, len));
                let part = |start: usize, len: usize| {
                    add_bias(
                        project(x.clone(), &w.clone().narrow(1, start, len)),
                        bias(start, len),
                    )
                };
                rayon::join(|| part(0, cut), || part(cut, rest))
            }
            _ => {
                let y = self.forward(x);
                (y.clone().narrow(2, 0, cut), y.narrow(2, cut, rest))
            }
        }
    }

    /// Bytes of the weight and bias.
    pub(crate) fn bytes(&self) -> usize {
        let b = self
            .b
            .as_ref()
            .map_or(0, |b| b.dims()[0] * b.dtype().size());
        self.w.bytes() + b
    }

    /// The dense `[in, out]` weight, for the batched path (None when packed).
    pub(crate) fn dense(&self) -> Option<&Tensor<2>> {
        match &self.w {
            Weight::Dense(w) => Some(&**w),
            Weight::Packed { .. } => None,
        }
    }
}
