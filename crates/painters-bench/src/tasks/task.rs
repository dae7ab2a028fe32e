//! What a task is: its metrics and version ([`TaskInfo`]), its documents ([`Doc`]) with their
//! requests and gold answers, and how one document's responses become metric values ([`Task`]).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::requests::{Request, Response};
use crate::score::{Aggregation, Item};
use crate::tasks::data::DataError;

/// One metric a task reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricSpec {
    pub name: &'static str,
    pub aggregation: Aggregation,
    pub higher_is_better: bool,
}

impl MetricSpec {
    pub const fn new(name: &'static str, aggregation: Aggregation, higher: bool) -> Self {
        MetricSpec {
            name,
            aggregation,
            higher_is_better: higher,
        }
    }
}

/// What a task is, for the results file.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    pub name: &'static str,
    /// lm-eval's `metadata.version` of the task definition we follow.
    pub version: f64,
    pub output_type: &'static str,
    pub num_fewshot: usize,
    /// lm-eval filter names; `"none"` for tasks without filters.
    pub filters: Vec<&'static str>,
    pub metrics: Vec<MetricSpec>,
    /// The prompt definition in lm-eval's config vocabulary (`configs` in the results).
    pub config: Value,
}

/// One document, ready to send to the model.
#[derive(Clone, Debug)]
pub struct Doc {
    /// 0-based position in the data file (lm-eval's `doc_id`).
    pub id: usize,
    /// 1-based line of the data file it came from (for errors).
    pub line: usize,
    pub requests: Vec<Request>,
    pub gold: Gold,
    /// The document as `--log-samples` records it.
    pub fields: Value,
}

/// What a document's responses are scored against.
#[derive(Clone, Debug, PartialEq)]
pub enum Gold {
    /// Index of the right choice, and each choice's length in characters (for acc_norm).
    Choice { index: usize, lengths: Vec<usize> },
    /// Nothing beyond the request (lambada: the continuation is the target).
    Continuation,
    /// A reference answer text (gsm8k).
    Answer(String),
    /// Word and byte counts of the original text (wikitext).
    Counts { words: usize, bytes: usize },
}

impl Gold {
    /// The gold answer as the sample log records it (`target`).
    pub fn to_json(&self) -> Value {
        match self {
            Gold::Choice { index, .. } => json!(index),
            Gold::Continuation => Value::Null,
            Gold::Answer(a) => json!(a),
            Gold::Counts { words, bytes } => json!({"words": words, "bytes": bytes}),
        }
    }
}

/// A task's documents.
pub struct Loaded {
    /// The file read (for error messages and the results' `configs`).
    pub path: PathBuf,
    /// Documents in the file (lm-eval's `n-samples.original`).
    pub total: usize,
    /// The documents to evaluate (the first `limit`).
    pub docs: Vec<Doc>,
}

impl Loaded {
    /// The sha256 (lowercase hex) of the documents as read, in the form that decides their
    /// scores: every document's id, requests (prompts, continuations, stop strings — the few-shot
    /// examples included) and gold answer (with the choice lengths `acc_norm` divides by), and the
    /// task's name, version and prompt config. Part of every result key and checkpoint: a changed
    /// data file, data folder, `--limit` or prompt changes it, while a file moved elsewhere or
    /// reformatted with the same documents does not.
    pub fn digest(&self, info: &TaskInfo) -> String {
        let mut h = Sha256::new();
        h.update(
            json!({"task": info.name, "version": info.version, "config": info.config}).to_string(),
        );
        for d in &self.docs {
            let gold = match &d.gold {
                Gold::Choice { index, lengths } => json!({"index": index, "lengths": lengths}),
                g => g.to_json(),
            };
            h.update(b"\n");
            h.update(json!({"id": d.id, "requests": d.requests, "gold": gold}).to_string());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Per-document results.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// `(filter, metric, value)`.
    pub metrics: Vec<(&'static str, &'static str, Item)>,
    /// lm-eval's `filtered_resps`, for the sample log.
    pub filtered: Value,
}

/// An evaluation task.
pub trait Task {
    fn info(&self) -> TaskInfo;
    /// Read the documents from `data_dir` (`data/` by default), the first `limit` only if given.
    fn load(&self, data_dir: &Path, limit: Option<usize>) -> Result<Loaded, DataError>;
    /// Score one document from its responses (same order as its requests).
    fn process(&self, doc: &Doc, responses: &[Response]) -> Outcome;
}
