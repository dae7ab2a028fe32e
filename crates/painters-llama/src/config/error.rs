//! Errors in a model configuration.

use std::path::PathBuf;

/// Errors in a model configuration; each names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid config.json: {message}")]
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
