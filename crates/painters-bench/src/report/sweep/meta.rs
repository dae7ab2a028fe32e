//! What a sweep report says besides the numbers, and what it wrote.

use std::path::PathBuf;

use crate::sweep::NormConfig;

/// What the report says about the run besides the numbers.
#[derive(Clone, Debug, Default)]
pub struct SweepReportMeta {
    /// Short model name for titles; default `model <sha256 prefix>`.
    pub model: Option<String>,
    /// The command that produced the results, shown verbatim.
    pub command: Option<String>,
    pub wall_seconds: Option<f64>,
    /// Metric and floor per task of the normalized scores.
    pub norm: NormConfig,
}

/// What [`write_sweep_report`](super::write_sweep_report) wrote.
#[derive(Clone, Debug, Default)]
pub struct SweepReportFiles {
    /// Every SVG and PNG, in report order.
    pub figures: Vec<PathBuf>,
    /// `OUT/report.md`.
    pub report: PathBuf,
}
