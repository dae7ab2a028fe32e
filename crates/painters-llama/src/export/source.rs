//! The model an export reads: an HF folder or a GGUF file.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::ExportError;
use crate::config::DecoderConfig;
use crate::load::{GgufSource, is_gguf};

/// An HF checkpoint folder, its `config.json` as JSON and as a configuration, and its weight files.
pub(crate) struct HfSource {
    pub dir: PathBuf,
    pub json: Map<String, Value>,
    pub config: DecoderConfig,
    pub(crate) files: Vec<PathBuf>,
    index_file: Option<PathBuf>,
}

impl HfSource {
    pub(crate) fn open(dir: &Path) -> Result<Self, ExportError> {
        if !dir.is_dir() {
            return Err(ExportError::Options(format!(
                "{}: not a folder with config.json and safetensors, nor a .gguf file",
                dir.display()
            )));
        }
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(ExportError::io(&config_path))?;
        let config =
            DecoderConfig::from_hf_json(&text, &config_path).map_err(crate::DecoderError::from)?;
        let json = match serde_json::from_str(&text) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(ExportError::Options(format!(
                    "{}: the top level is not a JSON object",
                    config_path.display()
                )));
            }
        };
        let index = dir.join("model.safetensors.index.json");
        let (files, index_file) = if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(ExportError::io(&index))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| ExportError::Tensor {
                path: index.clone(),
                tensor: "weight_map".into(),
                reason: e.to_string(),
            })?;
            let mut shards: Vec<String> = v
                .get("weight_map")
                .and_then(Value::as_object)
                .map(|m| {
                    m.values()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            if shards
                .iter()
                .any(|s| s.contains('/') || s.contains('\\') || s.contains(".."))
            {
                return Err(ExportError::Tensor {
                    path: index.clone(),
                    tensor: "weight_map".into(),
                    reason: "a shard name is not a file name in this folder".into(),
                });
            }
            (shards.iter().map(|s| dir.join(s)).collect(), Some(index))
        } else {
            (vec![dir.join("model.safetensors")], None)
        };
        Ok(HfSource {
            dir: dir.to_path_buf(),
            json,
            config,
            files,
            index_file,
        })
    }

    /// The files whose sha256 the export records: config and weights.
    pub(crate) fn provenance_files(&self) -> Vec<PathBuf> {
        let mut v = vec![self.dir.join("config.json")];
        v.extend(self.index_file.iter().cloned());
        v.extend(self.files.iter().cloned());
        v
    }
}

/// The source: an HF folder or a GGUF file.
pub(crate) enum Source {
    Hf(Box<HfSource>),
    Gguf(Box<GgufSource>),
}

impl Source {
    pub(crate) fn open(path: &Path) -> Result<Self, ExportError> {
        if is_gguf(path) {
            Ok(Source::Gguf(Box::new(GgufSource::open(path)?)))
        } else {
            Ok(Source::Hf(Box::new(HfSource::open(path)?)))
        }
    }
}

/// The configuration of `model` (an HF folder or a `.gguf` file), read without loading weights:
/// for commands that need the layer count (validating a mergekit recipe, showing an export's layer
/// map) before or instead of exporting.
pub fn read_config(model: &Path) -> Result<DecoderConfig, ExportError> {
    match Source::open(model)? {
        Source::Hf(h) => Ok(h.config),
        Source::Gguf(g) => Ok(g.config()?),
    }
}
