//! Evaluation runs: one task on a model ([`evaluate_task`], resumable from a per-document journal),
//! task results and lm-eval-shaped results JSON ([`results`]), a whole resumable run of several
//! tasks under one schedule ([`EvalRun`], what `painters eval` does), and a GLUE fine-tuning run
//! ([`GlueRun`], what `painters glue` does).

pub mod glue;
pub mod results;
pub mod run;
pub mod task;

pub use glue::{GlueRun, GlueRunError};
pub use results::{MetricResult, TaskResult, results_json, samples_jsonl, summary_table};
pub use run::{EvalEvent, EvalOutcome, EvalRun, EvalRunError, checkpoint_dir, samples_path};
pub use task::{
    EvalError, EvalOptions, evaluate_loaded, evaluate_task, evaluate_task_resuming,
    journaled_responses,
};
