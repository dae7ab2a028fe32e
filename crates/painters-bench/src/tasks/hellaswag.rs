//! `hellaswag` (lm-eval `hellaswag.yaml`, version 1.0): 0-shot, the context is the preprocessed
//! `activity_label + ": " + ctx_a + " " + ctx_b.capitalize()`, the choices are the preprocessed
//! endings; acc and acc_norm.
//!
//! Two schemas are read: HF's original (`ctx_a`, `ctx_b`, `endings`, `label`), which gets lm-eval's
//! preprocessing here, and our normalized file (`query`, `endings` already preprocessed), which is
//! used as is: preprocessing twice is not the identity (a triple space shrinks twice).

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use super::data::Row;
use super::{DataError, Doc, Loaded, Outcome, Task, TaskInfo, choice, load_jsonl_docs};
use crate::requests::Response;

pub struct HellaSwag;

static BRACKETS: LazyLock<Regex> = LazyLock::new(|| {
    // infallible: a constant pattern, compiled by the task tests.
    Regex::new(r"\[.*?\]").expect("constant regex")
});

/// lm-eval's `preprocess`: strip, `" [title]"` → `". "`, drop `[...]` tags, one pass of
/// `"  "` → `" "`.
pub fn preprocess(text: &str) -> String {
    let t = text.trim().replace(" [title]", ". ");
    BRACKETS.replace_all(&t, "").replace("  ", " ")
}

/// Python's `str.capitalize`: first character upper case, the rest lower case. (Python title-cases
/// the first character, which differs from upper case only for a few digraph letters such as `ǆ`.)
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

fn label(row: &Row) -> Result<usize, DataError> {
    if let Some(s) = row.get("label").and_then(|v| v.as_str()) {
        return s
            .trim()
            .parse()
            .map_err(|_| row.invalid(format!("label {s:?} is not a number")));
    }
    row.usize("label")
}

pub fn doc(row: &Row, id: usize) -> Result<Doc, DataError> {
    let (query, choices) = if row.has("ctx_a") {
        let ctx = format!("{} {}", row.str("ctx_a")?, capitalize(row.str("ctx_b")?));
        let query = preprocess(&format!("{}: {ctx}", row.str("activity_label")?));
        let endings = row.choices("endings")?;
        (query, endings.iter().map(|e| preprocess(e)).collect())
    } else {
        (row.str("query")?.to_string(), row.choices("endings")?)
    };
    let index = label(row)?;
    if index >= choices.len() {
        return Err(row.invalid(format!("label {index} but only {} endings", choices.len())));
    }
    Ok(Doc {
        id,
        line: row.line,
        requests: choice::requests(&query, &choices),
        gold: choice::gold(index, &choices),
        fields: json!({"query": query, "choices": choices, "gold": index}),
    })
}

impl Task for HellaSwag {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "hellaswag",
            version: 1.0,
            output_type: "multiple_choice",
            num_fewshot: 0,
            filters: vec!["none"],
            metrics: vec![choice::ACC, choice::ACC_NORM],
            config: json!({
                "process_docs": "preprocess(activity_label + ': ' + ctx_a + ' ' + ctx_b.capitalize())",
                "doc_to_text": "{{query}}",
                "doc_to_target": "{{label}}",
                "doc_to_choice": "choices",
                "target_delimiter": choice::TARGET_DELIMITER,
                "test_split": "validation",
            }),
        }
    }

    fn load(&self, data_dir: &Path, limit: Option<usize>) -> Result<Loaded, DataError> {
        load_jsonl_docs(
            "hellaswag",
            data_dir,
            &[
                "hellaswag/validation.jsonl.gz",
                "hellaswag/validation.jsonl",
            ],
            limit,
            doc,
        )
    }

    fn process(&self, doc: &Doc, responses: &[Response]) -> Outcome {
        choice::outcome(&doc.gold, responses, true)
    }
}
