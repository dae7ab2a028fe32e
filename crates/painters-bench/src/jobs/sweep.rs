//! Sweep folders end to end: a sweep, a merge of shards, or a redraw, each followed by the
//! folder's report (figures and `report.md`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::report::sweep::{
    Loaded, ResultFilter, SweepReportError, SweepReportFiles, SweepReportMeta, report_folder,
};
use crate::score::SCORING_VERSION;
use crate::sweep::{
    MergeReport, NormConfig, NormFlagError, Shard, SweepError, SweepEvent, SweepOutcome, SweepRun,
    SweepRunError, merge,
};
use crate::tasks;

/// Why a sweep, merge or report job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Sweep(Box<SweepRunError>),
    #[error(transparent)]
    Merge(#[from] SweepError),
    #[error(transparent)]
    Norm(#[from] NormFlagError),
    /// The results were written; their report could not be.
    #[error("report: {0}")]
    Report(#[from] SweepReportError),
}

impl From<SweepRunError> for JobError {
    fn from(e: SweepRunError) -> Self {
        JobError::Sweep(Box::new(e))
    }
}

/// What a report job wrote.
#[derive(Clone, Debug)]
pub struct Reported {
    pub loaded: Loaded,
    pub files: SweepReportFiles,
}

/// The default normalization of every known task, with the `--floor` / `--norm-metric` overrides.
fn all_tasks_norm(floors: &[String], metrics: &[String]) -> Result<NormConfig, NormFlagError> {
    NormConfig::with_flags(tasks::NAMES, floors, metrics)
}

/// `painters sweep`: the sweep, then its folder's report over this sweep's results.
#[derive(Clone, Debug)]
pub struct SweepJob {
    pub run: SweepRun,
    /// The command line, shown in the report.
    pub command: Option<String>,
}

impl SweepJob {
    pub fn execute_with(
        &self,
        on_event: &mut dyn FnMut(&SweepEvent),
    ) -> Result<(SweepOutcome, Reported), JobError> {
        let outcome = self.run.execute_with(on_event)?;
        let filter = ResultFilter {
            model_sha256: Some(outcome.sha256.clone()),
            limit: Some(outcome.limit),
            tasks: Some(outcome.tasks.iter().cloned().collect::<BTreeSet<_>>()),
            finetune: Some(outcome.finetune.clone()),
            settings: Some(outcome.report.settings.clone()),
            scoring: Some(SCORING_VERSION),
            data: Some(outcome.report.data.clone()),
        };
        let meta = SweepReportMeta {
            model: outcome
                .model_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            command: self.command.clone(),
            wall_seconds: (outcome.report.skipped == 0 && outcome.shard == Shard::ALL)
                .then_some(outcome.report.seconds),
            norm: outcome.norm.clone(),
        };
        let (loaded, files) = report_folder(&self.run.out, &filter, &meta)?;
        Ok((outcome, Reported { loaded, files }))
    }
}

/// `painters merge`: the shards' folders joined into `out`, then its report.
#[derive(Clone, Debug)]
pub struct MergeJob {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub floors: Vec<String>,
    pub norm_metrics: Vec<String>,
}

impl MergeJob {
    pub fn execute(&self) -> Result<(MergeReport, Reported), JobError> {
        let norm = all_tasks_norm(&self.floors, &self.norm_metrics)?;
        let merged = merge(&self.inputs, &self.out, &norm)?;
        let meta = SweepReportMeta {
            norm,
            ..SweepReportMeta::default()
        };
        let (loaded, files) = report_folder(&self.out, &ResultFilter::default(), &meta)?;
        Ok((merged, Reported { loaded, files }))
    }
}

/// `painters report`: a sweep folder's figures and `report.md`, drawn again.
#[derive(Clone, Debug, Default)]
pub struct ReportJob {
    pub dir: PathBuf,
    /// Model name for titles (default: the start of the model's sha256).
    pub model_name: Option<String>,
    /// Only results with this limit (default: the limit with the most results).
    pub limit: Option<usize>,
    /// Only these tasks (default: every task in the folder).
    pub tasks: Vec<String>,
    pub floors: Vec<String>,
    pub norm_metrics: Vec<String>,
}

impl ReportJob {
    pub fn execute(&self) -> Result<Reported, JobError> {
        let meta = SweepReportMeta {
            model: self.model_name.clone(),
            norm: all_tasks_norm(&self.floors, &self.norm_metrics)?,
            ..SweepReportMeta::default()
        };
        let filter = ResultFilter {
            model_sha256: None,
            limit: self.limit.map(Some),
            tasks: (!self.tasks.is_empty())
                .then(|| self.tasks.iter().map(|t| t.trim().to_string()).collect()),
            ..ResultFilter::default()
        };
        let (loaded, files) = report_folder(&self.dir, &filter, &meta)?;
        Ok(Reported { loaded, files })
    }
}
