//! One post-LN encoder layer (HF `BertLayer`) and the per-forward context its attention needs.
//!
//! HF source: `transformers/models/bert/modeling_bert.py` (`BertSelfAttention`, `BertSelfOutput`,
//! `BertIntermediate`, `BertOutput`). The sub-module names follow HF so that the loader's mapping
//! is one line per tensor.

use std::sync::Arc;

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, softmax};
use painters::{Block, BlockOutput, KvState};

use crate::dropout::DropoutRng;

/// What every layer of one forward call shares: the key padding mask and, when training, the
/// dropout stream.
pub struct BertContext {
    /// `(1 - attention_mask) * f32::MIN`, `[batch, 1, 1, seq]`.
    pub(crate) mask: Tensor<4>,
    pub(crate) dropout: Option<Arc<DropoutRng>>,
}

impl BertContext {
    /// The additive key mask, `[batch, 1, 1, seq]`.
    pub fn mask(&self) -> &Tensor<4> {
        &self.mask
    }

    pub(crate) fn drop<const D: usize>(&self, x: Tensor<D>, p: f64) -> Tensor<D> {
        match &self.dropout {
            Some(rng) => rng.apply(x, p),
            None => x,
        }
    }
}

/// Multi-head self-attention projections (HF `BertSelfAttention`).
#[derive(Module, Debug)]
pub struct BertSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub num_heads: usize,
    pub dropout: f64,
}

impl BertSelfAttention {
    /// # Shapes
    /// - `h`: `[batch, seq, hidden]` → `[batch, seq, hidden]` (heads merged, before the output dense)
    pub fn forward(&self, h: Tensor<3>, ctx: &BertContext) -> Tensor<3> {
        let [b, s, d] = h.dims();
        let heads = self.num_heads;
        let dh = d / heads;
        let split = |x: Tensor<3>| x.reshape([b, s, heads, dh]).swap_dims(1, 2);
        let q = split(self.query.forward(h.clone()));
        let k = split(self.key.forward(h.clone()));
        let v = split(self.value.forward(h));
        // HF multiplies by head_dim^-0.5 (rather than dividing by sqrt); same rounding here.
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar((dh as f64).powf(-0.5))
            + ctx.mask.clone();
        let probs = ctx.drop(softmax(scores, 3), self.dropout);
        probs.matmul(v).swap_dims(1, 2).reshape([b, s, d])
    }
}

/// HF `BertLayer`: attention → dense → dropout → +residual → LayerNorm → dense → GELU → dense →
/// dropout → +residual → LayerNorm.
#[derive(Module, Debug)]
pub struct BertLayer {
    pub attention: BertSelfAttention,
    /// `attention.output.dense`
    pub attention_output: Linear,
    /// `attention.output.LayerNorm`
    pub attention_norm: LayerNorm,
    /// `intermediate.dense`
    pub intermediate: Linear,
    /// `output.dense`
    pub output: Linear,
    /// `output.LayerNorm`
    pub output_norm: LayerNorm,
    pub hidden_dropout: f64,
}

impl BertLayer {
    /// # Shapes
    /// - `h`: `[batch, seq, hidden]` → `[batch, seq, hidden]`
    pub fn forward(&self, h: Tensor<3>, ctx: &BertContext) -> Tensor<3> {
        let a = self.attention.forward(h.clone(), ctx);
        let a = ctx.drop(self.attention_output.forward(a), self.hidden_dropout);
        let a = self.attention_norm.forward(a + h);
        let m = gelu(self.intermediate.forward(a.clone()));
        let m = ctx.drop(self.output.forward(m), self.hidden_dropout);
        self.output_norm.forward(m + a)
    }
}

/// An encoder layer attends over the whole (unpadded) sequence and keeps no cache: `past` is
/// ignored and no keys/values are returned. The output already contains the residual (post-LN),
/// so a parallel step's mean is a plain mean of layer outputs.
impl Block for BertLayer {
    type Context = BertContext;

    fn forward(
        &self,
        hidden: Tensor<3>,
        ctx: &Self::Context,
        _past: Option<&KvState>,
        _want_kv: bool,
    ) -> BlockOutput {
        BlockOutput {
            hidden: BertLayer::forward(self, hidden, ctx),
            kv: None,
        }
    }
}
