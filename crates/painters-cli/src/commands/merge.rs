//! `painters merge`: join the result folders of a sweep's shards into one folder, then its report
//! ([`MergeJob`]).

use std::path::PathBuf;

use painters_bench::jobs::MergeJob;

use crate::args::NormArgs;
use crate::error::{CliError, job_error};
use crate::output::report_line;

#[derive(clap::Args)]
#[command(after_help = include_str!("help/merge.txt"))]
pub struct Args {
    /// Sweep folders to join.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The joined folder (may be one of the inputs).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    norm: NormArgs,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let job = MergeJob {
        inputs: args.inputs,
        out: args.out,
        floors: args.norm.floors,
        norm_metrics: args.norm.norm_metrics,
    };
    let (merged, reported) = job.execute().map_err(job_error)?;
    eprintln!(
        "merged {} results ({} duplicates) into {}: {} CSV rows",
        merged.results,
        merged.duplicates,
        job.out.display(),
        merged.rows
    );
    report_line(&reported);
    Ok(())
}
