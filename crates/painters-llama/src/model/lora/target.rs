//! The projections an adapter can sit on.

use super::error::LoraError;
use crate::config::DecoderConfig;

/// A projection of a decoder block an adapter can sit on, named as PEFT's `target_modules` names
/// it for Llama-style checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoraTarget {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl LoraTarget {
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::Q,
        LoraTarget::K,
        LoraTarget::V,
        LoraTarget::O,
        LoraTarget::Gate,
        LoraTarget::Up,
        LoraTarget::Down,
    ];

    /// `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`.
    pub fn name(self) -> &'static str {
        match self {
            LoraTarget::Q => "q_proj",
            LoraTarget::K => "k_proj",
            LoraTarget::V => "v_proj",
            LoraTarget::O => "o_proj",
            LoraTarget::Gate => "gate_proj",
            LoraTarget::Up => "up_proj",
            LoraTarget::Down => "down_proj",
        }
    }

    /// The target a PEFT module name names.
    pub fn from_name(name: &str) -> Result<Self, LoraError> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| LoraError::UnknownTarget(name.to_string()))
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// `(in, out)` features of this projection in a model of `config`; None where the model has
    /// no such projection (no gate in a plain MLP).
    pub fn dims(self, c: &DecoderConfig) -> Option<(usize, usize)> {
        let (d, hd, ffn) = (c.hidden_size, c.head_dim, c.intermediate_size);
        Some(match self {
            LoraTarget::Q => (d, c.num_attention_heads * hd),
            LoraTarget::K | LoraTarget::V => (d, c.num_key_value_heads * hd),
            LoraTarget::O => (c.num_attention_heads * hd, d),
            LoraTarget::Gate if !c.arch.gated_mlp => return None,
            LoraTarget::Gate | LoraTarget::Up => (d, ffn),
            LoraTarget::Down => (ffn, d),
        })
    }
}
