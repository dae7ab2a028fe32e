//! `arc_easy` and `arc_challenge` (lm-eval `arc_easy.yaml`, version 1.0): 0-shot,
//! `"Question: {question}\nAnswer:"` with `" {choice}"` continuations, acc and acc_norm.

use std::path::Path;

use serde_json::json;

use super::data::Row;
use super::{DataError, Doc, Loaded, Outcome, Task, TaskInfo, choice, load_jsonl_docs};
use crate::requests::Response;

pub struct Arc {
    pub challenge: bool,
}

/// lm-eval's `doc_to_text`.
pub fn prompt(question: &str) -> String {
    format!("Question: {question}\nAnswer:")
}

/// lm-eval's target: `choices.label.index(answerKey)`. Files without `answerKey` may give `gold`.
fn gold_index(row: &Row, labels: &[String], n: usize) -> Result<usize, DataError> {
    let index = if row.has("answerKey") {
        let key = row.str("answerKey")?;
        labels
            .iter()
            .position(|l| l == key)
            .ok_or_else(|| row.invalid(format!("answerKey {key:?} is not one of {labels:?}")))?
    } else {
        row.usize("gold")?
    };
    if index >= n {
        return Err(row.invalid(format!("gold choice {index} but only {n} choices")));
    }
    Ok(index)
}

pub fn doc(row: &Row, id: usize) -> Result<Doc, DataError> {
    let question = row.str("question")?;
    let choices = row.choices("choices.text")?;
    let labels = if row.has("choices.label") {
        row.strings("choices.label")?
    } else {
        Vec::new()
    };
    let index = gold_index(row, &labels, choices.len())?;
    Ok(Doc {
        id,
        line: row.line,
        requests: choice::requests(&prompt(question), &choices),
        gold: choice::gold(index, &choices),
        fields: json!({
            "id": row.get("id"),
            "question": question,
            "choices": choices,
            "gold": index,
        }),
    })
}

impl Arc {
    fn name(&self) -> &'static str {
        if self.challenge {
            "arc_challenge"
        } else {
            "arc_easy"
        }
    }
}

impl Task for Arc {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: self.name(),
            version: 1.0,
            output_type: "multiple_choice",
            num_fewshot: 0,
            filters: vec!["none"],
            metrics: vec![choice::ACC, choice::ACC_NORM],
            config: json!({
                "doc_to_text": "Question: {{question}}\\nAnswer:",
                "doc_to_target": "{{choices.label.index(answerKey)}}",
                "doc_to_choice": "{{choices.text}}",
                "target_delimiter": choice::TARGET_DELIMITER,
                "test_split": "test",
            }),
        }
    }

    fn load(&self, data_dir: &Path, limit: Option<usize>) -> Result<Loaded, DataError> {
        let dir = self.name();
        load_jsonl_docs(
            dir,
            data_dir,
            &[
                &format!("{dir}/test.jsonl"),
                &format!("{dir}/test.jsonl.gz"),
            ],
            limit,
            doc,
        )
    }

    fn process(&self, doc: &Doc, responses: &[Response]) -> Outcome {
        choice::outcome(&doc.gold, responses, true)
    }
}
