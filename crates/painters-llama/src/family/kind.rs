//! Which family a model is: the names HF and GGUF give it, and where its HF checkpoints keep
//! each weight.

use super::names::{self, TensorNames};

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
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}
