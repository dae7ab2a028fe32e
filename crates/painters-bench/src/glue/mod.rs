//! GLUE: the paper's BERT protocol. Data (the seven tasks as JSONL, and the original TSV files),
//! tokenized datasets, fine-tuning a classification / regression head under a layer schedule (HF
//! `run_glue.py` defaults), and the GLUE metrics on the dev split.
//!
//! * [`task`]: [`GlueTask`] names, label counts, JSONL fields and main metrics.
//! * [`data`]: JSONL splits (`data/glue-<task>/{train,dev}.jsonl[.gz]`), [`Subset`]s, tokenizing;
//!   [`tsv`]: the original GLUE TSV files.
//! * [`dataset`]: tokenized [`Dataset`]s padded into mini-batches.
//! * [`finetune`](mod@finetune): the training loop ([`finetune()`]) with the schedule in force while
//!   training and evaluating; [`optim`]: the learning-rate schedule, gradient clipping and the
//!   weight-decay split HF Trainer uses.
//! * [`metrics`]: accuracy, F1, Matthews, Pearson, Spearman, and [`GlueMetrics`] per task;
//!   [`evaluate`](mod@evaluate): a fine-tuned model's predictions and metrics on a split.
//!
//! The model (encoder, head, loss, tokenizer) is `painters-bert`'s.

pub mod data;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod finetune;
pub mod metrics;
pub mod optim;
pub mod task;
pub mod tsv;

pub use data::{
    GlueRecord, Subset, load_glue_jsonl, parse_glue_jsonl, read_glue_jsonl, split_path,
    tokenize_records,
};
pub use dataset::{Dataset, Example};
pub use error::GlueDataError;
pub use evaluate::{evaluate_glue, predict};
pub use finetune::{
    EvalMetrics, FinetuneConfig, FinetuneMode, StepLog, TrainReport, evaluate, finetune,
    finetune_with,
};
pub use metrics::GlueMetrics;
pub use optim::linear_schedule;
pub use task::{GlueTask, PAPER_TASKS};
pub use tsv::load_glue_tsv;
