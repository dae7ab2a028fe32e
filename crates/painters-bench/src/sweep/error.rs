//! Why a sweep or a merge failed.

use std::path::PathBuf;

use crate::eval::EvalError;
use crate::io::IoError;
use crate::lm::LmError;

/// Why a sweep or a merge failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Schedule(#[from] painters::ScheduleError),
    #[error("unknown experiment `{0}`")]
    UnknownExperiment(String),
    #[error("{0}")]
    Experiment(String),
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    /// A GLUE task given to a sweep of a decoder (Llama) model.
    #[error(
        "`{0}` is a GLUE task: GLUE sweeps fine-tune a BERT encoder, and this model is a decoder (Llama)"
    )]
    GlueTaskOnDecoder(String),
    /// An lm-eval task given to a GLUE sweep of a BERT model.
    #[error(
        "`{0}` is an lm-eval task, scored by a decoder's log-likelihoods; a BERT encoder is swept on GLUE tasks"
    )]
    LmTaskOnEncoder(String),
    /// A GLUE task's data could not be read.
    #[error("{task}: {source}")]
    GlueData {
        task: String,
        #[source]
        source: Box<crate::glue::GlueDataError>,
    },
    /// Fine-tuning or evaluating one schedule on one GLUE task failed.
    #[error("{label} on {task}: {source}")]
    Finetune {
        label: String,
        task: String,
        #[source]
        source: Box<painters_bert::BertError>,
    },
    #[error("bad shard `{0}`: write it as i/n with 0 ≤ i < n (shards are counted from 0)")]
    BadShard(String),
    #[error("{label} on {task}: {source}")]
    Eval {
        label: String,
        task: String,
        #[source]
        source: Box<EvalError>,
    },
    #[error(transparent)]
    Write(#[from] IoError),
    #[error(transparent)]
    Lm(#[from] LmError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a usable result file: {reason}", path.display())]
    InvalidRecord { path: PathBuf, reason: String },
    #[error("{} and {} hold different results for the same key: {detail}", a.display(), b.display())]
    Conflict {
        a: PathBuf,
        b: PathBuf,
        detail: String,
    },
    #[error("{} has no results/ folder; is it a sweep's --out folder?", .0.display())]
    NotASweep(PathBuf),
    #[error("the merged results mix {0}; merge the shards of one sweep at a time")]
    Mixed(String),
    #[error("stopped after {0} results (as asked)")]
    Stopped(usize),
    /// A sweep with more points than allowed, counted before any is built.
    #[error(
        "the sweep has {count} schedule points (experiments {experiments} on a {layers}-block model); at most {limit} are allowed"
    )]
    TooManyPoints {
        count: u128,
        limit: usize,
        experiments: String,
        layers: usize,
    },
}
