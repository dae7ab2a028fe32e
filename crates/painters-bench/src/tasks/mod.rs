//! The evaluation tasks, each defined as lm-evaluation-harness defines it.
//!
//! A task turns documents into [`Request`](crate::requests::Request)s and the model's [`Response`](crate::requests::Response)s into per-document metric
//! values; it knows nothing about models, batching or result files. Prompts, targets and metrics
//! follow lm-eval's task YAMLs and `utils.py`; where our data or our choices differ, the difference
//! is listed in docs/evaluation.md and pinned by a test.

pub mod arc;
pub mod choice;
pub mod data;
pub mod gsm8k;
pub mod hellaswag;
pub mod lambada;
pub mod wikitext;
pub mod winogrande;

mod load;
mod task;

pub use data::DataError;
pub(crate) use load::{load_jsonl_docs, take};
pub use task::{Doc, Gold, Loaded, MetricSpec, Outcome, Task, TaskInfo};

/// The tasks this harness knows, by lm-eval name.
pub const NAMES: &[&str] = &[
    "lambada_openai",
    "arc_easy",
    "arc_challenge",
    "hellaswag",
    "winogrande",
    "gsm8k",
    "gsm8k_ll",
    "wikitext",
];

/// A task by its lm-eval name.
pub fn by_name(name: &str) -> Option<Box<dyn Task>> {
    Some(match name {
        "lambada_openai" => Box::new(lambada::Lambada),
        "arc_easy" => Box::new(arc::Arc { challenge: false }),
        "arc_challenge" => Box::new(arc::Arc { challenge: true }),
        "hellaswag" => Box::new(hellaswag::HellaSwag),
        "winogrande" => Box::new(winogrande::Winogrande),
        "gsm8k" => Box::new(gsm8k::Gsm8k::default()),
        "gsm8k_ll" => Box::new(gsm8k::Gsm8kLl::default()),
        "wikitext" => Box::new(wikitext::Wikitext),
        _ => return None,
    })
}
