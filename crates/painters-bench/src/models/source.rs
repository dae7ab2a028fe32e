//! What a `--model` / `--device` pair names, loaded: the device, the local path (a hub spec
//! fetched into the HF cache first), the Llama or BERT model and its tokenizer, and the weight
//! file's sha256 that result keys and checkpoints are made of.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters_bert::{BertError, BertModel};
use painters_llama::tokenizer::TextTokenizer;
use painters_llama::{
    DecoderConfig, GgufSource, LlamaError, LlamaModel, LoadOptions, WeightMode, load_tokenizer,
};

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
    /// A text the tokenizer could not encode.
    #[error("tokenizer: {0}")]
    Encode(String),
    /// A weight mode other than f32 for a BERT model.
    #[error(
        "--weights {0}: BERT encoders run (and fine-tune) in f32 only; leave --weights out or pass --weights f32"
    )]
    WeightsOnBert(WeightMode),
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
    /// How a decoder's matrices are stored ([`WeightMode`]; f32 is the exact path). BERT models
    /// take f32 only.
    pub weights: WeightMode,
}

impl ModelSource {
    /// `model` on the CPU.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        ModelSource {
            model: model.into(),
            device: "cpu".into(),
            progress: false,
            weights: WeightMode::F32,
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

    /// The decoder at the local `path` (from [`Self::local_path`]), its matrices stored as
    /// [`Self::weights`] says.
    pub fn load_llama(&self, path: &Path) -> Result<LlamaModel, LoadError> {
        let options = LoadOptions {
            weights: self.weights,
            exec: None,
        };
        Ok(LlamaModel::load_with(path, &self.device()?, options)?)
    }

    /// The decoder's config at the local `path`, read without its weights (a GGUF's metadata or a
    /// folder's `config.json`): what a run checks before loading.
    pub fn decoder_config(path: &Path) -> Result<DecoderConfig, LoadError> {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            return Ok(GgufSource::open(path)?.config()?);
        }
        Ok(DecoderConfig::from_hf_file(path).map_err(LlamaError::from)?)
    }

    /// The tokenizer of the Llama model at `path`.
    pub fn llama_tokenizer(path: &Path) -> Result<TextTokenizer, LoadError> {
        Ok(load_tokenizer(path)?)
    }

    /// The BERT model at the local `path` (f32 weights only).
    pub fn load_bert(&self, path: &Path) -> Result<BertModel, LoadError> {
        self.check_bert_weights()?;
        Ok(BertModel::load(path, &self.device()?)?)
    }

    /// A BERT model takes f32 weights only: any other [`Self::weights`] is an error.
    pub fn check_bert_weights(&self) -> Result<(), LoadError> {
        match self.weights {
            WeightMode::F32 => Ok(()),
            other => Err(LoadError::WeightsOnBert(other)),
        }
    }

    /// The sha256 of the weight file of the model at `path` (lowercase hex).
    pub fn sha256(path: &Path) -> Result<String, LoadError> {
        Ok(sha256_file(&weight_file(path))?)
    }
}
