//! `painters bench`: whole-model figures of a Llama model, printed as the same Markdown tables every
//! time (so that regressions show), and optionally written as JSON ([`BenchRun`]).
//!
//! Peak heap memory comes from the counting global allocator that `main.rs` registers
//! ([`painters_bench::perf::CountingAlloc`]: two relaxed atomics per allocation); the run measures
//! and prints that allocator's overhead on one forward pass.

use std::path::PathBuf;

use painters_bench::models::ModelSource;
use painters_bench::perf::{BenchError, BenchRun, SCHEDULES};

use crate::args::{DeviceArgs, WeightsArgs, command_line};
use crate::error::{CliError, load_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/bench.txt"))]
pub struct Args {
    /// The model: a HF checkpoint folder, a .gguf file, or hf:OWNER/NAME[@REV][:FILE.gguf].
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    weights: WeightsArgs,
    /// Timed runs per figure (the median is reported), after the warm-up runs.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Untimed runs before each figure's timed ones.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Comma-separated subset of: identity, skip, middle_repeat, parallel, parallel_batched,
    /// looped_parallel (default: all).
    #[arg(long, value_delimiter = ',')]
    schedules: Option<Vec<String>>,
    /// Start layer N of the paper presets (blocks 0..=N and T-N..T are kept).
    #[arg(long, default_value_t = 8)]
    n: usize,
    /// Loop count of looped_parallel.
    #[arg(long, default_value_t = 3)]
    loops: usize,
    /// Prompt length of the long-context decode figure (64 new tokens after it), where the KV cache's
    /// handling shows; 0 skips it.
    #[arg(long, default_value_t = 512)]
    long_prompt: usize,
    /// Also write the figures as one JSON object to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run each batch as one computation instead of row groups on the CPU threads at once (only
    /// the 8×128 forward has more than one row); to measure what the split buys.
    #[arg(long)]
    no_batch_split: bool,
    /// Run each fused projection (Q|KV, gate|up) as one GEMM instead of its two parts on two CPU
    /// threads at once; to measure what the split buys.
    #[arg(long)]
    no_projection_split: bool,
}

fn run_error(e: BenchError) -> CliError {
    match e {
        e @ BenchError::UnknownSchedule(_) => {
            CliError::new(e).with_hint(format!("--schedules takes: {}", SCHEDULES.join(", ")))
        }
        BenchError::Load(e) => load_error(
            e,
            "--model takes a HF checkpoint folder or a .gguf file (scripts/fetch-models.sh fetches the default)",
        ),
        BenchError::Schedule(e) => e.into(),
        e @ BenchError::Write { .. } => {
            CliError::new(e).with_hint("--json must be a file in an existing, writable folder")
        }
        other => CliError::new(other),
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let run = BenchRun {
        model: ModelSource {
            model: args.model,
            device: args.device.device,
            progress: true,
            weights: args.weights.weights,
        },
        repeats: args.repeats,
        warmup: args.warmup,
        schedules: args.schedules,
        n: args.n,
        loops: args.loops,
        long_prompt: args.long_prompt,
        no_batch_split: args.no_batch_split,
        no_projection_split: args.no_projection_split,
        command: command_line(),
        json: args.json,
    };
    let figures = run
        .execute(&mut |line| eprintln!("{line}"))
        .map_err(run_error)?;
    print!("{}", figures.markdown());
    Ok(())
}
