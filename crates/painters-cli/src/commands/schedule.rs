//! `painters schedule`: one schedule in, its canonical text, JSON steps and plan figures out.

use std::path::PathBuf;

use clap::ValueEnum;
use painters_bench::schedules::{MergekitTarget, Preset, ScheduleQuery, ScheduleSpec, ShuffleKind};

use crate::args::KvKind;
use crate::error::CliError;

#[derive(clap::Args)]
#[command(after_help = include_str!("help/schedule.txt"))]
pub struct Args {
    /// A schedule in the text notation or as JSON (`{"steps": [...]}`); `@FILE` reads it from a file.
    #[arg(conflicts_with = "preset")]
    spec: Option<String>,
    /// A paper preset: full, skip, middle_repeat, reverse, random, parallel, looped_parallel, skip_one, switch.
    #[arg(long)]
    preset: Option<String>,
    /// The model's block count T. Required with --preset; otherwise the schedule's largest block + 1.
    #[arg(long, short = 'T')]
    layers: Option<usize>,
    /// Start layer N (authors' convention: blocks 0..=N and T-N..T are kept); the block index for skip_one/switch.
    #[arg(long, conflicts_with = "m")]
    n: Option<usize>,
    /// Number of affected middle blocks M = T - 2N - 1 (the x-axis of the paper's plots).
    #[arg(long)]
    m: Option<usize>,
    /// Seed of the random preset, or of --shuffle.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i128,
    /// Loop count of looped_parallel.
    #[arg(long, default_value_t = 3)]
    loops: usize,
    /// Shuffle this range of blocks (e.g. 5..=20) with --seed after building the schedule.
    #[arg(long)]
    shuffle: Option<String>,
    /// Generator of --shuffle: python (CPython's random.shuffle, as the paper) or chacha.
    #[arg(long, value_enum, default_value_t = RngKind::Python)]
    rng: RngKind,
    /// KV-cache mode the plan is compiled for.
    #[arg(long, value_enum, default_value_t = KvKind::Exact)]
    kv: KvKind,
    /// Print one JSON object (schedule text, steps, plan figures) instead of text.
    #[arg(long)]
    json: bool,
    /// Also print the plan's op list.
    #[arg(long)]
    plan: bool,
    /// A model (HF folder or .gguf) whose block count is T when --layers is not given.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Read the schedule from a mergekit passthrough recipe (slices of one model; layer_range
    /// half-open, as mergekit defines it).
    #[arg(long, value_name = "RECIPE.yml", conflicts_with_all = ["spec", "preset"])]
    from_mergekit: Option<PathBuf>,
    /// Print the schedule as a mergekit passthrough recipe (YAML) instead.
    #[arg(long, conflicts_with_all = ["json", "plan"])]
    to_mergekit: bool,
    /// The model the --to-mergekit recipe names [default: the recipe read, else --model].
    #[arg(long, requires = "to_mergekit")]
    model_name: Option<String>,
    /// `dtype:` of the --to-mergekit recipe, e.g. bfloat16.
    #[arg(long, requires = "to_mergekit")]
    dtype: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum RngKind {
    Python,
    Chacha,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let query = ScheduleQuery {
        schedule: ScheduleSpec {
            spec: args.spec,
            preset: args.preset.map(|name| Preset {
                name,
                n: args.n,
                m: args.m,
                seed: args.seed,
                loops: args.loops,
            }),
        },
        layers: args.layers,
        shuffle: args.shuffle.map(|range| {
            let kind = match args.rng {
                RngKind::Python => ShuffleKind::Python,
                RngKind::Chacha => ShuffleKind::ChaCha,
            };
            (range, kind)
        }),
        seed: args.seed,
        kv: args.kv.into(),
        json: args.json,
        plan: args.plan,
        model: args.model,
        from_mergekit: args.from_mergekit,
        to_mergekit: args.to_mergekit.then_some(MergekitTarget {
            model_name: args.model_name,
            dtype: args.dtype,
        }),
    };
    print!("{}", query.render()?);
    Ok(())
}
