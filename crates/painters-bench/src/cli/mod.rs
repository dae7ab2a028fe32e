//! Subcommands of the `painters` binary. Each returns a [`CliError`]: a cause and a hint, printed on
//! one line each by `main`, with a non-zero exit.

pub mod bench;
pub mod conformance;
pub mod eval;
pub mod glue;
pub mod layers;
pub mod merge;
pub mod report;
pub mod schedule;
pub mod sweep;

use std::fmt;

/// A command-line failure: what went wrong and, where we know it, how to fix it.
#[derive(Debug)]
pub struct CliError {
    cause: String,
    hint: Option<String>,
}

impl CliError {
    pub fn new(cause: impl fmt::Display) -> Self {
        CliError {
            cause: cause.to_string(),
            hint: None,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause)
    }
}

/// The compute device named on the command line.
pub fn device(name: &str) -> Result<burn::tensor::Device, CliError> {
    painters_bench::device::by_name(name).map_err(|e| {
        CliError::new(e)
            .with_hint("--device takes cpu, wgpu or cuda[:N], as this build's features allow")
    })
}

/// The local path of `--model`: a local path as given, or a `hf:OWNER/NAME[@REVISION][:FILE.gguf]`
/// hub spec fetched into (or found in) the HF cache. Every command that takes `--model` calls this.
pub fn model_path(arg: &std::path::Path, progress: bool) -> Result<std::path::PathBuf, CliError> {
    painters_bench::hub::resolve_model_arg(arg, progress).map_err(|e| {
        let hint = e.hint();
        CliError::new(e).with_hint(hint)
    })
}

impl From<painters::ScheduleError> for CliError {
    fn from(e: painters::ScheduleError) -> Self {
        let hint = match &e {
            painters::ScheduleError::Syntax { .. } => {
                "schedule text looks like `0..=14, par(15..=16)x3, 17..32`; see docs/schedule-syntax.md"
            }
            painters::ScheduleError::Json { .. } => {
                "schedule JSON looks like {\"steps\":[{\"block\":0},{\"parallel\":[1,2],\"loops\":1}]}"
            }
            painters::ScheduleError::BlockOutOfRange { .. } => {
                "check --layers (the model's block count) against the block indices"
            }
            _ => "see `painters schedule --help`",
        };
        CliError::new(e).with_hint(hint)
    }
}
