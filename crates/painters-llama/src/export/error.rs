//! Errors of checkpoint export.

use std::path::PathBuf;

use painters::mergekit::StackError;

use crate::DecoderError;

/// Everything that can stop an export. Each variant names the file, tensor, key, step or block
/// involved, and says why.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The schedule is not a plain stack of blocks (a parallel step), runs no block, or does not
    /// fit the model.
    #[error("cannot export this schedule: {0}")]
    Schedule(#[from] StackError),
    /// Reading the source model (config, weights, GGUF, tokenizer) failed.
    #[error(transparent)]
    Source(#[from] DecoderError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The output exists and is not empty.
    #[error(
        "{path} already exists and is not empty; choose another output or ask to overwrite it (--overwrite)"
    )]
    OutputExists { path: PathBuf },
    /// The output would replace the source.
    #[error("{out} is the source model itself; export into another path")]
    OutputIsSource { out: PathBuf },
    /// A layer's property that the target format cannot express at its new position.
    #[error(
        "layer {layer} of the export (source block {block}): its {property} cannot be expressed in {format}: {detail}"
    )]
    Inexpressible {
        /// The layer's index in the exported model.
        layer: usize,
        /// The source block it copies.
        block: usize,
        /// What cannot be expressed (e.g. "attention window (sliding / global)").
        property: &'static str,
        /// The target format (e.g. "a GGUF file of architecture gemma3").
        format: String,
        detail: String,
    },
    /// A model-level setting the target format cannot express.
    #[error("{what} cannot be expressed in {format}: {detail}")]
    Unsupported {
        what: String,
        format: String,
        detail: String,
    },
    /// A config key that holds one entry per layer, which the exporter does not know how to reorder.
    #[error(
        "{path}: `{key}` has one entry per layer ({len}), and painters does not know what it means, so it cannot reorder it; remove it from the config or report it"
    )]
    UnknownPerLayerKey {
        path: PathBuf,
        key: String,
        len: usize,
    },
    /// A tensor of the source that the exporter cannot place.
    #[error("{path}: tensor `{tensor}`: {reason}")]
    Tensor {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
    /// The tokenizer could not be exported.
    #[error(
        "{path}: the tokenizer cannot be exported: {reason}; export the weights alone with --no-tokenizer (ExportOptions::skip_tokenizer)"
    )]
    Tokenizer { path: PathBuf, reason: String },
    /// An option that does not apply to the chosen format or source.
    #[error("{0}")]
    Options(String),
    /// Writing a safetensors shard failed.
    #[error("{path}: cannot write safetensors: {message}")]
    Safetensors { path: PathBuf, message: String },
}

impl ExportError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ExportError {
        let path = path.into();
        move |source| ExportError::Io { path, source }
    }
}

impl From<painters::weights::WeightError> for ExportError {
    fn from(e: painters::weights::WeightError) -> Self {
        ExportError::Source(DecoderError::Weights(e))
    }
}
