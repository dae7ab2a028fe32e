//! The model's hyper-parameters, read from a HF `config.json`.
//!
//! The struct mirrors HF's `BertConfig` field for field, so a fine-tuned model's config can be
//! written back out in the same form. Reading does not go through serde's derive, though: the
//! shape-defining fields (sizes, counts, the activation) have HF defaults (768, 12, …) that would
//! silently turn a truncated file into a different model, so here they are required, and every
//! field is read on its own so that an error can name it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ConfigError;

/// HF `BertConfig`, restricted to what an absolute-position, erf-GELU BERT encoder needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    /// Always `"gelu"` (exact erf GELU) once validated.
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    /// Always `"absolute"` once validated.
    pub position_embedding_type: String,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    /// Dropout before a sequence-classification head; HF falls back to `hidden_dropout_prob`.
    pub classifier_dropout: Option<f64>,
    pub initializer_range: f64,
    pub pad_token_id: usize,
    /// Label names of a classification checkpoint (`{"0": "negative", …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// `"regression"`, `"single_label_classification"`, … when the checkpoint says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default = "bert")]
    pub model_type: String,
}

fn bert() -> String {
    "bert".into()
}

impl BertConfig {
    /// Read and validate `config.json` (or the `config.json` inside a model directory).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("config.json");
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        Self::from_json_str(&text, &path)
    }

    /// Parse and validate config text; `path` is only used in error messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let obj = value.as_object().ok_or_else(|| ConfigError::Json {
            path: path.to_path_buf(),
            message: "the top level is not an object".into(),
        })?;
        let r = Reader { path, obj };
        let cfg = BertConfig {
            vocab_size: r.positive("vocab_size")?,
            hidden_size: r.positive("hidden_size")?,
            num_hidden_layers: r.positive("num_hidden_layers")?,
            num_attention_heads: r.positive("num_attention_heads")?,
            intermediate_size: r.positive("intermediate_size")?,
            hidden_act: r.required("hidden_act")?,
            max_position_embeddings: r.positive("max_position_embeddings")?,
            type_vocab_size: r.positive("type_vocab_size")?,
            layer_norm_eps: r.required("layer_norm_eps")?,
            // transformers >= 5 no longer writes this key; absent means HF's default.
            position_embedding_type: r
                .optional("position_embedding_type")?
                .unwrap_or_else(|| "absolute".into()),
            hidden_dropout_prob: r.optional("hidden_dropout_prob")?.unwrap_or(0.1),
            attention_probs_dropout_prob: r
                .optional("attention_probs_dropout_prob")?
                .unwrap_or(0.1),
            classifier_dropout: r.optional("classifier_dropout")?,
            initializer_range: r.optional("initializer_range")?.unwrap_or(0.02),
            pad_token_id: r.optional("pad_token_id")?.unwrap_or(0),
            id2label: r.optional("id2label")?,
            problem_type: r.optional("problem_type")?,
            architectures: r.optional("architectures")?.unwrap_or_default(),
            model_type: r.optional("model_type")?.unwrap_or_else(bert),
        };
        if r.optional::<bool>("is_decoder")?.unwrap_or(false) {
            return Err(r.invalid(
                "is_decoder",
                "decoder (causal) BERT is not supported".into(),
            ));
        }
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Check the values the model code relies on (and the two supported-variant fields).
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            reason,
        };
        if self.hidden_act != "gelu" {
            return Err(invalid(
                "hidden_act",
                format!(
                    "{:?} is not supported; only \"gelu\" (exact erf GELU) is",
                    self.hidden_act
                ),
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(invalid(
                "position_embedding_type",
                format!(
                    "{:?} is not supported; only \"absolute\" is",
                    self.position_embedding_type
                ),
            ));
        }
        if !self
            .hidden_size
            .is_multiple_of(self.num_attention_heads.max(1))
        {
            return Err(invalid(
                "num_attention_heads",
                format!(
                    "{} heads do not divide hidden_size {}",
                    self.num_attention_heads, self.hidden_size
                ),
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(invalid(
                "layer_norm_eps",
                format!(
                    "must be a positive finite number, got {}",
                    self.layer_norm_eps
                ),
            ));
        }
        for (field, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
            ("classifier_dropout", self.classifier_dropout.unwrap_or(0.0)),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(invalid(
                    field,
                    format!("{p} is not a probability in [0, 1)"),
                ));
            }
        }
        Ok(())
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Dropout in front of a classification head, as HF resolves it.
    pub fn classifier_dropout_prob(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }
}

/// Reads single fields of the config object, turning each failure into an error naming the field.
struct Reader<'a> {
    path: &'a Path,
    obj: &'a Map<String, Value>,
}

impl Reader<'_> {
    fn invalid(&self, field: &'static str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            path: PathBuf::from(self.path),
            field,
            reason,
        }
    }

    /// `None` when the key is absent or `null` (HF writes `null` for "use the default").
    fn optional<T: serde::de::DeserializeOwned>(
        &self,
        field: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| self.invalid(field, format!("{e} (found {v})"))),
        }
    }

    fn required<T: serde::de::DeserializeOwned>(
        &self,
        field: &'static str,
    ) -> Result<T, ConfigError> {
        self.optional(field)?.ok_or(ConfigError::Missing {
            path: PathBuf::from(self.path),
            field,
        })
    }

    fn positive(&self, field: &'static str) -> Result<usize, ConfigError> {
        let v: usize = self.required(field)?;
        if v == 0 {
            return Err(self.invalid(field, "must be greater than zero".into()));
        }
        Ok(v)
    }
}
