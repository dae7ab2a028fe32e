//! `painters merge`: join the result folders of a sweep's shards into one folder.

use std::path::PathBuf;

use painters_bench::report::sweep::{ResultFilter, SweepReportMeta};
use painters_bench::sweep::{SweepError, merge};
use painters_bench::tasks;

use super::CliError;
use super::sweep::norm_config;

#[derive(clap::Args)]
#[command(
    after_help = "Every input is a `painters sweep --out` folder. Their results/<hash>.json files are copied into OUT/results/ (a key present in several inputs must hold the same numbers, to 1e-6 relative; otherwise the error names both files), then OUT/results.json and OUT/results.csv are written over all of them.\n\nExample:\n  painters merge shard0 shard1 shard2 shard3 --out sweep-all"
)]
pub struct Args {
    /// Sweep folders to join.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The joined folder (may be one of the inputs).
    #[arg(long)]
    out: PathBuf,
    /// Floor of a task's normalized score, TASK=VALUE (repeatable).
    #[arg(long = "floor", value_delimiter = ',')]
    floors: Vec<String>,
    /// Metric of a task's normalized score, TASK=METRIC[,FILTER] (repeatable).
    #[arg(long = "norm-metric")]
    norm_metrics: Vec<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let all: Vec<String> = tasks::NAMES.iter().map(|s| s.to_string()).collect();
    let norm = norm_config(&all, &args.floors, &args.norm_metrics)?;
    let report = merge(&args.inputs, &args.out, &norm).map_err(|e| {
        let hint = match &e {
            SweepError::Conflict { .. } => {
                "the shards disagree: rerun that result (delete one of the two files) or check that both used the same model and data"
            }
            SweepError::InvalidRecord { .. } => {
                "a partial or foreign file; rerun that shard's `painters sweep` to redo it, or delete the file"
            }
            SweepError::Mixed(_) => "merge the shards of one sweep (one model, one --limit)",
            _ => "inputs are `painters sweep --out` folders",
        };
        CliError::new(e).with_hint(hint)
    })?;
    eprintln!(
        "merged {} results ({} duplicates) into {}: {} CSV rows",
        report.results,
        report.duplicates,
        args.out.display(),
        report.rows
    );
    let meta = SweepReportMeta {
        norm,
        ..SweepReportMeta::default()
    };
    super::report::write_report(&args.out, &ResultFilter::default(), &meta)?;
    Ok(())
}
