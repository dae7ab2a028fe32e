//! GLUE tasks from the TSV files of the original GLUE download (`train.tsv`, `dev.tsv`; MNLI's
//! `dev_matched.tsv`), with the label orders HF's `run_glue.py` uses.
//!
//! Columns are found by header name, so reordered or extra columns are harmless; CoLA, which has
//! no header, uses the fixed positions of its files. Lines are split on tabs only: GLUE text
//! contains quote characters that are not CSV quoting.

use std::path::Path;

use painters_bert::{BertError, BertTokenizer, check_label};

use crate::glue::dataset::Dataset;
use crate::glue::task::GlueTask;

enum Col {
    Name(&'static str),
    Index(usize),
}

/// (first text, second text, label) columns.
fn tsv_columns(task: GlueTask) -> (Col, Option<Col>, Col) {
    use Col::{Index, Name};
    match task {
        GlueTask::Cola => (Index(3), None, Index(1)),
        GlueTask::Sst2 => (Name("sentence"), None, Name("label")),
        GlueTask::Mrpc => (Name("#1 String"), Some(Name("#2 String")), Name("Quality")),
        GlueTask::Stsb => (Name("sentence1"), Some(Name("sentence2")), Name("score")),
        GlueTask::Qqp => (
            Name("question1"),
            Some(Name("question2")),
            Name("is_duplicate"),
        ),
        GlueTask::Mnli => (
            Name("sentence1"),
            Some(Name("sentence2")),
            Name("gold_label"),
        ),
        GlueTask::Qnli => (Name("question"), Some(Name("sentence")), Name("label")),
        GlueTask::Rte | GlueTask::Wnli => {
            (Name("sentence1"), Some(Name("sentence2")), Name("label"))
        }
    }
}

/// The label value, in HF's label order.
fn tsv_label(task: GlueTask, raw: &str) -> Option<f32> {
    match task {
        GlueTask::Stsb => raw.parse().ok(),
        GlueTask::Mnli => ["entailment", "neutral", "contradiction"]
            .iter()
            .position(|&l| l == raw)
            .map(|i| i as f32),
        GlueTask::Qnli | GlueTask::Rte => ["entailment", "not_entailment"]
            .iter()
            .position(|&l| l == raw)
            .map(|i| i as f32),
        _ => match raw {
            "0" => Some(0.0),
            "1" => Some(1.0),
            _ => None,
        },
    }
}

/// Read and tokenize one GLUE TSV file, truncating to `max_length` tokens.
pub fn load_glue_tsv(
    path: impl AsRef<Path>,
    task: GlueTask,
    tokenizer: &BertTokenizer,
    max_length: usize,
) -> Result<Dataset, BertError> {
    let path = path.as_ref();
    let err = |line: usize, message: String| BertError::Data {
        path: path.to_path_buf(),
        line,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(0, e.to_string()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (a, b, label) = tsv_columns(task);
    let header: Vec<&str> = match task {
        GlueTask::Cola => Vec::new(),
        _ => lines
            .next()
            .map(|(_, h)| h.split('\t').collect())
            .unwrap_or_default(),
    };
    let index = |c: &Col| -> Result<usize, BertError> {
        match c {
            Col::Index(i) => Ok(*i),
            Col::Name(n) => header
                .iter()
                .position(|h| h.trim() == *n)
                .ok_or_else(|| err(1, format!("no `{n}` column in the header {header:?}"))),
        }
    };
    let (ia, ib, il) = (
        index(&a)?,
        b.as_ref().map(index).transpose()?,
        index(&label)?,
    );
    let mut rows = Vec::new();
    for (n, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| {
            f.get(i).copied().ok_or_else(|| {
                err(
                    n + 1,
                    format!("{} columns, expected more than {i}", f.len()),
                )
            })
        };
        let raw = get(il)?.trim();
        let value = tsv_label(task, raw)
            .ok_or_else(|| err(n + 1, format!("label {raw:?} is not a {task:?} label")))?;
        check_label(rows.len(), value, task.num_labels()).map_err(|e| err(n + 1, e.to_string()))?;
        rows.push((get(ia)?, ib.map(get).transpose()?, value));
    }
    Dataset::tokenize(tokenizer, &rows, max_length)
}
