//! Reading HF `config.json`.
//!
//! HF configs have drifted over the years (`rope_theta` at the top level vs inside
//! `rope_parameters`, `torch_dtype` vs `dtype`, `rope_scaling` vs `rope_type` inside
//! `rope_parameters`, per-layer-type `rope_parameters` in transformers ≥ 5), and some keys mean
//! different things when absent and when `null` (Gemma 2's softcaps). So the file is kept as a JSON
//! object and read through [`HfJson`]'s typed accessors, which name the key in every error; the
//! family descriptions in [`crate::family`] pick what they need.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::ConfigError;
use super::rope::{RopeScaling, RopeSpec, parse_scaling};

/// A parsed `config.json` and its path (for error messages).
pub(crate) struct HfJson {
    map: Map<String, Value>,
    path: PathBuf,
}

impl HfJson {
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        match value {
            Value::Object(map) => Ok(HfJson {
                map,
                path: path.to_path_buf(),
            }),
            _ => Err(ConfigError::Parse {
                path: path.to_path_buf(),
                message: "the top level is not a JSON object".into(),
            }),
        }
    }

    /// The raw value of `key`, None when absent or `null`.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is present (even as `null`).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn wrong_type(&self, key: &str, want: &str) -> ConfigError {
        ConfigError::Parse {
            path: self.path.clone(),
            message: format!("field `{key}` is not {want}"),
        }
    }

    pub(crate) fn missing(&self, field: &'static str) -> ConfigError {
        ConfigError::Missing {
            path: self.path.clone(),
            field,
        }
    }

    pub(crate) fn unsupported(
        &self,
        field: &'static str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Unsupported {
            path: self.path.clone(),
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn usize(&self, key: &str) -> Result<Option<usize>, ConfigError> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .and_then(|x| usize::try_from(x).ok())
                    .ok_or_else(|| self.wrong_type(key, "a non-negative integer"))
            })
            .transpose()
    }

    pub(crate) fn required(&self, key: &'static str) -> Result<usize, ConfigError> {
        self.usize(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn f64(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        self.get(key)
            .map(|v| v.as_f64().ok_or_else(|| self.wrong_type(key, "a number")))
            .transpose()
    }

    /// A number that defaults to `default` when absent but means "off" when `null`.
    pub(crate) fn f64_or_off(&self, key: &str, default: f64) -> Result<Option<f64>, ConfigError> {
        if self.has(key) {
            self.f64(key)
        } else {
            Ok(Some(default))
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| self.wrong_type(key, "true or false"))
            })
            .transpose()
    }

    pub(crate) fn str(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        self.get(key)
            .map(|v| v.as_str().ok_or_else(|| self.wrong_type(key, "a string")))
            .transpose()
    }

    /// `layer_types` (transformers ≥ 4.54): `sliding_attention` / `full_attention` per layer.
    pub(crate) fn layer_types(&self) -> Result<Option<Vec<bool>>, ConfigError> {
        let Some(v) = self.get("layer_types") else {
            return Ok(None);
        };
        let list = v
            .as_array()
            .ok_or_else(|| self.wrong_type("layer_types", "a list"))?;
        list.iter()
            .map(|t| match t.as_str() {
                Some("sliding_attention") => Ok(true),
                Some("full_attention") => Ok(false),
                _ => Err(self.unsupported(
                    "layer_types",
                    t,
                    "entries must be \"sliding_attention\" or \"full_attention\"",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The RoPE table of `rope_parameters` (transformers ≥ 5; for per-layer-type parameters, the
    /// entry `layer_type`) or of the classic `rope_theta` / `rope_scaling`, rotating `rotary_dims`.
    pub(crate) fn rope(
        &self,
        layer_type: Option<&str>,
        default_theta: f64,
        rotary_dims: usize,
    ) -> Result<RopeSpec, ConfigError> {
        let params = self.get("rope_parameters").and_then(Value::as_object);
        let params = match (params, layer_type) {
            (Some(p), Some(t)) if p.contains_key(t) => p.get(t).and_then(Value::as_object),
            (Some(p), _) if p.values().all(|v| !v.is_object()) => Some(p),
            _ => None,
        };
        let theta = match params.and_then(|p| p.get("rope_theta")) {
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.wrong_type("rope_parameters.rope_theta", "a number"))?,
            None => self.f64("rope_theta")?.unwrap_or(default_theta),
        };
        let classic = self.get("rope_scaling").and_then(Value::as_object);
        let scaling = match (classic, params) {
            (Some(o), _) => parse_scaling(o, "rope_scaling.rope_type", &self.path)?,
            (None, Some(p)) => parse_scaling(p, "rope_parameters.rope_type", &self.path)?,
            (None, None) => RopeScaling::None,
        };
        Ok(RopeSpec {
            theta,
            scaling,
            rotary_dims,
        })
    }

    /// Token ids given as a number or a list of numbers.
    pub(crate) fn token_ids(&self, key: &str) -> Vec<u32> {
        match self.get(key) {
            Some(Value::Number(n)) => n.as_u64().map(|x| x as u32).into_iter().collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_u64)
                .map(|x| x as u32)
                .collect(),
            _ => Vec::new(),
        }
    }
}
