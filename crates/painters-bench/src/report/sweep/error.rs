//! Why a sweep report could not be written.

use std::path::PathBuf;

use crate::report::plot::PlotError;
use crate::sweep::SweepError;

/// Why a sweep report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SweepReportError {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has no results/ folder; is it a sweep's --out folder?", .0.display())]
    NotASweep(PathBuf),
    #[error("{} holds no usable results", .0.display())]
    Empty(PathBuf),
}
