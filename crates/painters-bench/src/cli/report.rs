//! `painters report`: the paper's figures and a Markdown report from a sweep folder's results.

use std::path::{Path, PathBuf};

use painters_bench::report::sweep::{
    Loaded, ResultFilter, SweepReportError, SweepReportFiles, SweepReportMeta, report_folder,
};
use painters_bench::sweep::NormConfig;
use painters_bench::tasks;

use super::CliError;
use super::sweep::norm_config;

#[derive(clap::Args)]
#[command(
    after_help = "DIR is a `painters sweep --out` or `painters merge --out` folder. Its results/<hash>.json files are read and drawn as the paper's figures (only those the results allow): Fig. 2 (skip_one, switch), Figs. 4-9 (score vs M per variant and task), Fig. 10 (looped parallel M x K heatmaps, from the grid experiment), Fig. 11 (normalized median vs M, and every variant per task). Writes DIR/figures/*.svg and *.png and DIR/report.md. `painters sweep` and `painters merge` write the same report when they finish.\n\nExample:\n  painters report sweep-all --model-name 'SmolLM2-135M-Instruct Q4_1'"
)]
pub struct Args {
    /// The sweep folder (holding results/).
    dir: PathBuf,
    /// Model name for titles (default: the start of the model's sha256).
    #[arg(long)]
    model_name: Option<String>,
    /// Report only results with this --limit (default: the limit with the most results).
    #[arg(long)]
    limit: Option<usize>,
    /// Report only these tasks (comma-separated; default: every task in the folder).
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
    /// Floor of a task's normalized score, TASK=VALUE (repeatable).
    #[arg(long = "floor", value_delimiter = ',')]
    floors: Vec<String>,
    /// Metric of a task's normalized score, TASK=METRIC[,FILTER] (repeatable).
    #[arg(long = "norm-metric")]
    norm_metrics: Vec<String>,
}

/// Write `dir`'s report and print one line about it; used by `sweep`, `merge` and `report`.
pub fn write_report(
    dir: &Path,
    filter: &ResultFilter,
    meta: &SweepReportMeta,
) -> Result<(Loaded, SweepReportFiles), CliError> {
    let (loaded, files) = report_folder(dir, filter, meta).map_err(|e| {
        let hint = match &e {
            SweepReportError::NotASweep(_) | SweepReportError::Empty(_) => {
                "DIR is a `painters sweep --out` folder with results in it"
            }
            _ => "check that the folder is writable; `painters report DIR` redraws it",
        };
        CliError::new(format!("report: {e}")).with_hint(hint)
    })?;
    eprintln!(
        "report: {} ({} figure files from {} results){}",
        files.report.display(),
        files.figures.len(),
        loaded.entries.len(),
        if loaded.unusable.is_empty() && loaded.set_aside == 0 {
            String::new()
        } else {
            format!(
                "; left out {} unusable files and {} results of another model, limit or task",
                loaded.unusable.len(),
                loaded.set_aside
            )
        }
    );
    Ok((loaded, files))
}

/// The default normalization of every known task, with the command line's overrides.
pub fn all_tasks_norm(floors: &[String], metrics: &[String]) -> Result<NormConfig, CliError> {
    let all: Vec<String> = tasks::NAMES.iter().map(|s| s.to_string()).collect();
    norm_config(&all, floors, metrics)
}

pub fn run(args: Args) -> Result<(), CliError> {
    let meta = SweepReportMeta {
        model: args.model_name,
        norm: all_tasks_norm(&args.floors, &args.norm_metrics)?,
        ..SweepReportMeta::default()
    };
    let filter = ResultFilter {
        model_sha256: None,
        limit: args.limit.map(Some),
        tasks: (!args.tasks.is_empty())
            .then(|| args.tasks.iter().map(|t| t.trim().to_string()).collect()),
        finetune: None,
    };
    write_report(&args.dir, &filter, &meta)?;
    Ok(())
}
