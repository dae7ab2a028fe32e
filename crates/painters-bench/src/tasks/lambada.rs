//! `lambada_openai` (lm-eval `lambada_openai.yaml`, version 1.0): the passage minus its last
//! space-separated word is the context, `" " + last word` the continuation. `acc` is whether greedy
//! decoding reproduces the whole continuation; `perplexity` is `exp(−mean log-likelihood)` of it.

use std::path::Path;

use serde_json::json;

use super::data::Row;
use super::{DataError, Doc, Gold, Loaded, MetricSpec, Outcome, Task, TaskInfo, load_jsonl_docs};
use crate::requests::{Request, Response};
use crate::score::{Aggregation, Item};

pub struct Lambada;

/// lm-eval's `text.split(' ')[:-1]|join(' ')` and `' ' + text.split(' ')[-1]`. The split is on
/// single spaces, not whitespace: a last word after a newline stays attached to what precedes it.
pub fn split(text: &str) -> (String, String) {
    match text.rsplit_once(' ') {
        Some((context, word)) => (context.to_string(), format!(" {word}")),
        None => (String::new(), format!(" {text}")),
    }
}

pub fn doc(row: &Row, id: usize) -> Result<Doc, DataError> {
    let text = row.str("text")?;
    let (context, continuation) = split(text);
    Ok(Doc {
        id,
        line: row.line,
        requests: vec![Request::Loglikelihood {
            context,
            continuation: continuation.clone(),
        }],
        gold: Gold::Continuation,
        fields: json!({"text": text, "target": continuation}),
    })
}

impl Task for Lambada {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "lambada_openai",
            version: 1.0,
            output_type: "loglikelihood",
            num_fewshot: 0,
            filters: vec!["none"],
            metrics: vec![
                MetricSpec::new("perplexity", Aggregation::Perplexity, false),
                MetricSpec::new("acc", Aggregation::Mean, true),
            ],
            config: json!({
                "doc_to_text": "{{text.split(' ')[:-1]|join(' ')}}",
                "doc_to_target": "{{' '+text.split(' ')[-1]}}",
                "test_split": "test",
            }),
        }
    }

    fn load(&self, data_dir: &Path, limit: Option<usize>) -> Result<Loaded, DataError> {
        load_jsonl_docs(
            "lambada_openai",
            data_dir,
            &["lambada_openai/test.jsonl", "lambada_openai/test.jsonl.gz"],
            limit,
            doc,
        )
    }

    fn process(&self, _doc: &Doc, responses: &[Response]) -> Outcome {
        let (ll, greedy) = match responses.first() {
            Some(Response::Loglikelihood(s)) => (s.logprob, s.greedy),
            _ => (f64::NEG_INFINITY, false),
        };
        Outcome {
            metrics: vec![
                ("none", "perplexity", Item::new(ll)),
                ("none", "acc", Item::new(f64::from(u8::from(greedy)))),
            ],
            filtered: json!([ll, greedy]),
        }
    }
}
