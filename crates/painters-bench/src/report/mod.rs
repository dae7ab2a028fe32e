//! Plots and Markdown reports.
//!
//! [`plot`] draws data-only charts ([`LineChart`], [`Heatmap`]) to SVG and PNG; [`markdown`] builds
//! Markdown documents that embed them; [`layers`] puts the two together for a
//! [`LayerAnalysis`](crate::analysis::LayerAnalysis).

pub mod layers;
pub mod markdown;
pub mod plot;
pub mod sweep;

pub use markdown::{Align, Block, Report, Table, relative_path};
pub use plot::{Chart, Heatmap, LineChart, PlotError, Series, svg_string, write_png, write_svg};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Write `chart` as `<dir>/<stem>.svg` and `<dir>/<stem>.png`; returns the two paths.
pub fn write_both<C: Chart>(
    chart: &C,
    dir: &std::path::Path,
    stem: &str,
) -> Result<[std::path::PathBuf; 2], PlotError> {
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    write_svg(chart, &svg)?;
    write_png(chart, &png)?;
    Ok([svg, png])
}
