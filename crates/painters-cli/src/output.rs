//! What commands print besides their results: one line about a written sweep report, one about
//! what a sweep did.

use std::path::Path;

use painters_bench::jobs::Reported;
use painters_bench::sweep::SweepReport;

/// One line about a report written into a sweep folder.
pub fn report_line(r: &Reported) {
    eprintln!(
        "report: {} ({} figure files from {} results){}",
        r.files.report.display(),
        r.files.figures.len(),
        r.loaded.entries.len(),
        if r.loaded.unusable.is_empty() && r.loaded.set_aside == 0 {
            String::new()
        } else {
            format!(
                "; left out {} unusable files and {} results of another model, limit or task",
                r.loaded.unusable.len(),
                r.loaded.set_aside
            )
        }
    );
}

/// What a sweep did, on one line.
pub fn sweep_line(report: &SweepReport, expected: usize, out: &Path) {
    eprintln!(
        "{} results owned by this shard: {} computed, {} already stored{}; {} of {expected} results of the sweep in {} ({:.1} s)",
        report.owned,
        report.computed,
        report.skipped,
        if report.redone > 0 {
            format!(", {} corrupt ones redone", report.redone)
        } else {
            String::new()
        },
        report.present,
        out.join("results.json").display(),
        report.seconds
    );
}
