//! Model families: each is a small description over the one generic decoder.
//!
//! A description says which structural features a family switches on ([`Architecture`]), what each
//! layer keeps wherever a schedule places it ([`LayerSpec`]: attention window, RoPE table), and where
//! its checkpoints keep each weight (the `names` module). Dispatch is on HF `model_type` or GGUF
//! `general.architecture`.
//!
//! | family | HF `model_type` | what it switches on |
//! |---|---|---|
//! | Llama | `llama` | RMSNorm, SwiGLU, RoPE (default / linear / llama3); optional biases |
//! | Mistral | `mistral` | Llama + sliding-window attention on every layer |
//! | Qwen2 | `qwen2` | Llama + q/k/v biases; sliding layers from `layer_types` |
//! | Qwen3 | `qwen3` | Llama + per-head q/k RMSNorm, explicit `head_dim` |
//! | Gemma 2 | `gemma2` | `(1 + w)` norms, sandwich norms, GeGLU, scaled embeddings, softcaps, alternating sliding layers |
//! | Gemma 3 | `gemma3_text` | Gemma 2 without softcaps + q/k norms, local/global RoPE bases per layer |
//! | Phi-3 | `phi3` | fused `qkv_proj` / `gate_up_proj`, partial rotary |
//! | GPT-NeoX | `gpt_neox` | LayerNorm with biases, parallel residual, per-head fused QKV, GELU MLP, partial rotary |

mod gemma;
mod gpt_neox;
mod llama;
pub(crate) mod names;
mod phi3;
mod qwen;

use crate::config::hf::HfJson;
use crate::config::{
    Activation, Architecture, ConfigError, LayerSpec, NormKind, Residual, RopeSpec,
};
use names::TensorNames;

/// A supported decoder family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Gemma2,
    Gemma3,
    Phi3,
    GptNeoX,
}

/// What a family description derives from a config: the block structure, the RoPE tables, each
/// layer's properties, and whether the head is tied when the config does not say.
pub(crate) struct FamilyParts {
    pub arch: Architecture,
    pub ropes: Vec<RopeSpec>,
    pub layers: Vec<LayerSpec>,
    pub tied_by_default: bool,
}

impl Family {
    /// Every HF `model_type` that loads.
    pub const MODEL_TYPES: &'static [&'static str] = &[
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "gemma2",
        "gemma3_text",
        "phi3",
        "gpt_neox",
    ];

    /// The family of an HF `model_type` (`smollm` is Llama).
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        Some(match model_type {
            "llama" | "smollm" => Family::Llama,
            "mistral" => Family::Mistral,
            "qwen2" => Family::Qwen2,
            "qwen3" => Family::Qwen3,
            "gemma2" => Family::Gemma2,
            "gemma3_text" => Family::Gemma3,
            "phi3" => Family::Phi3,
            "gpt_neox" => Family::GptNeoX,
            _ => return None,
        })
    }

    /// The HF `model_type` of the family.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Gemma2 => "gemma2",
            Family::Gemma3 => "gemma3_text",
            Family::Phi3 => "phi3",
            Family::GptNeoX => "gpt_neox",
        }
    }

    /// Where the family's HF checkpoints keep each weight.
    pub(crate) fn hf_names(self) -> &'static TensorNames {
        match self {
            Family::Gemma2 | Family::Gemma3 => &names::HF_GEMMA,
            Family::Phi3 => &names::HF_PHI3,
            Family::GptNeoX => &names::HF_GPT_NEOX,
            _ => &names::HF_LLAMA,
        }
    }

    /// The family's description of an HF config with `head_dim` and `layers` already read.
    pub(crate) fn describe_hf(
        self,
        j: &HfJson,
        head_dim: usize,
        layers: usize,
    ) -> Result<FamilyParts, ConfigError> {
        match self {
            Family::Llama | Family::Mistral => llama::describe(self, j, head_dim, layers),
            Family::Qwen2 | Family::Qwen3 => qwen::describe(self, j, head_dim, layers),
            Family::Gemma2 | Family::Gemma3 => gemma::describe(self, j, head_dim, layers),
            Family::Phi3 => phi3::describe(j, head_dim, layers),
            Family::GptNeoX => gpt_neox::describe(j, head_dim, layers),
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// The activation an HF config names in `key` (`default` when absent).
pub(crate) fn activation(
    j: &HfJson,
    key: &'static str,
    default: Activation,
) -> Result<Activation, ConfigError> {
    Ok(match j.str(key)? {
        None => default,
        Some("silu" | "swish") => Activation::Silu,
        Some("gelu_pytorch_tanh" | "gelu_new" | "gelu_fast") => Activation::GeluTanh,
        Some("gelu") => Activation::GeluErf,
        Some(other) => {
            return Err(j.unsupported(
                key,
                other,
                "supported: silu, gelu (erf), gelu_pytorch_tanh / gelu_new (tanh)",
            ));
        }
    })
}

/// Llama's block: RMSNorm (`rms_norm_eps`, default `eps`), SwiGLU (`hidden_act`), no biases,
/// sequential residual, `head_dim^-0.5` attention scale. Families adjust from here.
pub(crate) fn llama_block(
    j: &HfJson,
    head_dim: usize,
    eps: f64,
) -> Result<Architecture, ConfigError> {
    Ok(Architecture {
        norm: NormKind::Rms,
        norm_eps: j.f64("rms_norm_eps")?.unwrap_or(eps),
        qkv_bias: false,
        o_bias: false,
        mlp_bias: false,
        qk_norm: false,
        residual: Residual::Sequential,
        gated_mlp: true,
        activation: activation(j, "hidden_act", Activation::Silu)?,
        attention_scale: (head_dim as f64).powf(-0.5),
        attn_softcap: None,
        final_softcap: None,
        embed_scale: None,
    })
}

/// Rotated dimensions per head: `int(head_dim · partial_rotary_factor)` (top level or inside
/// `rope_parameters`), or all of them.
pub(crate) fn rotary_dims(
    j: &HfJson,
    head_dim: usize,
    key: &'static str,
) -> Result<usize, ConfigError> {
    let nested = j
        .get("rope_parameters")
        .and_then(|p| p.get(key))
        .and_then(|v| v.as_f64());
    let factor = match j.f64(key)? {
        Some(f) => Some(f),
        None => nested,
    };
    match factor {
        None => Ok(head_dim),
        Some(f) if f > 0.0 && f <= 1.0 => Ok((head_dim as f64 * f) as usize),
        Some(f) => Err(j.unsupported(key, f, "must be in (0, 1]")),
    }
}

/// The `sliding_window` of a config (None when absent or null).
pub(crate) fn sliding_window(j: &HfJson) -> Result<Option<usize>, ConfigError> {
    j.usize("sliding_window")
}

/// One table for every layer, with `windows[i]` as layer i's window.
pub(crate) fn single_rope_layers(windows: Vec<Option<usize>>) -> Vec<LayerSpec> {
    windows
        .into_iter()
        .map(|window| LayerSpec { window, rope: 0 })
        .collect()
}

/// Windows from `layer_types` (sliding layers get `window`), checked to have one entry per layer;
/// None when the config has no `layer_types`.
pub(crate) fn windows_from_layer_types(
    j: &HfJson,
    layers: usize,
    window: Option<usize>,
) -> Result<Option<Vec<Option<usize>>>, ConfigError> {
    let Some(types) = j.layer_types()? else {
        return Ok(None);
    };
    if types.len() != layers {
        return Err(j.unsupported(
            "layer_types",
            format!("{} entries", types.len()),
            format!("num_hidden_layers is {layers}"),
        ));
    }
    if types.iter().any(|&s| s) && window.is_none() {
        return Err(j.missing("sliding_window"));
    }
    Ok(Some(
        types
            .into_iter()
            .map(|s| if s { window } else { None })
            .collect(),
    ))
}
