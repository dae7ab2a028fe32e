//! The runtime configuration of a decoder and the structural features a family switches on.

use super::error::ConfigError;
use super::rope::RopeSpec;
use crate::family::Family;

/// How a block normalises its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// `x · rsqrt(mean(x²) + eps) · w`.
    Rms,
    /// Gemma's `x · rsqrt(mean(x²) + eps) · (1 + w)`: the checkpoint stores `w`; the model holds
    /// `1 + w` (computed in f32 at load, as HF computes it in every forward).
    RmsUnitOffset,
    /// `(x − mean) / sqrt(var + eps) · w + b` (GPT-NeoX).
    LayerNorm,
}

/// The MLP's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x · sigmoid(x)` (HF `silu`).
    Silu,
    /// tanh-approximated GELU (HF `gelu_pytorch_tanh`, `gelu_new`).
    GeluTanh,
    /// exact erf GELU (HF `gelu`).
    GeluErf,
}

/// How attention and MLP outputs join the residual stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residual {
    /// `h = x + attn(norm1(x)); out = h + mlp(norm2(h))` (Llama and most others).
    Sequential,
    /// Gemma's sandwich: `h = x + norm_post_attn(attn(norm1(x))); out = h + norm_post_mlp(mlp(norm2(h)))`.
    Sandwich,
    /// GPT-NeoX's parallel residual: `out = x + attn(norm1(x)) + mlp(norm2(x))`.
    Parallel,
}

/// The structural features of a decoder block and its head, as a family description sets them.
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    pub norm: NormKind,
    pub norm_eps: f64,
    /// Biases on the q, k and v projections.
    pub qkv_bias: bool,
    /// A bias on the output projection.
    pub o_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// Per-head RMSNorm of queries and keys before RoPE (Qwen3, Gemma 3), of the block's norm kind.
    pub qk_norm: bool,
    pub residual: Residual,
    /// `down(act(gate) · up)` when true, `down(act(up))` otherwise (GPT-NeoX).
    pub gated_mlp: bool,
    pub activation: Activation,
    /// The factor on `q · k` (HF `scaling`): `head_dim^-0.5`, or `query_pre_attn_scalar^-0.5`.
    pub attention_scale: f64,
    /// `cap · tanh(scores / cap)` before the mask (Gemma 2).
    pub attn_softcap: Option<f64>,
    /// `cap · tanh(logits / cap)` on the head's output (Gemma 2).
    pub final_softcap: Option<f64>,
    /// Embedding outputs multiplied by this (Gemma: `sqrt(hidden_size)`, rounded to f32).
    pub embed_scale: Option<f32>,
}

/// What one layer keeps wherever a schedule places it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// Sliding-window attention: key `k` is visible from query `q` iff `k ≤ q` and `q − k < window`.
    pub window: Option<usize>,
    /// Index of the layer's RoPE table in [`DecoderConfig::ropes`].
    pub rope: usize,
}

/// The runtime configuration of a decoder model.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    pub family: Family,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub arch: Architecture,
    /// The distinct RoPE tables; layers point into it.
    pub ropes: Vec<RopeSpec>,
    /// One entry per layer.
    pub layers: Vec<LayerSpec>,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// The checkpoint's stored dtype, informational (weights are converted to f32).
    pub dtype: Option<String>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

/// The name this type had when only Llama loaded.
pub type LlamaConfig = DecoderConfig;

impl DecoderConfig {
    /// The normalisation epsilon of every norm.
    pub fn rms_norm_eps(&self) -> f64 {
        self.arch.norm_eps
    }

    /// The RoPE base of layer 0 (for single-table models, the model's only base).
    pub fn rope_theta(&self) -> f64 {
        self.layers
            .first()
            .and_then(|l| self.ropes.get(l.rope))
            .map_or(10_000.0, |r| r.theta)
    }

    /// Checks sizes that would otherwise fail later as a shape error or a division by zero;
    /// `source` names the file and `field` the offending key in the message.
    pub(crate) fn validate(&self, source: &std::path::Path) -> Result<(), ConfigError> {
        let bad = |field: &'static str, value: String, reason: String| ConfigError::Unsupported {
            path: source.to_path_buf(),
            field,
            value,
            reason,
        };
        let c = self;
        for (field, v) in [
            ("vocab_size", c.vocab_size),
            ("hidden_size", c.hidden_size),
            ("intermediate_size", c.intermediate_size),
            ("num_hidden_layers", c.num_hidden_layers),
            ("num_attention_heads", c.num_attention_heads),
            ("num_key_value_heads", c.num_key_value_heads),
            ("head_dim", c.head_dim),
            ("max_position_embeddings", c.max_position_embeddings),
        ] {
            if v == 0 {
                return Err(bad(field, "0".into(), "must be greater than zero".into()));
            }
        }
        if !c.num_attention_heads.is_multiple_of(c.num_key_value_heads) {
            return Err(bad(
                "num_key_value_heads",
                c.num_key_value_heads.to_string(),
                format!(
                    "must divide num_attention_heads = {}",
                    c.num_attention_heads
                ),
            ));
        }
        for r in &c.ropes {
            if r.rotary_dims == 0 || r.rotary_dims > c.head_dim || !r.rotary_dims.is_multiple_of(2)
            {
                return Err(bad(
                    "partial_rotary_factor",
                    r.rotary_dims.to_string(),
                    format!(
                        "rotated dimensions must be an even number in 2..={} (head_dim)",
                        c.head_dim
                    ),
                ));
            }
            if !(r.theta.is_finite() && r.theta > 0.0) {
                return Err(bad(
                    "rope_theta",
                    r.theta.to_string(),
                    "must be a positive finite number".into(),
                ));
            }
        }
        if !(c.arch.norm_eps.is_finite() && c.arch.norm_eps > 0.0) {
            return Err(bad(
                "rms_norm_eps",
                c.arch.norm_eps.to_string(),
                "must be a positive finite number".into(),
            ));
        }
        if c.layers.len() != c.num_hidden_layers {
            return Err(bad(
                "layer_types",
                format!("{} entries", c.layers.len()),
                format!("must have one entry per layer ({})", c.num_hidden_layers),
            ));
        }
        if let Some(l) = c.layers.iter().find(|l| l.window == Some(0)) {
            return Err(bad(
                "sliding_window",
                format!("{:?}", l.window),
                "must be at least 1".into(),
            ));
        }
        for cap in [c.arch.attn_softcap, c.arch.final_softcap]
            .into_iter()
            .flatten()
        {
            if !(cap.is_finite() && cap > 0.0) {
                return Err(bad(
                    "softcapping",
                    cap.to_string(),
                    "must be a positive finite number".into(),
                ));
            }
        }
        Ok(())
    }
}
