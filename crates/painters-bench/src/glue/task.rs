//! The GLUE tasks: names, label counts, data folders, JSONL fields and main metrics.

use crate::glue::error::GlueDataError;

/// A GLUE task (the paper's seven, plus QQP and MNLI, which only the TSV loader reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlueTask {
    Cola,
    Sst2,
    Mrpc,
    Stsb,
    Qqp,
    Mnli,
    Qnli,
    Rte,
    Wnli,
}

/// The seven tasks of the paper, in GLUE's order of the paper's table.
pub const PAPER_TASKS: [GlueTask; 7] = [
    GlueTask::Cola,
    GlueTask::Mrpc,
    GlueTask::Qnli,
    GlueTask::Rte,
    GlueTask::Sst2,
    GlueTask::Stsb,
    GlueTask::Wnli,
];

impl GlueTask {
    /// `cola`, `sst2` / `sst-2`, `mrpc`, `stsb` / `sts-b`, `qqp`, `mnli`, `qnli`, `rte`, `wnli`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().replace('-', "").as_str() {
            "cola" => GlueTask::Cola,
            "sst2" => GlueTask::Sst2,
            "mrpc" => GlueTask::Mrpc,
            "stsb" => GlueTask::Stsb,
            "qqp" => GlueTask::Qqp,
            "mnli" => GlueTask::Mnli,
            "qnli" => GlueTask::Qnli,
            "rte" => GlueTask::Rte,
            "wnli" => GlueTask::Wnli,
            _ => return None,
        })
    }

    /// Head outputs: 1 for STS-B (regression), 3 for MNLI, 2 otherwise.
    pub fn num_labels(self) -> usize {
        match self {
            GlueTask::Stsb => 1,
            GlueTask::Mnli => 3,
            _ => 2,
        }
    }

    /// The canonical lower-case name (`cola`, `sst2`, `mrpc`, `stsb`, `qqp`, `mnli`, `qnli`, `rte`, `wnli`).
    pub fn name(self) -> &'static str {
        match self {
            GlueTask::Cola => "cola",
            GlueTask::Sst2 => "sst2",
            GlueTask::Mrpc => "mrpc",
            GlueTask::Stsb => "stsb",
            GlueTask::Qqp => "qqp",
            GlueTask::Mnli => "mnli",
            GlueTask::Qnli => "qnli",
            GlueTask::Rte => "rte",
            GlueTask::Wnli => "wnli",
        }
    }

    /// The data folder under the data root: `glue-<name>`.
    pub fn dir_name(self) -> String {
        format!("glue-{}", self.name())
    }

    /// The JSONL text fields: the first text and, for pair tasks, the second.
    pub fn jsonl_fields(self) -> Result<(&'static str, Option<&'static str>), GlueDataError> {
        Ok(match self {
            GlueTask::Cola | GlueTask::Sst2 => ("sentence", None),
            GlueTask::Qnli => ("question", Some("sentence")),
            GlueTask::Mrpc | GlueTask::Rte | GlueTask::Wnli | GlueTask::Stsb => {
                ("sentence1", Some("sentence2"))
            }
            GlueTask::Qqp | GlueTask::Mnli => {
                return Err(GlueDataError::Unsupported { task: self.name() });
            }
        })
    }

    /// The metric GLUE ranks the task by (`matthews_correlation`, `accuracy`, `f1`, ...).
    pub fn main_metric(self) -> &'static str {
        match self {
            GlueTask::Cola => "matthews_correlation",
            GlueTask::Mrpc | GlueTask::Qqp => "f1",
            GlueTask::Stsb => "spearmanr",
            _ => "accuracy",
        }
    }
}
