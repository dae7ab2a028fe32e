//! Llama hyper-parameters, from HF `config.json` or from GGUF metadata.
//!
//! HF configs have drifted over the years (`rope_theta` at the top level vs inside `rope_parameters`,
//! `torch_dtype` vs `dtype`, `rope_scaling` vs `rope_type` inside `rope_parameters`), so the serde struct
//! accepts each spelling and [`LlamaConfig::from_hf_json`] resolves them into one runtime config.
//! Values we do not implement (another activation, attention biases, an unknown RoPE type) are errors:
//! a silent default would give wrong numbers that look plausible.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::gguf::GgufLlamaMeta;

/// Errors in a model configuration; each names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid Llama config.json: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: field `{field}` is missing")]
    Missing { path: PathBuf, field: &'static str },
    #[error("{path}: field `{field}` = {value} is not supported: {reason}")]
    Unsupported {
        path: PathBuf,
        field: &'static str,
        value: String,
        reason: String,
    },
}

/// RoPE frequency scaling.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// `linear`: positions divided by `factor` (inverse frequencies divided by it).
    Linear { factor: f64 },
    /// `llama3` (Llama 3.1 / 3.2): low frequencies divided by `factor`, high ones kept, smooth between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

/// The runtime configuration of a Llama model.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// The checkpoint's stored dtype, informational (weights are converted to f32).
    pub dtype: Option<String>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

/// `config.json` as HF writes it; every spelling we accept.
#[derive(Deserialize)]
struct HfConfig {
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_parameters: Option<serde_json::Value>,
    rope_scaling: Option<serde_json::Value>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    dtype: Option<String>,
    torch_dtype: Option<String>,
    hidden_act: Option<String>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    model_type: Option<String>,
    bos_token_id: Option<serde_json::Value>,
    eos_token_id: Option<serde_json::Value>,
}

fn token_ids(v: &Option<serde_json::Value>) -> Vec<u32> {
    match v {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|x| x as u32).into_iter().collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64())
            .map(|x| x as u32)
            .collect(),
        _ => Vec::new(),
    }
}

impl LlamaConfig {
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

    /// Parse the text of a `config.json`; `path` is only used in error messages.
    pub fn from_hf_json(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let c: HfConfig = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let missing = |field| ConfigError::Missing {
            path: path.to_path_buf(),
            field,
        };
        let unsupported = |field, value: String, reason: &str| ConfigError::Unsupported {
            path: path.to_path_buf(),
            field,
            value,
            reason: reason.to_string(),
        };
        if let Some(t) = &c.model_type
            && !matches!(t.as_str(), "llama" | "mistral" | "qwen2" | "smollm")
        {
            return Err(unsupported(
                "model_type",
                t.clone(),
                "expected a Llama-architecture model",
            ));
        }
        if let Some(act) = &c.hidden_act
            && act != "silu"
        {
            return Err(unsupported(
                "hidden_act",
                act.clone(),
                "Llama blocks use SiLU (SwiGLU)",
            ));
        }
        if c.attention_bias == Some(true) {
            return Err(unsupported(
                "attention_bias",
                "true".into(),
                "attention biases are not implemented",
            ));
        }
        if c.mlp_bias == Some(true) {
            return Err(unsupported(
                "mlp_bias",
                "true".into(),
                "MLP biases are not implemented",
            ));
        }
        let hidden_size = c.hidden_size.ok_or_else(|| missing("hidden_size"))?;
        let heads = c
            .num_attention_heads
            .ok_or_else(|| missing("num_attention_heads"))?;
        let kv_heads = c.num_key_value_heads.unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(unsupported(
                "num_key_value_heads",
                kv_heads.to_string(),
                &format!("must divide num_attention_heads = {heads}"),
            ));
        }
        let head_dim = c.head_dim.unwrap_or(hidden_size / heads);
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(unsupported(
                "head_dim",
                head_dim.to_string(),
                "RoPE needs an even head dimension",
            ));
        }
        // rope_theta: top level (classic), or inside rope_parameters (transformers ≥ 5).
        let params = c.rope_parameters.as_ref().and_then(|p| p.as_object());
        let rope_theta = c
            .rope_theta
            .or_else(|| {
                params
                    .and_then(|p| p.get("rope_theta"))
                    .and_then(|v| v.as_f64())
            })
            .unwrap_or(10_000.0);
        // Scaling: `rope_scaling` (classic) or the type inside `rope_parameters`.
        let scaling_obj = match (&c.rope_scaling, params) {
            (Some(v), _) if !v.is_null() => v.as_object().cloned(),
            (_, Some(p)) => Some(p.clone()),
            _ => None,
        };
        let rope_scaling = match scaling_obj {
            None => RopeScaling::None,
            Some(o) => {
                let kind = o
                    .get("rope_type")
                    .or_else(|| o.get("type"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("default");
                let num = |k: &'static str| -> Result<f64, ConfigError> {
                    o.get(k)
                        .and_then(|v| v.as_f64())
                        .ok_or_else(|| ConfigError::Missing {
                            path: path.to_path_buf(),
                            field: k,
                        })
                };
                match kind {
                    "default" => RopeScaling::None,
                    "linear" => RopeScaling::Linear {
                        factor: num("factor")?,
                    },
                    "llama3" => RopeScaling::Llama3 {
                        factor: num("factor")?,
                        low_freq_factor: num("low_freq_factor")?,
                        high_freq_factor: num("high_freq_factor")?,
                        original_max_position_embeddings: num("original_max_position_embeddings")?,
                    },
                    other => {
                        return Err(unsupported(
                            "rope_scaling.rope_type",
                            other.to_string(),
                            "supported: default, linear, llama3",
                        ));
                    }
                }
            }
        };
        let dtype = c.dtype.or(c.torch_dtype);
        if let Some(d) = &dtype
            && !matches!(d.as_str(), "float32" | "float16" | "bfloat16")
        {
            return Err(unsupported(
                "dtype",
                d.clone(),
                "supported: float32, float16, bfloat16",
            ));
        }
        Ok(LlamaConfig {
            vocab_size: c.vocab_size.ok_or_else(|| missing("vocab_size"))?,
            hidden_size,
            intermediate_size: c
                .intermediate_size
                .ok_or_else(|| missing("intermediate_size"))?,
            num_hidden_layers: c
                .num_hidden_layers
                .ok_or_else(|| missing("num_hidden_layers"))?,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            rms_norm_eps: c.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            max_position_embeddings: c
                .max_position_embeddings
                .ok_or_else(|| missing("max_position_embeddings"))?,
            tie_word_embeddings: c.tie_word_embeddings.unwrap_or(false),
            dtype,
            bos_token_id: token_ids(&c.bos_token_id).first().copied(),
            eos_token_ids: token_ids(&c.eos_token_id),
        })
    }

    /// The config of a GGUF file's Llama metadata. GGUF stores no tie flag: the head is tied exactly
    /// when the file has no `output.weight`, which the caller knows.
    pub fn from_gguf(m: &GgufLlamaMeta, tied: bool, special: (Option<u32>, Option<u32>)) -> Self {
        LlamaConfig {
            vocab_size: m.vocab_size,
            hidden_size: m.embedding_length,
            intermediate_size: m.feed_forward_length,
            num_hidden_layers: m.block_count,
            num_attention_heads: m.head_count,
            num_key_value_heads: m.head_count_kv,
            head_dim: m.head_dim(),
            rms_norm_eps: m.rms_eps as f64,
            rope_theta: m.rope_freq_base as f64,
            rope_scaling: RopeScaling::None,
            max_position_embeddings: m.context_length,
            tie_word_embeddings: tied,
            dtype: None,
            bos_token_id: special.0,
            eos_token_ids: special.1.into_iter().collect(),
        }
    }

    /// RoPE inverse frequencies (`head_dim / 2` of them), with the configured scaling applied,
    /// computed in f64 and rounded once, as HF computes them in float32 from `arange`.
    pub fn inv_freq(&self) -> Vec<f32> {
        let half = self.head_dim / 2;
        (0..half)
            .map(|i| {
                let exponent = (2 * i) as f32 / self.head_dim as f32;
                let f = 1.0 / (self.rope_theta as f32).powf(exponent);
                match self.rope_scaling {
                    RopeScaling::None => f,
                    RopeScaling::Linear { factor } => f / factor as f32,
                    RopeScaling::Llama3 {
                        factor,
                        low_freq_factor,
                        high_freq_factor,
                        original_max_position_embeddings: old,
                    } => {
                        let (factor, lo, hi, old) = (
                            factor as f32,
                            low_freq_factor as f32,
                            high_freq_factor as f32,
                            old as f32,
                        );
                        let wavelen = 2.0 * std::f32::consts::PI / f;
                        let (low_wavelen, high_wavelen) = (old / lo, old / hi);
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - lo) / (hi - lo);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LlamaConfig, ConfigError> {
        LlamaConfig::from_hf_json(text, Path::new("config.json"))
    }

    const BASE: &str = r#""vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 6, "num_attention_heads": 4, "max_position_embeddings": 128"#;

    #[test]
    fn rope_theta_in_either_place() {
        let a = parse(&format!("{{{BASE}, \"rope_theta\": 500000.0}}")).unwrap();
        let b = parse(&format!(
            "{{{BASE}, \"rope_parameters\": {{\"rope_theta\": 500000.0, \"rope_type\": \"default\"}}}}"
        ))
        .unwrap();
        assert_eq!(a.rope_theta, 500000.0);
        assert_eq!(a, b);
        assert_eq!(
            a.num_key_value_heads, 4,
            "MHA when num_key_value_heads is absent"
        );
        assert_eq!(a.head_dim, 16);
    }

    #[test]
    fn rope_scaling_types() {
        let l3 = parse(&format!(
            "{{{BASE}, \"rope_scaling\": {{\"rope_type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0, \
             \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}}}"
        ))
        .unwrap();
        assert!(matches!(l3.rope_scaling, RopeScaling::Llama3 { .. }));
        let plain = parse(&format!("{{{BASE}}}")).unwrap();
        let (a, b) = (plain.inv_freq(), l3.inv_freq());
        assert_eq!(a[0], b[0], "the highest frequency is kept");
        assert!(
            (b[7] - a[7] / 32.0).abs() < 1e-12,
            "the lowest is divided by the factor"
        );
        let lin = parse(&format!(
            "{{{BASE}, \"rope_scaling\": {{\"type\": \"linear\", \"factor\": 2.0}}}}"
        ))
        .unwrap();
        assert_eq!(lin.inv_freq()[3], a[3] / 2.0);
        let e = parse(&format!(
            "{{{BASE}, \"rope_scaling\": {{\"rope_type\": \"yarn\", \"factor\": 2.0}}}}"
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("rope_scaling.rope_type` = yarn"),
            "{e}"
        );
    }

    #[test]
    fn unsupported_and_missing_fields_are_named() {
        let e = parse(&format!("{{{BASE}, \"hidden_act\": \"gelu\"}}")).unwrap_err();
        assert!(e.to_string().contains("`hidden_act` = gelu"), "{e}");
        let e = parse(&format!("{{{BASE}, \"num_key_value_heads\": 3}}")).unwrap_err();
        assert!(e.to_string().contains("num_key_value_heads"), "{e}");
        let e = parse(r#"{"hidden_size": 64, "num_attention_heads": 4}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("config.json: field `vocab_size` is missing"),
            "{e}"
        );
        let e = parse(&format!("{{{BASE}, \"torch_dtype\": \"int8\"}}")).unwrap_err();
        assert!(e.to_string().contains("`dtype` = int8"), "{e}");
        assert!(matches!(parse("{"), Err(ConfigError::Parse { .. })));
    }
}
