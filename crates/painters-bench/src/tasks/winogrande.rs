//! `winogrande` (lm-eval `winogrande.yaml`, version 1.0, winogrande_xl validation): partial
//! evaluation. Each option is substituted for the blank and everything after the blank is dropped;
//! those are the contexts. The continuation — the text after the blank, stripped, after a space —
//! is shared, and the option under which it is likelier wins. acc only.
//!
//! Our data (llm-foundry's form) gives the contexts (`context_options`) and the continuation
//! exactly; those are used when present. Otherwise contexts are built from `sentence`, `option1`,
//! `option2` as lm-eval's `partial_context` / `partial_target` do.

use std::path::Path;

use serde_json::json;

use super::data::Row;
use super::{DataError, Doc, Loaded, Outcome, Task, TaskInfo, choice, load_jsonl_docs};
use crate::requests::Response;

pub struct Winogrande;

/// lm-eval's `partial_context` for each option and `partial_target`, from a sentence with one `_`.
pub fn partial(sentence: &str, options: &[String]) -> Option<(Vec<String>, String)> {
    let blank = sentence.find('_')?;
    let contexts = options
        .iter()
        .map(|o| format!("{}{o}", &sentence[..blank]))
        .collect();
    Some((contexts, sentence[blank + 1..].trim().to_string()))
}

fn gold(row: &Row, n: usize) -> Result<usize, DataError> {
    let index = if row.has("answer") {
        match row.str("answer")? {
            "1" => 0,
            "2" => 1,
            other => {
                return Err(row.invalid(format!("answer {other:?} is neither \"1\" nor \"2\"")));
            }
        }
    } else {
        row.usize("gold")?
    };
    if index >= n {
        return Err(row.invalid(format!("gold option {index} but only {n} options")));
    }
    Ok(index)
}

pub fn doc(row: &Row, id: usize) -> Result<Doc, DataError> {
    let (contexts, continuation) = if row.has("context_options") {
        (
            row.choices("context_options")?,
            row.str("continuation")?.to_string(),
        )
    } else {
        let options = vec![
            row.str("option1")?.to_string(),
            row.str("option2")?.to_string(),
        ];
        partial(row.str("sentence")?, &options)
            .ok_or_else(|| row.invalid("`sentence` has no blank `_`"))?
    };
    let index = gold(row, contexts.len())?;
    Ok(Doc {
        id,
        line: row.line,
        requests: choice::requests_per_context(&contexts, &continuation),
        gold: choice::gold(index, &contexts),
        fields: json!({
            "sentence": row.get("sentence"),
            "contexts": contexts,
            "continuation": continuation,
            "gold": index,
        }),
    })
}

impl Task for Winogrande {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "winogrande",
            version: 1.0,
            output_type: "multiple_choice",
            num_fewshot: 0,
            filters: vec!["none"],
            metrics: vec![choice::ACC],
            config: json!({
                "doc_to_text": "partial_context(doc, option) for each option (contexts differ)",
                "doc_to_target": "partial_target(doc): sentence after '_', stripped",
                "doc_to_choice": "[option1, option2]",
                "target_delimiter": choice::TARGET_DELIMITER,
                "test_split": "validation",
            }),
        }
    }

    fn load(&self, data_dir: &Path, limit: Option<usize>) -> Result<Loaded, DataError> {
        load_jsonl_docs(
            "winogrande",
            data_dir,
            &[
                "winogrande/dev.jsonl",
                "winogrande/validation.jsonl",
                "winogrande/dev.jsonl.gz",
            ],
            limit,
            doc,
        )
    }

    fn process(&self, doc: &Doc, responses: &[Response]) -> Outcome {
        choice::outcome(&doc.gold, responses, false)
    }
}
