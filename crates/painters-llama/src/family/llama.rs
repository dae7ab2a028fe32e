//! Llama (and SmolLM, Llama 2/3) and Mistral: the base description; Mistral adds a sliding window
//! on every layer.

use super::common::{FamilyParts, llama_block, rotary_dims, single_rope_layers, sliding_window};
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
    let window = match family {
        Family::Mistral => sliding_window(j)?,
        _ => {
            // Llama's attention and MLP projections all take their bias flag from the config.
            let bias = j.bool("attention_bias")?.unwrap_or(false);
            arch.qkv_bias = bias;
            arch.o_bias = bias;
            arch.mlp_bias = j.bool("mlp_bias")?.unwrap_or(false);
            None
        }
    };
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
