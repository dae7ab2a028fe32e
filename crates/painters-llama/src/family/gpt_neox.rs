//! GPT-NeoX (Pythia): LayerNorm with biases, biases on every projection, a plain GELU MLP,
//! parallel residual (`use_parallel_residual`), and RoPE on the first `rotary_pct` of each head.

use super::common::{FamilyParts, activation, rotary_dims, single_rope_layers};
use crate::config::hf::HfJson;
use crate::config::{Activation, Architecture, ConfigError, NormKind, Residual};

pub(super) fn describe(
    j: &HfJson,
    head_dim: usize,
    layers: usize,
) -> Result<FamilyParts, ConfigError> {
    let parallel = j.bool("use_parallel_residual")?.unwrap_or(true);
    let bias = j.bool("attention_bias")?.unwrap_or(true);
    let arch = Architecture {
        norm: NormKind::LayerNorm,
        norm_eps: j.f64("layer_norm_eps")?.unwrap_or(1e-5),
        qkv_bias: bias,
        o_bias: bias,
        mlp_bias: true,
        qk_norm: false,
        residual: if parallel {
            Residual::Parallel
        } else {
            Residual::Sequential
        },
        gated_mlp: false,
        activation: activation(j, "hidden_act", Activation::GeluErf)?,
        attention_scale: (head_dim as f64).powf(-0.5),
        attn_softcap: None,
        final_softcap: None,
        embed_scale: None,
    };
    let rd = if j.has("rotary_pct") {
        rotary_dims(j, head_dim, "rotary_pct")?
    } else {
        rotary_dims(j, head_dim, "partial_rotary_factor")?
    };
    let mut rope = j.rope(None, 10_000.0, rd)?;
    if let Some(base) = j.f64("rotary_emb_base")? {
        rope.theta = base;
    }
    Ok(FamilyParts {
        arch,
        ropes: vec![rope],
        layers: single_rope_layers(vec![None; layers]),
        tied_by_default: false,
    })
}
