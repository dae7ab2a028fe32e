//! The usual way a task reads its documents: one per JSONL row, the first `limit` of them.

use std::path::Path;

use crate::tasks::data::{self, DataError};
use crate::tasks::task::{Doc, Loaded};

/// The usual `load`: the first of `candidates` under `data_dir`, one document per JSONL row (the
/// first `limit`), built by `doc(row, doc_id)`.
pub(crate) fn load_jsonl_docs(
    task: &str,
    data_dir: &Path,
    candidates: &[&str],
    limit: Option<usize>,
    doc: impl Fn(&data::Row, usize) -> Result<Doc, DataError>,
) -> Result<Loaded, DataError> {
    let path = data::find_file(task, data_dir, candidates)?;
    let rows = data::read_jsonl(&path)?;
    let total = rows.len();
    let docs = take(rows, limit)
        .iter()
        .enumerate()
        .map(|(i, r)| doc(r, i))
        .collect::<Result<_, _>>()?;
    Ok(Loaded { path, total, docs })
}

/// `rows` cut to the first `limit`.
pub(crate) fn take<T>(mut rows: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(n) = limit {
        rows.truncate(n);
    }
    rows
}
