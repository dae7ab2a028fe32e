//! The report being built (Markdown and the figures written so far), and how numbers print in it.

use std::path::PathBuf;

use crate::report::markdown::Report;
use crate::report::plot::{Chart, Series};
use crate::report::sweep::data::{Cell, Data, Score};
use crate::report::sweep::error::SweepReportError;
use crate::report::write_both;

pub(super) fn series_of(name: impl Into<String>, cells: &[Cell], band: bool) -> Series {
    let s = Series::new(name, cells.iter().map(|c| (c.x, c.y)).collect());
    let b: Vec<(f64, f64, f64)> = cells
        .iter()
        .filter_map(|c| c.band.map(|(lo, hi)| (c.x, lo, hi)))
        .collect();
    if band && b.len() >= 2 {
        s.with_band(b)
    } else {
        s
    }
}

/// A flat reference line over `[x0, x1]`.
pub(super) fn flat(name: impl Into<String>, y: f64, (x0, x1): (f64, f64)) -> Series {
    Series::new(name, vec![(x0, y), (x1, y)])
}

pub(super) fn x_span(cells: &[&[Cell]]) -> Option<(f64, f64)> {
    let xs: Vec<f64> = cells.iter().flat_map(|c| c.iter().map(|c| c.x)).collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lo.is_finite().then_some((lo, hi))
}

pub(super) fn f4(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.4}")
    } else {
        "–".into()
    }
}

/// `value ± stderr` (the stderr left out where lm-eval gives none).
pub(super) fn score_cell(s: &Score) -> String {
    match s.stderr {
        Some(e) => format!("{} ± {}", f4(s.value), f4(e)),
        None => f4(s.value),
    }
}

pub(super) fn table_cell(c: &Cell) -> String {
    match (c.sd, c.band, c.se) {
        (Some((sd, n)), Some((lo, hi)), _) => format!(
            "{} ± {} sd [{}, {}] (n={n})",
            f4(c.y),
            f4(sd),
            f4(lo),
            f4(hi)
        ),
        (_, _, Some(se)) => format!("{} ± {}", f4(c.y), f4(se)),
        _ => f4(c.y),
    }
}

pub(super) fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The report being built: the Markdown and the figures written so far.
pub(super) struct Writer<'a> {
    pub(super) md: Report,
    pub(super) fig_dir: PathBuf,
    pub(super) written: Vec<PathBuf>,
    pub(super) data: &'a Data,
    pub(super) model: String,
}

impl Writer<'_> {
    /// Write `chart` as `figures/<stem>.svg` and `.png`, and embed it.
    pub(super) fn figure<C: Chart>(
        &mut self,
        chart: &C,
        stem: &str,
        alt: &str,
    ) -> Result<(), SweepReportError> {
        self.written.extend(write_both(chart, &self.fig_dir, stem)?);
        self.embed(stem, alt);
        Ok(())
    }

    pub(super) fn embed(&mut self, stem: &str, alt: &str) {
        self.md.image(alt, format!("figures/{stem}.png"));
        self.md.paragraph(format!("[SVG](figures/{stem}.svg)"));
    }

    pub(super) fn score_label(&self, task: &str) -> String {
        match self.data.metric.get(task) {
            Some(m) => format!("{task} {}", m.split(',').next().unwrap_or(m)),
            None => task.to_string(),
        }
    }
}
