//! One decoder layer of any family: pre-norm attention (optional biases, per-head q/k norms,
//! partial rotary, sliding window, softcapped scores) and an MLP (gated or not), joined to the
//! residual stream sequentially, through Gemma's sandwich norms, or in parallel (GPT-NeoX).

use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, gelu_approximate};
use painters::KvState;
use painters::exec::BlockOutput;

use super::attention::{QueryChunk, RopeTable, ScoreOptions, chunked_attention};
use super::linear::Linear;
use super::lora::{ActiveAdapters, LoraTarget, adapted};
use super::norm::Norm;
use super::swiglu;
use crate::config::{Activation, Residual};

/// What one block application reads from its forward call: its own RoPE table and attention
/// window's query chunks, and how the CPU threads its products.
pub(crate) struct BlockCall<'a> {
    pub rope: &'a RopeTable,
    pub chunks: &'a [QueryChunk],
    /// Run the two column parts of fused projections on rayon's threads.
    pub split_projections: bool,
    /// SwiGLU in one pass over host buffers.
    pub host_swiglu: bool,
    /// Adapters added to the projections (an adapted model's call).
    pub adapters: Option<&'a ActiveAdapters>,
}

/// What a block keeps of its layer wherever a schedule places it, and the sizes it runs with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BlockSpec {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub window: Option<usize>,
    /// Index of the layer's RoPE table in the context.
    pub rope: usize,
    pub scores: ScoreOptions,
    pub residual: Residual,
    pub activation: Activation,
    pub gated: bool,
}

/// One decoder layer.
#[derive(Clone, Debug)]
pub struct DecoderBlock {
    pub(crate) attn_norm: Norm,
    /// `[d, (heads + 2·kv_heads)·head_dim]`: q, then k, then v columns.
    pub(crate) qkv: Linear,
    /// Per-head norms of queries and keys (over `head_dim`), before RoPE.
    pub(crate) q_norm: Option<Norm>,
    pub(crate) k_norm: Option<Norm>,
    /// `[heads·head_dim, d]`.
    pub(crate) o: Linear,
    /// Sandwich norm on the attention output (Gemma).
    pub(crate) post_attn_norm: Option<Norm>,
    pub(crate) mlp_norm: Norm,
    /// `[d, 2·ffn]` gate then up columns when gated, else `[d, ffn]`.
    pub(crate) up: Linear,
    /// `[ffn, d]`.
    pub(crate) down: Linear,
    /// Sandwich norm on the MLP output (Gemma).
    pub(crate) post_mlp_norm: Option<Norm>,
    pub(crate) spec: BlockSpec,
}

/// The name this type had when only Llama loaded.
pub type LlamaBlock = DecoderBlock;

impl DecoderBlock {
    /// Attention of `h` (the normed input): the output projection's result and this call's keys
    /// and values `[b, kv_heads, s, head_dim]` (after RoPE).
    fn attention(
        &self,
        h: Tensor<3>,
        call: &BlockCall<'_>,
        past: Option<&KvState>,
    ) -> (Tensor<3>, Tensor<4>, Tensor<4>) {
        let BlockSpec {
            heads,
            kv_heads,
            head_dim: hd,
            ..
        } = self.spec;
        let [b, s, _] = h.dims();
        let (q, kv) = self
            .qkv
            .forward_parts(h.clone(), heads * hd, call.split_projections);
        let q = adapted(call.adapters, self, LoraTarget::Q, || h.clone(), q);
        let rope = call.rope;
        // [b, s, n·hd] → per-head norm (if any) → [b, n, s, hd].
        let heads_of = |t: Tensor<3>, n: usize, norm: &Option<Norm>| {
            let t = t.reshape([b, s, n, hd]);
            let t = match norm {
                Some(norm) => norm.forward(t),
                None => t,
            };
            t.swap_dims(1, 2)
        };
        let q = rope.apply(heads_of(q, heads, &self.q_norm));
        let k = kv.clone().narrow(2, 0, kv_heads * hd);
        let k = adapted(call.adapters, self, LoraTarget::K, || h.clone(), k);
        let k = rope.apply(heads_of(k, kv_heads, &self.k_norm));
        let v = kv.narrow(2, kv_heads * hd, kv_heads * hd);
        let v = heads_of(
            adapted(call.adapters, self, LoraTarget::V, || h, v),
            kv_heads,
            &None,
        );
        let (k_all, v_all) = match past {
            Some(p) => (
                Tensor::cat(vec![p.key(), k.clone()], 2),
                Tensor::cat(vec![p.value(), v.clone()], 2),
            ),
            None => (k.clone(), v.clone()),
        };
        let out = chunked_attention(q, k_all, v_all, call.chunks, 1, self.spec.scores);
        let out = out.swap_dims(1, 2).reshape([b, s, heads * hd]);
        let o = self.o.forward(out.clone());
        (adapted(call.adapters, self, LoraTarget::O, || out, o), k, v)
    }

    /// The MLP of `h` (the normed input).
    fn mlp(&self, h: Tensor<3>, call: &BlockCall<'_>) -> Tensor<3> {
        let act = if self.spec.gated {
            let (gate, up) =
                self.up
                    .forward_parts(h.clone(), self.spec.ffn, call.split_projections);
            let gate = adapted(call.adapters, self, LoraTarget::Gate, || h.clone(), gate);
            let up = adapted(call.adapters, self, LoraTarget::Up, || h, up);
            match self.spec.activation {
                Activation::Silu => swiglu::swiglu(gate, up, call.host_swiglu),
                Activation::GeluTanh => gelu_approximate(gate) * up,
                Activation::GeluErf => gelu(gate) * up,
            }
        } else {
            let x = self.up.forward(h.clone());
            let x = adapted(call.adapters, self, LoraTarget::Up, || h, x);
            match self.spec.activation {
                Activation::Silu => burn::tensor::activation::silu(x),
                Activation::GeluTanh => gelu_approximate(x),
                Activation::GeluErf => gelu(x),
            }
        };
        let y = self.down.forward(act.clone());
        adapted(call.adapters, self, LoraTarget::Down, || act, y)
    }

    /// Whether this block is plain Llama (RMSNorm, no biases or q/k norms, sequential residual,
    /// SwiGLU, full rotary): what the batched parallel path computes.
    pub(crate) fn is_plain(&self) -> bool {
        let rms = |n: &Norm| n.rms_weight().is_some();
        rms(&self.attn_norm)
            && rms(&self.mlp_norm)
            && self.qkv.b.is_none()
            && self.o.b.is_none()
            && self.up.b.is_none()
            && self.down.b.is_none()
            && self.q_norm.is_none()
            && self.post_attn_norm.is_none()
            && self.spec.residual == Residual::Sequential
            && self.spec.gated
            && self.spec.activation == Activation::Silu
    }

    /// Bytes of the block's weights.
    pub(crate) fn bytes(&self) -> usize {
        let norms = [
            Some(&self.attn_norm),
            self.q_norm.as_ref(),
            self.k_norm.as_ref(),
            self.post_attn_norm.as_ref(),
            Some(&self.mlp_norm),
            self.post_mlp_norm.as_ref(),
        ];
        norms.into_iter().flatten().map(Norm::bytes).sum::<usize>()
            + [&self.qkv, &self.o, &self.up, &self.down]
                .iter()
                .map(|l| l.bytes())
                .sum::<usize>()
    }
}

impl DecoderBlock {
    /// The block's output (residual included) and, when `want_kv`, this call's keys and values.
    ///
    /// # Shapes
    /// `x: [b, s, d]` → `[b, s, d]`; keys and values `[b, kv_heads, s, head_dim]`.
    pub(crate) fn run(
        &self,
        x: Tensor<3>,
        call: &BlockCall<'_>,
        past: Option<&KvState>,
        want_kv: bool,
    ) -> BlockOutput {
        let (attn, k, v) = self.attention(self.attn_norm.forward(x.clone()), call, past);
        let hidden = match self.spec.residual {
            Residual::Sequential => {
                let x = x + attn;
                let m = self.mlp(self.mlp_norm.forward(x.clone()), call);
                x + m
            }
            Residual::Sandwich => {
                let post = |n: &Option<Norm>, t: Tensor<3>| match n {
                    Some(n) => n.forward(t),
                    None => t,
                };
                let x = x + post(&self.post_attn_norm, attn);
                let m = self.mlp(self.mlp_norm.forward(x.clone()), call);
                x + post(&self.post_mlp_norm, m)
            }
            Residual::Parallel => {
                // HF GPT-NeoX: mlp_output + attn_output + residual, in that order.
                let m = self.mlp(self.mlp_norm.forward(x.clone()), call);
                (m + attn) + x
            }
        };
        BlockOutput {
            hidden,
            kv: want_kv.then(|| KvState::new(k, v)),
        }
    }
}
