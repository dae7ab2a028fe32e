//! A decoder's configuration from HF `config.json`: `model_type` picks the family, whose
//! description reads the rest.

use std::path::Path;

use super::common::FamilyParts;
use super::kind::Family;
use super::{gemma, gpt_neox, llama, phi3, qwen};
use crate::config::hf::HfJson;
use crate::config::{ConfigError, DecoderConfig};

impl DecoderConfig {
    /// Read `config.json` from a checkpoint directory (or the file itself).
    pub fn from_hf_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("config.json");
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_hf_json(&text, &path)
    }

    /// Parse the text of a `config.json`; `path` is only used in error messages. Dispatches on
    /// `model_type` to the family's description ([`crate::family`]).
    pub fn from_hf_json(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let j = HfJson::parse(text, path)?;
        let model_type = j
            .str("model_type")?
            .ok_or_else(|| j.missing("model_type"))?;
        let family = Family::from_model_type(model_type).ok_or_else(|| {
            j.unsupported(
                "model_type",
                model_type,
                format!("supported: {}", Family::MODEL_TYPES.join(", ")),
            )
        })?;
        for key in ["num_local_experts", "num_experts", "n_routed_experts"] {
            if j.usize(key)?.is_some_and(|n| n > 0) {
                return Err(j.unsupported(
                    "num_experts",
                    key,
                    "mixture-of-experts MLPs are not implemented",
                ));
            }
        }
        let hidden_size = j.required("hidden_size")?;
        let heads = j.required("num_attention_heads")?;
        if heads == 0 {
            return Err(j.unsupported("num_attention_heads", 0, "must be greater than zero"));
        }
        let kv_heads = j.usize("num_key_value_heads")?.unwrap_or(heads);
        let head_dim = j.usize("head_dim")?.unwrap_or(hidden_size / heads);
        let num_hidden_layers = j.required("num_hidden_layers")?;
        let parts = describe_hf(family, &j, head_dim, num_hidden_layers)?;
        let dtype = match j.str("dtype")? {
            Some(d) => Some(d.to_string()),
            None => j.str("torch_dtype")?.map(str::to_string),
        };
        if let Some(d) = &dtype
            && !matches!(d.as_str(), "float32" | "float16" | "bfloat16")
        {
            return Err(j.unsupported("dtype", d, "supported: float32, float16, bfloat16"));
        }
        let config = DecoderConfig {
            family,
            vocab_size: j.required("vocab_size")?,
            hidden_size,
            intermediate_size: j.required("intermediate_size")?,
            num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            arch: parts.arch,
            ropes: parts.ropes,
            layers: parts.layers,
            max_position_embeddings: j.required("max_position_embeddings")?,
            tie_word_embeddings: j
                .bool("tie_word_embeddings")?
                .unwrap_or(parts.tied_by_default),
            dtype,
            bos_token_id: j.token_ids("bos_token_id").first().copied(),
            eos_token_ids: j.token_ids("eos_token_id"),
        };
        config.validate(path)?;
        Ok(config)
    }
}

/// The family's description of an HF config with `head_dim` and `layers` already read.
fn describe_hf(
    family: Family,
    j: &HfJson,
    head_dim: usize,
    layers: usize,
) -> Result<FamilyParts, ConfigError> {
    match family {
        Family::Llama | Family::Mistral => llama::describe(family, j, head_dim, layers),
        Family::Qwen2 | Family::Qwen3 => qwen::describe(family, j, head_dim, layers),
        Family::Gemma2 | Family::Gemma3 => gemma::describe(family, j, head_dim, layers),
        Family::Phi3 => phi3::describe(j, head_dim, layers),
        Family::GptNeoX => gpt_neox::describe(j, head_dim, layers),
    }
}
