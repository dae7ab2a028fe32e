//! `painters heal`: fine-tune LoRA adapters (or full-rank deltas on chosen blocks) on a model run
//! under a schedule, on half of WikiText-2, and measure the held-out perplexity on the other half
//! ([`HealRun`]).

use std::path::PathBuf;

use painters_bench::heal::{HealConfig, HealError, LoraError, LoraSpec, LoraTarget, Objective};
use painters_bench::jobs::{HealRun, HealRunError};

use crate::args::{DataArgs, ModelArgs, ScheduleArgs, command_line};
use crate::error::{CliError, DATA_HINT, LLAMA_MODEL_HINT, load_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/heal.txt"))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Seed of the random preset.
    #[arg(long, default_value_t = 0)]
    preset_seed: i128,
    /// LoRA rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// LoRA alpha (the adapter's output is scaled by alpha / rank).
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    /// Scale by alpha / sqrt(rank) (rsLoRA).
    #[arg(long)]
    rslora: bool,
    /// Projections that get adapters (PEFT names), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    )]
    targets: Vec<String>,
    /// Blocks that get LoRA adapters, comma-separated (default: every block).
    #[arg(long, value_delimiter = ',')]
    blocks: Option<Vec<usize>>,
    /// Blocks fine-tuned in full (a full-rank delta on every projection), comma-separated.
    #[arg(long, value_delimiter = ',')]
    full_blocks: Vec<usize>,
    /// One adapter per block occurrence instead of per block (sequential schedules only).
    #[arg(long)]
    untie: bool,
    /// Objective: next-token, or distill (KL from the full model's output distribution).
    #[arg(long, default_value = "next-token")]
    objective: String,
    /// Distillation temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Optimisation steps.
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Windows per step.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Tokens per window.
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    /// Linear warmup steps (then linear decay to 0).
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Global gradient-norm clip (0: none).
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    /// Seed of the adapters' initialisation and the window order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate the held-out perplexity every N steps (0: only before and after).
    #[arg(long, default_value_t = 200)]
    eval_every: usize,
    /// Held-out windows evaluated, spread over the held-out half (0: all).
    #[arg(long, default_value_t = 64)]
    eval_windows: usize,
    #[command(flatten)]
    data: DataArgs,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
}

fn run_error(e: HealRunError) -> CliError {
    match e {
        HealRunError::Load(e) => load_error(e, LLAMA_MODEL_HINT),
        HealRunError::Schedule(e) => e.into(),
        HealRunError::Plan(e) => e.into(),
        e @ HealRunError::Data(_) => CliError::new(e).with_hint(DATA_HINT),
        HealRunError::Heal(HealError::Lora(e)) => lora_error(e),
        e @ HealRunError::Heal(HealError::Diverged { .. }) => {
            CliError::new(e).with_hint("lower --lr or keep --clip on")
        }
        e @ HealRunError::Heal(HealError::NoWindows(_)) => {
            CliError::new(e).with_hint("lower --seq-len")
        }
        other => CliError::new(other),
    }
}

fn lora_error(e: LoraError) -> CliError {
    let hint = match &e {
        LoraError::UnknownTarget(_) | LoraError::NoSuchTarget(_) => "check --targets",
        LoraError::BadBlock { .. } => "check --blocks and --full-blocks",
        LoraError::BadRank(_) | LoraError::BadAlpha(_) => "check --rank and --alpha",
        LoraError::Untie(_) => "drop --untie, or use a schedule without parallel steps",
        _ => return CliError::new(e),
    };
    CliError::new(e).with_hint(hint)
}

pub fn run(args: Args) -> Result<(), CliError> {
    let targets = args
        .targets
        .iter()
        .map(|t| LoraTarget::from_name(t.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(lora_error)?;
    let objective = match args.objective.as_str() {
        "next-token" => Objective::NextToken,
        "distill" => Objective::Distill {
            temperature: args.temperature,
        },
        other => {
            return Err(CliError::new(format!("unknown objective `{other}`"))
                .with_hint("--objective takes next-token or distill"));
        }
    };
    let config = HealConfig {
        lora: LoraSpec {
            rank: args.rank,
            alpha: args.alpha,
            rslora: args.rslora,
            targets,
            blocks: args.blocks,
            full_blocks: args.full_blocks,
            seed: args.seed,
        },
        objective,
        untie: args.untie,
        steps: args.steps,
        batch_size: args.batch_size,
        seq_len: args.seq_len,
        learning_rate: args.lr,
        warmup_steps: args.warmup,
        weight_decay: args.weight_decay,
        max_grad_norm: (args.clip > 0.0).then_some(args.clip),
        seed: args.seed,
        eval_every: args.eval_every,
        eval_batch: 8,
    };
    let run = HealRun {
        model: args.model.source(true),
        schedule: args.schedule.spec(args.preset_seed),
        config,
        eval_windows: (args.eval_windows > 0).then_some(args.eval_windows),
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
    eprintln!(
        "held-out perplexity: full {:.3}, painted {:.3}, healed {:.3} ({:.1}% of the gap recovered) in {:.0} s",
        outcome.full.perplexity,
        outcome
            .report
            .evals
            .first()
            .map_or(f64::NAN, |p| p.perplexity),
        outcome
            .report
            .evals
            .last()
            .map_or(f64::NAN, |p| p.perplexity),
        100.0 * outcome.recovered,
        outcome.wall_seconds
    );
    Ok(())
}
