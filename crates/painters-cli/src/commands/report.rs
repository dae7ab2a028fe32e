//! `painters report`: the paper's figures and a Markdown report from a sweep folder's results
//! ([`ReportJob`]).

use std::path::PathBuf;

use painters_bench::jobs::ReportJob;

use crate::args::NormArgs;
use crate::error::{CliError, job_error};
use crate::output::report_line;

#[derive(clap::Args)]
#[command(after_help = include_str!("help/report.txt"))]
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
    #[command(flatten)]
    norm: NormArgs,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let job = ReportJob {
        dir: args.dir,
        model_name: args.model_name,
        limit: args.limit,
        tasks: args.tasks,
        floors: args.norm.floors,
        norm_metrics: args.norm.norm_metrics,
    };
    report_line(&job.execute().map_err(job_error)?);
    Ok(())
}
