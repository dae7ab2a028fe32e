//! The pieces of HF Trainer's optimisation step that burn does not provide in the same form:
//! the linear warmup/decay schedule, global-norm gradient clipping (burn clips each tensor on its
//! own), and the "no weight decay on biases and LayerNorm weights" parameter split.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use painters_bert::{BertError, to_host};

/// `get_linear_schedule_with_warmup`: the factor for the update made at `step` (0-based).
pub fn linear_schedule(step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    (total.saturating_sub(step) as f64 / total.saturating_sub(warmup).max(1) as f64).max(0.0)
}

/// Ids of the parameters HF exempts from weight decay: biases and LayerNorm scale/shift.
pub(crate) fn no_decay_ids<M: Module>(module: &M) -> Vec<ParamId> {
    struct V {
        path: Vec<String>,
        ids: Vec<ParamId>,
    }
    impl ModuleVisitor for V {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if matches!(
                self.path.last().map(String::as_str),
                Some("bias" | "gamma" | "beta")
            ) {
                self.ids.push(p.id);
            }
        }
    }
    let mut v = V {
        path: Vec::new(),
        ids: Vec::new(),
    };
    module.visit(&mut v);
    v.ids
}

/// The global L2 norm of all gradients; when above `max_norm`, every gradient is scaled by
/// `max_norm / norm` (torch's `clip_grad_norm_`). Returns the norm before clipping.
pub(crate) fn clip_global_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: Option<f64>,
) -> Result<f64, BertError> {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        squares: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(p.id) {
                self.squares.push(g.powi_scalar(2).sum());
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(p.id) {
                self.grads.register(p.id, g.mul_scalar(self.factor));
            }
        }
    }
    let mut n = Norm {
        grads,
        squares: Vec::new(),
    };
    module.visit(&mut n);
    if n.squares.is_empty() {
        return Ok(0.0);
    }
    let total = to_host(Tensor::cat(n.squares, 0).sum().sqrt())?
        .first()
        .copied()
        .unwrap_or(0.0) as f64;
    if let Some(max) = max_norm
        && total > max
    {
        // torch adds 1e-6 to the norm before dividing.
        let factor = max / (total + 1e-6);
        module.visit(&mut Scale { grads, factor });
    }
    Ok(total)
}
