//! Qwen2 / Qwen2.5 (q/k/v biases) and Qwen3 (per-head q/k RMSNorm, explicit `head_dim`). Sliding
//! layers come from `layer_types`, or from `use_sliding_window` with `max_window_layers`.

use super::common::{
    FamilyParts, llama_block, rotary_dims, single_rope_layers, sliding_window,
    windows_from_layer_types,
};
use super::kind::Family;
use crate::config::ConfigError;
use crate::config::hf::HfJson;

pub(super) fn describe(
    family: Family,
    j: &HfJson,
    head_dim: usize,
    layers: usize,
) -> Result<FamilyParts, ConfigError> {
    let mut arch = llama_block(j, head_dim, 1e-6)?;
    if family == Family::Qwen2 {
        // Qwen2Attention: q/k/v projections always carry biases, o_proj never.
        arch.qkv_bias = true;
    } else {
        arch.qk_norm = true;
        let bias = j.bool("attention_bias")?.unwrap_or(false);
        arch.qkv_bias = bias;
        arch.o_bias = bias;
    }
    let window = sliding_window(j)?;
    let windows = match windows_from_layer_types(j, layers, window)? {
        Some(w) => w,
        None if j.bool("use_sliding_window")?.unwrap_or(false) => {
            let from = j.usize("max_window_layers")?.unwrap_or(layers);
            (0..layers)
                .map(|i| if i >= from { window } else { None })
                .collect()
        }
        None => vec![None; layers],
    };
    let rope = j.rope(
        None,
        10_000.0,
        rotary_dims(j, head_dim, "partial_rotary_factor")?,
    )?;
    Ok(FamilyParts {
        arch,
        ropes: vec![rope],
        layers: single_rope_layers(windows),
        tied_by_default: false,
    })
}
