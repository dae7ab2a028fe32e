//! A projection `x · W + b`, with `W` stored transposed (`[in, out]`) so that every call is one
//! product without a transpose.

use burn::tensor::Tensor;

/// A loaded projection.
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    /// `[in, out]`.
    pub w: Tensor<2>,
    /// `[out]`.
    pub b: Option<Tensor<1>>,
}

/// `x · W` for `x: [b, s, i]`, `W: [i, o]`.
pub(crate) fn project(x: Tensor<3>, w: &Tensor<2>) -> Tensor<3> {
    let [b, s, i] = x.dims();
    let o = w.dims()[1];
    x.reshape([b * s, i]).matmul(w.clone()).reshape([b, s, o])
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
        add_bias(project(x, &self.w), self.b.clone())
    }

    /// The two column parts `..cut` and `cut..` of a fused projection (queries | keys and values,
    /// gate | up), each contiguous.
    ///
    /// With `threads`, the parts are two GEMMs on rayon's threads at once, reading the weight's
    /// columns in place. Why: burn-flex hands every product to `gemm`, which threads 128-row
    /// products of these shapes poorly (on 2 cores, 128×576×960: 1.12 ms as one GEMM, 0.82 ms as two
    /// parts at once; 128×576×3072: 2.80 vs 2.43 ms). Without, one fused GEMM, which GPU backends
    /// prefer.
    pub(crate) fn forward_parts(
        &self,
        x: Tensor<3>,
        cut: usize,
        threads: bool,
    ) -> (Tensor<3>, Tensor<3>) {
        let out = self.w.dims()[1];
        let rest = out - cut;
        let bias = |start: usize, len: usize| self.b.clone().map(|b| b.narrow(0, start, len));
        if threads {
            let part = |start: usize, len: usize| {
                add_bias(
                    project(x.clone(), &self.w.clone().narrow(1, start, len)),
                    bias(start, len),
                )
            };
            rayon::join(|| part(0, cut), || part(cut, rest))
        } else {
            let y = self.forward(x);
            (y.clone().narrow(2, 0, cut), y.narrow(2, cut, rest))
        }
    }

    /// Bytes of the weight and bias.
    pub(crate) fn bytes(&self) -> usize {
        let w = self.w.dims();
        let b = self
            .b
            .as_ref()
            .map_or(0, |b| b.dims()[0] * b.dtype().size());
        w[0] * w[1] * self.w.dtype().size() + b
    }
}
