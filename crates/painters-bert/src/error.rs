//! Error types. Every variant that comes from a file names the file, and the field or tensor where
//! there is one, because the usual cause is a checkpoint that is not what its directory name says.

use std::path::PathBuf;

use painters::ExecError;
use painters::weights::WeightError;

/// A `config.json` that cannot describe a model this crate can run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("{path}: field `{field}` is missing")]
    Missing { path: PathBuf, field: &'static str },
    #[error("{path}: field `{field}` is invalid: {reason}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
}

/// Token ids, masks or shapes a caller passed that the model cannot take.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("`{name}` has {found} values, expected batch {batch} x seq {seq} = {}", batch * seq)]
    Length {
        name: &'static str,
        batch: usize,
        seq: usize,
        found: usize,
    },
    #[error("an empty batch or a zero-length sequence ({batch} x {seq}) cannot be embedded")]
    Empty { batch: usize, seq: usize },
    #[error(
        "sequence length {seq} exceeds max_position_embeddings = {max}; truncate the input (the tokenizer does this with its max length)"
    )]
    TooLong { seq: usize, max: usize },
    #[error("`{name}` holds {value} at row {row}, position {pos}; valid values are 0..{limit}")]
    OutOfRange {
        name: &'static str,
        value: i64,
        row: usize,
        pos: usize,
        limit: usize,
    },
    #[error("row {row} is out of range for a batch of {batch}")]
    Row { row: usize, batch: usize },
    #[error("labels: {found} labels for a batch of {batch}")]
    Labels { batch: usize, found: usize },
    #[error(
        "example {example} has label {value}, which a head with {num_labels} outputs cannot take (1 output: a finite value; more: a class index 0..{num_labels})"
    )]
    Label {
        example: usize,
        value: String,
        num_labels: usize,
    },
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Weights(#[from] WeightError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Schedule(#[from] painters::ScheduleError),
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error(
        "{path}: the tokenizer has {tokenizer} tokens but the model's vocab_size is {model}; they do not belong together"
    )]
    VocabMismatch {
        path: PathBuf,
        tokenizer: usize,
        model: usize,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("reading a tensor back from the device: {0}")]
    Readback(String),
    #[error("{path}: {message}")]
    Save { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Data {
        path: PathBuf,
        line: usize,
        message: String,
    },
}
