//! Why an analysis could not run.

use crate::lm::LmError;

/// Why an analysis could not run.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("shape mismatch: {0}")]
    Shape(String),
    #[error("reading results back from the device: {0}")]
    ReadBack(String),
    #[error(transparent)]
    Llama(#[from] painters_llama::LlamaError),
    #[error(transparent)]
    Lm(#[from] LmError),
    #[error("request {0} has no continuation token to use as the target")]
    NoTarget(usize),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("serialising the analysis: {0}")]
    Json(#[from] serde_json::Error),
}
