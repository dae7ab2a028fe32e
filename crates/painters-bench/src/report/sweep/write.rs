//! Writing a sweep folder's report: every figure the results allow, and `report.md`.

use std::path::Path;

use crate::report::markdown::Report;
use crate::report::sweep::data::Data;
use crate::report::sweep::error::SweepReportError;
use crate::report::sweep::figures::{fig2, fig10, fig11, per_task, per_variant};
use crate::report::sweep::load::{Loaded, ResultFilter, load_results};
use crate::report::sweep::meta::{SweepReportFiles, SweepReportMeta};
use crate::report::sweep::tables::overview;
use crate::report::sweep::writer::Writer;
use crate::sweep::Entry;

/// Draw every figure the entries allow into `out/figures/` and write `out/report.md`.
pub fn write_sweep_report(
    entries: &[Entry],
    meta: &SweepReportMeta,
    out: &Path,
) -> Result<SweepReportFiles, SweepReportError> {
    if entries.is_empty() {
        return Err(SweepReportError::Empty(out.to_path_buf()));
    }
    let data = Data::new(entries, &meta.norm);
    let fig_dir = out.join("figures");
    std::fs::create_dir_all(&fig_dir).map_err(|source| SweepReportError::Io {
        path: fig_dir.clone(),
        source,
    })?;
    let model = data.model_name(meta);
    let mut w = Writer {
        md: Report::new(format!("Sweep report: {model}")),
        fig_dir,
        written: Vec::new(),
        data: &data,
        model,
    };
    overview(&mut w, meta);
    fig11(&mut w)?;
    per_task(&mut w)?;
    per_variant(&mut w)?;
    fig10(&mut w)?;
    fig2(&mut w)?;
    w.md.heading(2, "Files");
    w.md.paragraph(
        "`results.json` and `results.csv` hold every metric of every result (written by `painters \
         sweep` / `painters merge`); `results/<hash>.json` one result each; `figures/` the SVG and \
         PNG of every chart above. Regenerate this report with `painters report DIR`.",
    );
    let report = out.join("report.md");
    w.md.write(&report).map_err(|source| SweepReportError::Io {
        path: report.clone(),
        source,
    })?;
    Ok(SweepReportFiles {
        figures: w.written,
        report,
    })
}

/// Load `dir`'s results ([`load_results`]) and write their report into `dir`.
pub fn report_folder(
    dir: &Path,
    filter: &ResultFilter,
    meta: &SweepReportMeta,
) -> Result<(Loaded, SweepReportFiles), SweepReportError> {
    let loaded = load_results(dir, filter)?;
    let files = write_sweep_report(&loaded.entries, meta, dir)?;
    if !loaded.unusable.is_empty() || loaded.set_aside > 0 {
        // Say so at the end of the report.
        let mut text =
            std::fs::read_to_string(&files.report).map_err(|source| SweepReportError::Io {
                path: files.report.clone(),
                source,
            })?;
        text.push_str(&format!(
            "\nNot reported: {} results of another model, `--limit` or task, {} unusable files{}.\n",
            loaded.set_aside,
            loaded.unusable.len(),
            loaded
                .unusable
                .iter()
                .take(5)
                .map(|(p, why)| format!("; `{}`: {why}", p.display()))
                .collect::<String>()
        ));
        std::fs::write(&files.report, text).map_err(|source| SweepReportError::Io {
            path: files.report.clone(),
            source,
        })?;
    }
    Ok((loaded, files))
}
