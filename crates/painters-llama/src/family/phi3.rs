//! Phi-3: Llama's block with fused `qkv_proj` and `gate_up_proj` tensors and partial rotary;
//! `sliding_window`, when set, applies to every layer (as HF's Mistral-derived mask does).

use super::common::{FamilyParts, llama_block, rotary_dims, single_rope_layers, sliding_window};
use crate::config::ConfigError;
use crate::config::hf::HfJson;

pub(super) fn describe(
    j: &HfJson,
    head_dim: usize,
    layers: usize,
) -> Result<FamilyParts, ConfigError> {
    let arch = llama_block(j, head_dim, 1e-5)?;
    let window = sliding_window(j)?;
    let rope = j.rope(
        None,
        10_000.0,
        rotary_dims(j, head_dim, "partial_rotary_factor")?,
    )?;
    Ok(FamilyParts {
        arch,
        ropes: vec![rope],
        layers: single_rope_layers(vec![window; layers]),
        tied_by_default: false,
    })
}
