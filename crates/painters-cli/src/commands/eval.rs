//! `painters eval`: a model, a layer schedule and lm-eval tasks in; lm-eval-shaped results JSON out
//! ([`EvalRun`]).

use std::ops::ControlFlow;
use std::path::PathBuf;

use painters_bench::batching::BatchOptions;
use painters_bench::eval::{EvalError, EvalEvent, EvalRun, EvalRunError};
use painters_bench::lm::LmError;
use painters_bench::tasks;

use crate::args::{DataArgs, KvKind, ModelArgs, ScheduleArgs};
use crate::error::{CliError, DATA_HINT, OUT_FILE_HINT, load_error, setting_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/eval.txt"))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Seed of the random preset.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i128,
    /// KV-cache mode for generation (gsm8k): exact, or the paper authors' averaged cache.
    #[arg(long, value_enum, default_value_t = KvKind::Exact)]
    kv: KvKind,
    /// Comma-separated lm-eval task names.
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<String>,
    /// Evaluate only the first N documents of each task.
    #[arg(long)]
    limit: Option<usize>,
    /// Rows per batched forward pass.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Model window in tokens (default: the model's max_position_embeddings). Shorter windows make
    /// wikitext faster but its perplexity no longer comparable with lm-eval's.
    #[arg(long)]
    max_length: Option<usize>,
    /// Score every choice as its own batch row instead of reading a shared question prefix once.
    #[arg(long)]
    no_shared_prefix: bool,
    /// Also write per-document records, one JSONL file per task beside --out.
    #[arg(long)]
    log_samples: bool,
    #[command(flatten)]
    data: DataArgs,
    /// The results file (written atomically).
    #[arg(long)]
    out: PathBuf,
    /// No progress display (a bar on a terminal, else a line every 30 s).
    #[arg(long)]
    no_progress: bool,
}

/// The progress lines of a run on stderr.
fn print_event(e: &EvalEvent) -> ControlFlow<()> {
    match e {
        EvalEvent::Planned { schedule, plan } => {
            eprintln!("schedule: {schedule}\nplan:     {plan}");
        }
        EvalEvent::Resumed { task, checkpoint } => {
            eprintln!("{task}: resumed from {}", checkpoint.display());
        }
        EvalEvent::OnRecord {
            task,
            docs,
            journal,
        } => eprintln!(
            "{task}: {docs} documents on record in {}; answering the rest",
            journal.display()
        ),
        EvalEvent::JournalFailed { journal, error } => eprintln!(
            "warning: {}: {error}; documents after that point were not checkpointed",
            journal.display()
        ),
        EvalEvent::TaskDone { result: r } => eprintln!(
            "{}: {} docs in {:.1} s ({:.2} docs/s){}",
            r.info.name,
            r.n_effective,
            r.seconds,
            r.n_effective as f64 / r.seconds.max(1e-9),
            if r.resumed_docs > 0 {
                format!(
                    "; {} of them from earlier runs, whose time is counted up to their last \
                     recorded document",
                    r.resumed_docs
                )
            } else {
                String::new()
            }
        ),
        EvalEvent::Document { .. } => {}
    }
    ControlFlow::Continue(())
}

fn run_error(e: EvalRunError) -> CliError {
    match e {
        EvalRunError::Output(e) => CliError::new(e).with_hint(OUT_FILE_HINT),
        EvalRunError::UnknownTask(name) => CliError::new(format!("unknown task `{name}`"))
            .with_hint(format!("known tasks: {}", tasks::NAMES.join(", "))),
        EvalRunError::Load(e) => load_error(
            e,
            "--model takes a HF checkpoint folder or a .gguf file; one that fails to parse may be \
             truncated: fetch it again (scripts/fetch-models.sh checks sha256)",
        ),
        EvalRunError::Schedule(e) => e.into(),
        EvalRunError::Plan(e) => e.into(),
        EvalRunError::Eval(e) => {
            let hint = if window_too_short(&e) {
                "a continuation is longer than the window: raise --max-length (or leave it out for the model's max_position_embeddings)"
            } else {
                DATA_HINT
            };
            CliError::new(e).with_hint(hint)
        }
        EvalRunError::Setting(e) => setting_error(e),
        other => CliError::new(other),
    }
}

/// Whether a task failed because a continuation does not fit the window.
fn window_too_short(e: &EvalError) -> bool {
    matches!(e, EvalError::Request { source, .. } if matches!(**source, LmError::ContinuationTooLong { .. }))
}

pub fn run(args: Args) -> Result<(), CliError> {
    let run = EvalRun {
        model: args.model.source(!args.no_progress),
        schedule: args.schedule.spec(args.seed),
        kv: args.kv.into(),
        tasks: args.tasks,
        limit: args.limit,
        batch: BatchOptions {
            batch_size: args.batch_size,
            min_saved_tokens: if args.no_shared_prefix {
                None
            } else {
                BatchOptions::default().min_saved_tokens
            },
            ..BatchOptions::default()
        },
        max_length: args.max_length,
        data_dir: args.data.resolve()?,
        out: args.out,
        log_samples: args.log_samples,
        progress: !args.no_progress,
    };
    let outcome = run.execute_with(&mut print_event).map_err(run_error)?;
    print!("{}", outcome.summary);
    Ok(())
}
