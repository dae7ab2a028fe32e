//! Reading the normalized task data (`data/<task>/`): JSONL, gzip JSONL, plain text.
//!
//! Every problem names the file and the 1-based line, because the fix is nearly always in the data
//! (a truncated download, a hand-edited line), not in the code.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Why a task's data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no data for task `{task}` under {}: looked for {}", dir.display(), tried.join(", "))]
    NotFound {
        task: String,
        dir: PathBuf,
        tried: Vec<String>,
    },
    #[error("{}:{line}: not valid JSON: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}:{line}: field `{field}` is missing or is not {expected}", path.display())]
    Field {
        path: PathBuf,
        line: usize,
        field: String,
        expected: &'static str,
    },
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: holds no documents", path.display())]
    Empty { path: PathBuf },
}

/// The first of `candidates` (paths relative to `dir`) that exists.
pub fn find_file(task: &str, dir: &Path, candidates: &[&str]) -> Result<PathBuf, DataError> {
    candidates
        .iter()
        .map(|c| dir.join(c))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::NotFound {
            task: task.to_string(),
            dir: dir.to_path_buf(),
            tried: candidates.iter().map(|c| c.to_string()).collect(),
        })
}

/// The most text a data file may hold once decompressed: far above any evaluation set, far below
/// what a gzip bomb would inflate to.
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// A file's text; `.gz` files are decompressed (at most [`MAX_TEXT_BYTES`]).
pub fn read_text(path: &Path) -> Result<String, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut text = String::new();
    reader
        .take(MAX_TEXT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_TEXT_BYTES {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            line: 0,
            message: format!(
                "the data is larger than {} MiB (decompressed); is it really an evaluation set?",
                MAX_TEXT_BYTES >> 20
            ),
        });
    }
    Ok(text)
}

/// One JSON object of a JSONL file, with where it came from.
pub struct Row<'a> {
    pub path: &'a Path,
    /// 1-based line number.
    pub line: usize,
    pub value: Value,
}

/// Every non-blank line of a JSONL file (plain or `.gz`) as a JSON object.
pub fn read_jsonl(path: &Path) -> Result<Vec<Row<'_>>, DataError> {
    let text = read_text(path)?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let json = |message: String| DataError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let value: Value = serde_json::from_str(line).map_err(|e| json(e.to_string()))?;
        if !value.is_object() {
            return Err(json("expected one JSON object per line".into()));
        }
        rows.push(Row {
            path,
            line: i + 1,
            value,
        });
    }
    if rows.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

impl Row<'_> {
    /// The value at `field`; dots go into nested objects (`choices.text`).
    pub fn get(&self, field: &str) -> Option<&Value> {
        field
            .split('.')
            .try_fold(&self.value, |v, key| v.as_object()?.get(key))
    }

    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some_and(|v| !v.is_null())
    }

    fn field_error(&self, field: &str, expected: &'static str) -> DataError {
        DataError::Field {
            path: self.path.to_path_buf(),
            line: self.line,
            field: field.to_string(),
            expected,
        }
    }

    /// An error about this line.
    pub fn invalid(&self, message: impl Into<String>) -> DataError {
        DataError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line,
            message: message.into(),
        }
    }

    pub fn str(&self, field: &str) -> Result<&str, DataError> {
        self.get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| self.field_error(field, "a string"))
    }

    pub fn usize(&self, field: &str) -> Result<usize, DataError> {
        self.get(field)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.field_error(field, "a non-negative integer"))
    }

    pub fn strings(&self, field: &str) -> Result<Vec<String>, DataError> {
        let items = self
            .get(field)
            .and_then(Value::as_array)
            .ok_or_else(|| self.field_error(field, "a list of strings"))?;
        items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.field_error(field, "a list of strings"))
    }

    /// A list of answer choices: at least one, none empty (an empty choice has no length to
    /// normalise by).
    pub fn choices(&self, field: &str) -> Result<Vec<String>, DataError> {
        let choices = self.strings(field)?;
        if choices.is_empty() {
            return Err(self.invalid(format!("`{field}` has no choices")));
        }
        if let Some(i) = choices.iter().position(|c| c.is_empty()) {
            return Err(self.invalid(format!("`{field}` choice {i} is empty")));
        }
        Ok(choices)
    }
}
