//! Why a GLUE data file could not be read as a task's data.

use std::path::{Path, PathBuf};

use painters_bert::BertError;

/// A GLUE JSONL file that cannot be read as the task's data.
#[derive(Debug, thiserror::Error)]
pub enum GlueDataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: reading the line: {source}")]
    Read {
        path: PathBuf,
        line: usize,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a JSON object: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}:{line}: field `{field}` is missing ({task} needs {needs})")]
    MissingField {
        path: PathBuf,
        line: usize,
        field: &'static str,
        task: &'static str,
        needs: String,
    },
    #[error("{path}:{line}: field `{field}` is not a string")]
    NotText {
        path: PathBuf,
        line: usize,
        field: &'static str,
    },
    #[error("{path}:{line}: label {value} is not a {task} label ({expected})")]
    BadLabel {
        path: PathBuf,
        line: usize,
        value: String,
        task: &'static str,
        expected: &'static str,
    },
    #[error("{task} is not one of the seven GLUE tasks with JSONL data here")]
    Unsupported { task: &'static str },
    #[error("no {split} split for {task} in {dir} (looked for {split}.jsonl and {split}.jsonl.gz)")]
    NoSplit {
        dir: PathBuf,
        task: &'static str,
        split: String,
    },
}

impl GlueDataError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            GlueDataError::Io { path, .. }
            | GlueDataError::Read { path, .. }
            | GlueDataError::Json { path, .. }
            | GlueDataError::MissingField { path, .. }
            | GlueDataError::NotText { path, .. }
            | GlueDataError::BadLabel { path, .. } => path,
            GlueDataError::NoSplit { dir, .. } => dir,
            GlueDataError::Unsupported { .. } => Path::new(""),
        }
    }

    /// The 1-based line the error is about; 0 for whole-file errors.
    pub fn line(&self) -> usize {
        match self {
            GlueDataError::Read { line, .. }
            | GlueDataError::Json { line, .. }
            | GlueDataError::MissingField { line, .. }
            | GlueDataError::NotText { line, .. }
            | GlueDataError::BadLabel { line, .. } => *line,
            _ => 0,
        }
    }
}

impl From<GlueDataError> for BertError {
    fn from(e: GlueDataError) -> Self {
        match &e {
            GlueDataError::Unsupported { .. } => BertError::Unsupported(e.to_string()),
            _ => BertError::Data {
                path: e.path().to_path_buf(),
                line: e.line(),
                message: e.to_string(),
            },
        }
    }
}
