//! `painters export` end to end: the schedule a user names (text, JSON or a paper preset) resolved
//! against the model's block count, the model written as a standalone checkpoint whose plain
//! forward is the schedule's forward ([`painters_llama::export`]), and, when asked, the export run
//! beside its source on a short text to show the logits agree.

use std::path::PathBuf;

use painters::LayerSchedule;
use painters_llama::WeightMode;
use painters_llama::export::{
    ExportError, ExportOptions, ExportReport, LogitsComparison, compare_export, export,
};

use crate::models::{LoadError, ModelSource};
use crate::schedules::{ScheduleSpec, ScheduleSpecError};

/// How many token ids [`ExportRun::verify`] runs.
pub const VERIFY_TOKENS: usize = 16;

/// The ids [`ExportRun::verify`] runs for a vocabulary of `vocab`: spread over the vocabulary by
/// a prime stride, so that no tokenizer is needed (an HF folder may ship none).
pub fn verify_ids(vocab: usize) -> Vec<u32> {
    (0..VERIFY_TOKENS)
        .map(|i| ((1 + 7919 * i) % vocab.max(1)) as u32)
        .collect()
}

/// One export.
#[derive(Clone, Debug)]
pub struct ExportRun {
    /// The source model (HF folder, `.gguf` or a hub spec) and the device `verify` runs on. Its
    /// weight mode must be f32: an export copies or converts the stored weights itself
    /// ([`ExportOptions::dtype`]).
    pub model: ModelSource,
    pub schedule: ScheduleSpec,
    /// A folder (HF) or a `.gguf` file.
    pub out: PathBuf,
    pub options: ExportOptions,
    /// Afterwards, run the source under the schedule and the export under its identity on
    /// [`verify_ids`] and report the largest logit difference.
    pub verify: bool,
}

/// What an export wrote and, when verified, how close its logits are.
#[derive(Clone, Debug)]
pub struct ExportOutcome {
    pub schedule: LayerSchedule,
    pub report: ExportReport,
    pub comparison: Option<LogitsComparison>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportRunError {
    #[error(
        "--weights {0}: an export writes the stored weights (copied, or converted with --dtype); leave --weights out"
    )]
    WeightMode(WeightMode),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Schedule(#[from] ScheduleSpecError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

impl ExportRun {
    /// Resolves the schedule against the model's block count (before anything is written), exports,
    /// then verifies when asked.
    pub fn execute(&self) -> Result<ExportOutcome, ExportRunError> {
        if self.model.weights != WeightMode::F32 {
            return Err(ExportRunError::WeightMode(self.model.weights));
        }
        self.schedule.check()?;
        let device = self.model.device()?;
        let path = self.model.local_path()?;
        let config = ModelSource::decoder_config(&path)?;
        let schedule = self.schedule.resolve(config.num_hidden_layers)?;
        let report = export(&path, &schedule, &self.out, &self.options)?;
        let comparison = if self.verify {
            let ids = verify_ids(config.vocab_size);
            Some(compare_export(
                &path,
                &schedule,
                &report.out,
                &[ids],
                &device,
            )?)
        } else {
            None
        };
        Ok(ExportOutcome {
            schedule,
            report,
            comparison,
        })
    }
}
