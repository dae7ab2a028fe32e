//! `painters layers`: layer analysis of a model on task data: similarity matrices (the paper's
//! Figure 3), angular distances, Block Influence and the logit lens, as JSON, CSV, SVG/PNG and a
//! Markdown report ([`LayersRun`]).

use std::path::PathBuf;

use painters_bench::jobs::{LayersError, LayersRun};
use painters_bench::tasks;

use crate::args::{DataArgs, ModelArgs, ScheduleArgs, command_line};
use crate::error::{CliError, DATA_HINT, LLAMA_MODEL_HINT, load_error, setting_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/layers.txt"))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The data: an lm-eval task whose documents are one context/continuation pair (lambada_openai).
    #[arg(long, default_value = "lambada_openai")]
    task: String,
    /// Analyse the first N documents (the paper used 100).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Which similarity matrices to write: paper, token-mean, last-token or all.
    #[arg(long, default_value = "all")]
    mode: String,
    /// Tokens kept per logit-lens read-out; 0 skips the logit lens.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Rows per forward pass (the paper's lm-eval run used 8; the paper mode averages per batch).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Seed of the random preset.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i128,
    #[command(flatten)]
    data: DataArgs,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// No progress display (a bar on a terminal, else a line every 30 s).
    #[arg(long)]
    no_progress: bool,
}

fn run_error(e: LayersError) -> CliError {
    match e {
        e @ LayersError::UnknownMode(_) => {
            CliError::new(e).with_hint("--mode takes paper, token-mean, last-token or all")
        }
        e @ LayersError::UnsupportedTask(_) => CliError::new(e)
            .with_hint("use --task lambada_openai (one context and target word per document)"),
        e @ LayersError::UnknownTask(_) => {
            CliError::new(e).with_hint(format!("known tasks: {}", tasks::NAMES.join(", ")))
        }
        LayersError::Load(e) => load_error(e, LLAMA_MODEL_HINT),
        LayersError::Schedule(e) => e.into(),
        LayersError::Plan(e) => e.into(),
        e @ LayersError::Data(_) => CliError::new(e).with_hint(DATA_HINT),
        e @ LayersError::NoDocuments => CliError::new(e).with_hint("check --limit"),
        LayersError::Setting(e) => setting_error(e),
        LayersError::Output(e) => CliError::new(e)
            .with_hint("--out is a folder: an existing one or one that can be created"),
        other => CliError::new(other),
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let run = LayersRun {
        model: args.model.source(!args.no_progress),
        schedule: args.schedule.spec(args.seed),
        task: args.task,
        limit: args.limit,
        modes: args.mode,
        top_k: args.top_k,
        batch_size: args.batch_size,
        data_dir: args.data.resolve()?,
        out: args.out,
        progress: !args.no_progress,
        command: Some(command_line()),
    };
    let outcome = run
        .execute(&mut |line| eprintln!("{line}"))
        .map_err(run_error)?;
    for p in &outcome.written {
        println!("{}", p.display());
    }
    eprintln!(
        "{} samples, {} batches in {:.1} s; report: {}",
        outcome.analysis.similarity.samples,
        outcome.analysis.similarity.batches,
        outcome.wall_seconds,
        run.out.join("report.md").display()
    );
    Ok(())
}
