//! Errors of the decoder adapter.

use painters::ExecError;

/// Errors of the decoder adapter: loading (config, weights, GGUF, tokenizer) and running.
#[derive(Debug, thiserror::Error)]
pub enum DecoderError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Weights(#[from] painters::weights::WeightError),
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Schedule(#[from] painters::ScheduleError),
    #[error("token id {id} is outside the vocabulary (size {vocab})")]
    TokenOutOfRange { id: u32, vocab: usize },
    #[error(
        "sequence of {len} positions exceeds the model's maximum of {max} (max_position_embeddings); truncate the input"
    )]
    TooLong { len: usize, max: usize },
    #[error(
        "{}: tensor `{tensor}` is not used by the model{}: {hint}",
        .path.display(),
        if *.count > 1 { format!(" (nor are {} more)", .count - 1) } else { String::new() }
    )]
    UnusedTensors {
        path: std::path::PathBuf,
        tensor: String,
        count: usize,
        hint: String,
    },
    #[error("bad input: {0}")]
    Input(String),
}

/// The name this type had when only Llama loaded.
pub type LlamaError = DecoderError;
