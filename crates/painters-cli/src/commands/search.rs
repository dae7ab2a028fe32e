//! `painters search`: search a declared space of schedules for the best on a task's search set,
//! score the best, the heuristic baselines and the full model on held-out documents, and write the
//! Pareto front ([`SearchRun`]).

use std::path::PathBuf;

use painters::LayerSchedule;
use painters_bench::jobs::{SearchRun, SearchRunError};
use painters_bench::search::{Halving, Space, Strategy};

use crate::args::{DataArgs, ModelArgs, command_line};
use crate::error::{CliError, DATA_HINT, LLAMA_MODEL_HINT, load_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/search.txt"))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// A log-likelihood task.
    #[arg(long, default_value = "lambada_openai")]
    task: String,
    /// The objective: a metric of the task (lambada_openai: perplexity or acc).
    #[arg(long, default_value = "perplexity")]
    metric: String,
    /// The space: remove (k blocks anywhere), remove-slice (k consecutive blocks), duplicate (a
    /// range repeated), reorder (permutations within a window), list (--candidates).
    #[arg(long, default_value = "remove")]
    space: String,
    /// Blocks to remove (remove, remove-slice).
    #[arg(long, default_value_t = 6)]
    k: usize,
    /// Blocks never removed (remove), comma-separated.
    #[arg(long, value_delimiter = ',')]
    keep: Vec<usize>,
    /// Shortest and longest duplicated range (duplicate).
    #[arg(long, default_value_t = 1)]
    min_length: usize,
    #[arg(long, default_value_t = 6)]
    max_length: usize,
    /// Extra runs of the duplicated range (duplicate).
    #[arg(long, default_value_t = 1)]
    times: usize,
    /// Window of the reorderings (reorder).
    #[arg(long, default_value_t = 3)]
    window: usize,
    /// A file of schedules, one per line (list).
    #[arg(long)]
    candidates: Option<PathBuf>,
    /// greedy, beam (remove only) or exhaustive (every candidate of a listable space).
    #[arg(long)]
    strategy: Option<String>,
    /// Partial removals kept per step (beam).
    #[arg(long, default_value_t = 3)]
    beam_width: usize,
    /// Successive halving: documents of the first round (0: every candidate on the whole search
    /// set).
    #[arg(long, default_value_t = 25)]
    halving_start: usize,
    /// Successive halving: keep 1/eta of the candidates per round, eta × the documents.
    #[arg(long, default_value_t = 2)]
    eta: usize,
    /// The search set: the task's first N documents.
    #[arg(long, default_value_t = 100)]
    search_docs: usize,
    /// The held-out set's first document (at or after the search set's end).
    #[arg(long, default_value_t = 1000)]
    heldout_start: usize,
    /// Documents in the held-out set.
    #[arg(long, default_value_t = 200)]
    heldout_docs: usize,
    /// Best candidates scored on the held-out set (besides the best of each cost level).
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Candidates per shared-prefix group.
    #[arg(long, default_value_t = 16)]
    group_size: usize,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[command(flatten)]
    data: DataArgs,
    /// Output folder (created if missing; a rerun resumes from its journals).
    #[arg(long)]
    out: PathBuf,
}

fn run_error(e: SearchRunError) -> CliError {
    match e {
        SearchRunError::Load(e) => load_error(e, LLAMA_MODEL_HINT),
        e @ SearchRunError::Data(_) => CliError::new(e).with_hint(DATA_HINT),
        e @ SearchRunError::Overlap { .. } => CliError::new(e).with_hint("check --heldout-start"),
        e @ SearchRunError::TooFewDocs { .. } => {
            CliError::new(e).with_hint("lower --search-docs, --heldout-start or --heldout-docs")
        }
        SearchRunError::Plan(e) => e.into(),
        other => CliError::new(other),
    }
}

fn space(args: &Args) -> Result<Space, CliError> {
    Ok(match args.space.as_str() {
        "remove" => Space::Remove {
            k: args.k,
            keep: args.keep.clone(),
        },
        "remove-slice" => Space::RemoveSlice { k: args.k },
        "duplicate" => Space::Duplicate {
            lengths: args.min_length..=args.max_length,
            times: args.times,
        },
        "reorder" => Space::Reorder {
            window: args.window,
        },
        "list" => {
            let Some(path) = &args.candidates else {
                return Err(CliError::new("--space list needs --candidates FILE")
                    .with_hint("one schedule per line, e.g. `0..=20, 27..=29`"));
            };
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
            let mut list = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let s: LayerSchedule = line.parse().map_err(|e| {
                    CliError::new(format!("{}:{}: {e}", path.display(), i + 1))
                        .with_hint("see docs/schedule-syntax.md")
                })?;
                list.push(s);
            }
            Space::List(list)
        }
        other => {
            return Err(CliError::new(format!("unknown space `{other}`"))
                .with_hint("--space takes remove, remove-slice, duplicate, reorder or list"));
        }
    })
}

pub fn run(args: Args) -> Result<(), CliError> {
    let space = space(&args)?;
    let strategy = match (args.strategy.as_deref(), &space) {
        (None | Some("greedy"), Space::Remove { .. }) => Strategy::Beam { width: 1 },
        (Some("beam"), Space::Remove { .. }) => Strategy::Beam {
            width: args.beam_width.max(1),
        },
        (None | Some("exhaustive"), _) => Strategy::Exhaustive,
        (Some(s), _) => {
            return Err(CliError::new(format!(
                "strategy `{s}` does not fit --space {}",
                args.space
            ))
            .with_hint("remove: greedy or beam; the other spaces: exhaustive (with halving)"));
        }
    };
    let run = SearchRun {
        model: args.model.source(true),
        task: args.task,
        metric: args.metric,
        space,
        strategy,
        halving: (args.halving_start > 0).then_some(Halving {
            start: args.halving_start,
            eta: args.eta,
        }),
        search_docs: args.search_docs,
        heldout_start: args.heldout_start,
        heldout_docs: args.heldout_docs,
        top: args.top,
        analysis_docs: 100,
        group_size: args.group_size,
        batch_size: args.batch_size,
        data_dir: args.data.resolve()?,
        out: args.out,
        command: Some(command_line()),
    };
    let outcome = run
        .execute(&mut |line| eprintln!("{line}"))
        .map_err(run_error)?;
    for p in &outcome.written {
        println!("{}", p.display());
    }
    for r in &outcome.held_out {
        let m: Vec<String> = r
            .metrics
            .iter()
            .map(|(n, v, s)| match s {
                Some(s) => format!("{n} {v:.4} ± {s:.4}"),
                None => format!("{n} {v:.4}"),
            })
            .collect();
        eprintln!(
            "{}{}: {} ({} blocks): {}",
            r.label,
            if r.pareto { " [front]" } else { "" },
            r.schedule,
            r.blocks_applied,
            m.join(", ")
        );
    }
    eprintln!(
        "cost: {} evaluations, {:.3e} block×token applications; scoring the whole space from scratch: {:.3e} ({:.1}× more); {:.0} s",
        outcome.cost.evaluations,
        outcome.cost.block_token_applications as f64,
        outcome.cost.block_token_applications_exhaustive,
        outcome.cost.saving,
        outcome.wall_seconds
    );
    Ok(())
}
