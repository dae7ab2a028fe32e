//! What every family description uses: the parts a description returns, and readers of the
//! config keys several families share.

use crate::config::hf::HfJson;
use crate::config::{
    Activation, Architecture, ConfigError, LayerSpec, NormKind, Residual, RopeSpec,
};

/// What a family description derives from a config: the block structure, the RoPE tables, each
/// layer's properties, and whether the head is tied when the config does not say.
pub(crate) struct FamilyParts {
    pub arch: Architecture,
    pub ropes: Vec<RopeSpec>,
    pub layers: Vec<LayerSpec>,
    pub tied_by_default: bool,
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
