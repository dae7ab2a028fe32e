//! What a `--model` / `--device` pair names, loaded: the device, the local path (a hub spec
//! fetched into the HF cache first), the Llama or BERT model and its tokenizer, and the weight
//! file's sha256 that result keys and checkpoints are made of.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters_bert::{BertError, BertModel};
use painters_llama::tokenizer::TextTokenizer;
use painters_llama::{LlamaError, LlamaModel, load_tokenizer};

use crate::device;
use crate::hub::{HubError, resolve_model_arg};
use crate::models::files::{ModelError, is_bert_folder, sha256_file, weight_file};

/// Why the model a run names could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The device name is unknown or not in this build.
    #[error("{0}")]
    Device(String),
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The Llama model (or its tokenizer) could not be read.
    #[error(transparent)]
    Llama(#[from] LlamaError),
    #[error(transparent)]
    Bert(#[from] BertError),
    /// The weight file could not be hashed.
    #[error(transparent)]
    Hash(#[from] ModelError),
}

/// A model named as on the command line: a HF checkpoint folder, a `.gguf` file, or
/// `hf:OWNER/NAME[@REVISION][:FILE.gguf]`; and the device to run it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSource {
    pub model: PathBuf,
    /// `cpu`, `wgpu` or `cuda[:N]`, as this build's features allow.
    pub device: String,
    /// Show a hub download's progress on stderr.
    pub progress: bool,
}

impl ModelSource {
    /// `model` on the CPU.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        ModelSource {
            model: model.into(),
            device: "cpu".into(),
            progress: false,
        }
    }

    /// The compute device.
    pub fn device(&self) -> Result<Device, LoadError> {
        device::by_name(&self.device).map_err(LoadError::Device)
    }

    /// The local path of the model: as given, or a hub spec fetched into (or found in) the HF
    /// cache.
    pub fn local_path(&self) -> Result<PathBuf, LoadError> {
        Ok(resolve_model_arg(&self.model, self.progress)?)
    }

    /// Whether the model is a HF BERT folder (see [`is_bert_folder`]).
    pub fn is_bert(path: &Path) -> bool {
        is_bert_folder(path)
    }

    /// The Llama model at the local `path` (from [`Self::local_path`]) and its tokenizer.
    pub fn load_llama(&self, path: &Path) -> Result<LlamaModel, LoadError> {
        Ok(LlamaModel::load(path, &self.device()?)?)
    }

    /// The tokenizer of the Llama model at `path`.
    pub fn llama_tokenizer(path: &Path) -> Result<TextTokenizer, LoadError> {
        Ok(load_tokenizer(path)?)
    }

    /// The BERT model at the local `path`.
    pub fn load_bert(&self, path: &Path) -> Result<BertModel, LoadError> {
        Ok(BertModel::load(path, &self.device()?)?)
    }

    /// The sha256 of the weight file of the model at `path` (lowercase hex).
    pub fn sha256(path: &Path) -> Result<String, LoadError> {
        Ok(sha256_file(&weight_file(path))?)
    }
}
