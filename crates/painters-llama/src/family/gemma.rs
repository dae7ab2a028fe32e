//! Gemma 2 and Gemma 3 (text): `(1 + w)` RMSNorms, sandwich norms, GeGLU, embeddings scaled by
//! `sqrt(hidden_size)`, `query_pre_attn_scalar`, sliding and global layers. Gemma 2 softcaps
//! attention scores and final logits; Gemma 3 normalises q and k per head and gives sliding layers
//! their own RoPE base (`rope_local_base_freq`).

use super::common::{FamilyParts, activation, llama_block, rotary_dims, windows_from_layer_types};
use super::kind::Family;
use crate::config::hf::HfJson;
use crate::config::{
    Activation, ConfigError, LayerSpec, NormKind, Residual, RopeScaling, RopeSpec,
};

/// HF's default when `sliding_window` is absent (Gemma2Config and Gemma3TextConfig).
const DEFAULT_WINDOW: usize = 4096;

pub(super) fn describe(
    family: Family,
    j: &HfJson,
    head_dim: usize,
    layers: usize,
) -> Result<FamilyParts, ConfigError> {
    let gemma3 = family == Family::Gemma3;
    let mut arch = llama_block(j, head_dim, 1e-6)?;
    arch.norm = NormKind::RmsUnitOffset;
    arch.residual = Residual::Sandwich;
    arch.activation = match j.get("hidden_activation") {
        Some(_) => activation(j, "hidden_activation", Activation::GeluTanh)?,
        None => activation(j, "hidden_act", Activation::GeluTanh)?,
    };
    let bias = j.bool("attention_bias")?.unwrap_or(false);
    arch.qkv_bias = bias;
    arch.o_bias = bias;
    arch.qk_norm = gemma3;
    let scalar = j.f64("query_pre_attn_scalar")?.unwrap_or(256.0);
    if !(scalar.is_finite() && scalar > 0.0) {
        return Err(j.unsupported("query_pre_attn_scalar", scalar, "must be positive"));
    }
    arch.attention_scale = scalar.powf(-0.5);
    // Gemma 2 softcaps unless the config sets them to null; Gemma 3 only when it sets them.
    let (attn_cap, final_cap) = if gemma3 {
        (
            j.f64("attn_logit_softcapping")?,
            j.f64("final_logit_softcapping")?,
        )
    } else {
        (
            j.f64_or_off("attn_logit_softcapping", 50.0)?,
            j.f64_or_off("final_logit_softcapping", 30.0)?,
        )
    };
    arch.attn_softcap = attn_cap;
    arch.final_softcap = final_cap;
    let hidden = j.required("hidden_size")?;
    arch.embed_scale = Some((hidden as f64).sqrt() as f32);

    let window = Some(j.usize("sliding_window")?.unwrap_or(DEFAULT_WINDOW));
    let sliding: Vec<bool> = match windows_from_layer_types(j, layers, window)? {
        Some(w) => w.iter().map(Option::is_some).collect(),
        None => {
            // Gemma 2 alternates from layer 0; Gemma 3 has `pattern − 1` sliding layers per global one.
            let pattern = if gemma3 {
                match j.usize("sliding_window_pattern")? {
                    Some(p) => p,
                    None => j.usize("_sliding_window_pattern")?.unwrap_or(6),
                }
            } else {
                2
            };
            if pattern == 0 {
                return Err(j.unsupported("sliding_window_pattern", 0, "must be at least 1"));
            }
            (0..layers).map(|i| (i + 1) % pattern != 0).collect()
        }
    };
    let rd = rotary_dims(j, head_dim, "partial_rotary_factor")?;
    let global = j.rope(
        Some("full_attention"),
        if gemma3 { 1e6 } else { 10_000.0 },
        rd,
    )?;
    let ropes = if gemma3 {
        let local = match j
            .get("rope_parameters")
            .and_then(|p| p.get("sliding_attention"))
            .filter(|v| v.is_object())
        {
            Some(_) => j.rope(Some("sliding_attention"), 10_000.0, rd)?,
            None => RopeSpec {
                theta: j.f64("rope_local_base_freq")?.unwrap_or(10_000.0),
                scaling: RopeScaling::None,
                rotary_dims: rd,
            },
        };
        vec![global, local]
    } else {
        vec![global]
    };
    let layers = sliding
        .into_iter()
        .map(|s| LayerSpec {
            window: if s { window } else { None },
            rope: usize::from(s && gemma3),
        })
        .collect();
    Ok(FamilyParts {
        arch,
        ropes,
        layers,
        tied_by_default: true,
    })
}
