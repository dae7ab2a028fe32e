//! `painters sweep`: one model, the paper's experiments (many schedules), several tasks; one result
//! file per schedule × task, resumable and shardable, with shared schedule prefixes computed once;
//! then the folder's report ([`SweepJob`]).
//!
//! A BERT model folder (config.json with `"model_type": "bert"`) is swept on GLUE tasks instead:
//! every schedule fine-tuned and evaluated under itself.

use std::path::PathBuf;

use painters_bench::jobs::SweepJob;
use painters_bench::sweep::{ExperimentOptions, SweepEvent, SweepRun, SweepSettings, reuse_line};

use crate::args::{DataArgs, Mode, ModelArgs, NormArgs, command_line};
use crate::error::{CliError, job_error};
use crate::output::{report_line, sweep_line};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/sweep.txt"))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// An experiment (repeatable): skip_one, switch, skip, middle_repeat, reverse, random, parallel,
    /// looped_parallel, grid, summary, all.
    #[arg(long = "experiment", required = true, value_delimiter = ',')]
    experiments: Vec<String>,
    /// Comma-separated task names: lm-eval tasks for a Llama model, GLUE tasks for a BERT model.
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<String>,
    /// Evaluate only the first N documents of each task (lm-eval tasks; GLUE: --eval-limit).
    #[arg(long)]
    limit: Option<usize>,
    /// Rows per batched forward pass (default 16); GLUE: the fine-tuning batch size (default 32).
    #[arg(long)]
    batch_size: Option<usize>,
    #[command(flatten)]
    glue: GlueArgs,
    /// Seeds of the random variant (0, 1, …, SEEDS−1).
    #[arg(long, default_value_t = 10)]
    seeds: usize,
    /// Largest loop count K of the grid experiment (the paper's Fig. 10 goes to 28).
    #[arg(long, default_value_t = 28)]
    max_loops: usize,
    /// Loop count of the looped_parallel experiment (the paper's "3X").
    #[arg(long, default_value_t = 3)]
    loops: usize,
    /// The most schedule points the sweep may have; a larger sweep is refused (counted before
    /// anything is built or loaded).
    #[arg(long, default_value_t = painters_bench::sweep::MAX_POINTS)]
    max_points: usize,
    /// Run only shard i of n (i counted from 0): every n-th (task, schedule group) unit.
    #[arg(long)]
    shard: Option<String>,
    /// Run every schedule on its own instead of computing shared leading steps once.
    #[arg(long)]
    no_prefix_reuse: bool,
    /// Schedules per prefix-sharing group; a kill loses at most one group's work [default: 16].
    #[arg(long)]
    group_size: Option<usize>,
    /// Score every choice as its own batch row instead of reading a shared question prefix once.
    #[arg(long)]
    no_shared_prefix: bool,
    #[command(flatten)]
    norm: NormArgs,
    #[command(flatten)]
    data: DataArgs,
    /// The sweep folder (results/, results.json, results.csv).
    #[arg(long)]
    out: PathBuf,
    /// No progress display (a bar on a terminal, else a line every 30 s).
    #[arg(long)]
    no_progress: bool,
    /// Print what the sweep would cost and stop: its points and block applications by variant,
    /// each task's documents and tokens, and the wall time and CPU-hours on this machine (from a
    /// few timed forward passes; an upper bound, before prefix reuse). Writes nothing. Decoder
    /// sweeps only.
    #[arg(long)]
    dry_run: bool,
    /// One token per byte instead of the model's tokenizer (for the tiny fixture models, which have
    /// no vocabulary).
    #[arg(long, hide = true)]
    byte_tokenizer: bool,
    /// Stop after this many results (tests of resuming).
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

/// The fine-tuning settings of a GLUE sweep (BERT models).
/// The help heading of the GLUE settings.
const GLUE: &str = "GLUE sweeps (BERT models)";

#[derive(clap::Args)]
struct GlueArgs {
    /// GLUE: train on at most N examples: the first N, or with --train-sample a seeded sample.
    #[arg(long, help_heading = GLUE)]
    train_limit: Option<usize>,
    /// GLUE: with --train-limit, draw the examples with --seed instead of taking the first N.
    #[arg(long, requires = "train_limit", help_heading = GLUE)]
    train_sample: bool,
    /// GLUE: evaluate on the first N dev examples only.
    #[arg(long, help_heading = GLUE)]
    eval_limit: Option<usize>,
    /// GLUE: fine-tuning epochs [default: 3].
    #[arg(long, help_heading = GLUE)]
    epochs: Option<usize>,
    /// GLUE: peak learning rate [default: 2e-5].
    #[arg(long, help_heading = GLUE)]
    lr: Option<f64>,
    /// GLUE: truncation length in tokens [default: 128].
    #[arg(long, help_heading = GLUE)]
    max_length: Option<usize>,
    /// GLUE: linear warmup steps [default: 0].
    #[arg(long, help_heading = GLUE)]
    warmup_steps: Option<usize>,
    /// GLUE: what trains, everything (full) or only the pooler and classifier (frozen-encoder) [default: full].
    #[arg(long, value_enum, help_heading = GLUE)]
    mode: Option<Mode>,
    /// GLUE: seed of the new head, the shuffle order, dropout and --train-sample [default: 42].
    #[arg(long, help_heading = GLUE)]
    seed: Option<u64>,
}

impl From<GlueArgs> for SweepSettings {
    fn from(g: GlueArgs) -> Self {
        SweepSettings {
            train_limit: g.train_limit,
            train_sample: g.train_sample,
            eval_limit: g.eval_limit,
            epochs: g.epochs,
            lr: g.lr,
            max_length: g.max_length,
            warmup_steps: g.warmup_steps,
            mode: g.mode.map(Into::into),
            seed: g.seed,
        }
    }
}

/// The progress lines of a sweep on stderr.
fn print_event(e: &SweepEvent, out: &std::path::Path) {
    match e {
        SweepEvent::Starting {
            points,
            tasks,
            layers,
            shard,
            finetune: None,
        } => eprintln!(
            "sweep: {points} schedule points × {tasks} tasks on a {layers}-block model (shard {}/{})",
            shard.index, shard.count
        ),
        SweepEvent::Starting {
            points,
            tasks,
            layers,
            shard,
            finetune: Some(f),
        } => eprintln!(
            "GLUE sweep: {points} schedule points × {tasks} tasks on a {layers}-block BERT model (shard {}/{}), fine-tuned with {f}",
            shard.index, shard.count
        ),
        SweepEvent::Finished {
            report,
            expected,
            decoder,
        } => {
            sweep_line(report, *expected, out);
            if *decoder {
                eprintln!("{}", reuse_line(&report.reuse));
            }
        }
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let job = SweepJob {
        run: SweepRun {
            model: args.model.source(!args.no_progress),
            experiments: args.experiments,
            tasks: args.tasks,
            experiment_options: ExperimentOptions {
                seeds: args.seeds,
                max_loops: args.max_loops,
                loops: args.loops,
                max_points: args.max_points,
            },
            limit: args.limit,
            batch_size: args.batch_size,
            glue: args.glue.into(),
            shard: args.shard,
            no_prefix_reuse: args.no_prefix_reuse,
            group_size: args.group_size,
            no_shared_prefix: args.no_shared_prefix,
            floors: args.norm.floors,
            norm_metrics: args.norm.norm_metrics,
            data_dir: args.data.resolve()?,
            out: args.out.clone(),
            progress: !args.no_progress,
            byte_tokenizer: args.byte_tokenizer,
            stop_after: args.stop_after,
        },
        command: Some(command_line()),
    };
    if args.dry_run {
        let estimate = job
            .run
            .estimate()
            .map_err(|e| job_error(painters_bench::jobs::JobError::from(e)))?;
        print!("{}", estimate.markdown());
        if let Some(shard) = &job.run.shard {
            println!("\n(The whole sweep; shard {shard} takes its share of the work units.)");
        }
        return Ok(());
    }
    let (_, reported) = job
        .execute_with(&mut |e| print_event(e, &args.out))
        .map_err(job_error)?;
    report_line(&reported);
    Ok(())
}
