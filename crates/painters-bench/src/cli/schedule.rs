//! `painters schedule`: one schedule in, its canonical text, JSON steps and plan figures out.

use clap::ValueEnum;
use painters::paper::{Middle, Variant};
use painters::{KvMode, LayerSchedule, Plan, ShuffleRng};
use serde_json::json;

use super::CliError;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  painters schedule '0..=14, par(15..=16)x3, 17..32' --layers 32\n  painters schedule '{\"steps\":[{\"block\":0},{\"parallel\":[1,2],\"loops\":2}]}'\n  painters schedule --preset random --layers 32 --n 14 --seed 3 --json\n  painters schedule --preset looped_parallel --layers 32 --m 9 --loops 3 --plan"
)]
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
    #[arg(long, default_value_t = 0)]
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
}

#[derive(Clone, Copy, ValueEnum)]
enum RngKind {
    Python,
    Chacha,
}

#[derive(Clone, Copy, ValueEnum)]
enum KvKind {
    Exact,
    PaperAveraged,
}

fn read_spec(spec: &str) -> Result<String, CliError> {
    match spec.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("cannot read schedule file {path}: {e}"))),
        None => Ok(spec.to_string()),
    }
}

/// Parse a schedule given as text or JSON (detected by a leading `{`).
pub fn parse_spec(spec: &str) -> Result<LayerSchedule, CliError> {
    let text = read_spec(spec)?;
    let schedule = if text.trim_start().starts_with('{') {
        LayerSchedule::from_json_str(&text)?
    } else {
        text.trim().parse()?
    };
    Ok(schedule)
}

/// A paper preset as the CLI's `--preset NAME [--n N | --m M] [--seed S] [--loops K]` give it.
pub struct Preset<'a> {
    pub name: &'a str,
    pub n: Option<usize>,
    pub m: Option<usize>,
    pub seed: i128,
    pub loops: usize,
}

/// The schedule of `--schedule SPEC` or of a preset, for a `layers`-block model; neither means the
/// full model. Shared by every subcommand that takes a schedule.
pub fn resolve(
    spec: Option<&str>,
    preset: Option<Preset>,
    layers: usize,
) -> Result<LayerSchedule, CliError> {
    let Some(p) = preset else {
        return match spec {
            Some(spec) => parse_spec(spec),
            None => Ok(LayerSchedule::full(layers)),
        };
    };
    if spec.is_some() {
        return Err(CliError::new(
            "give either a schedule or a preset, not both",
        ));
    }
    let variant = Variant::parse(p.name, p.seed, p.loops)?;
    Ok(match (p.n, p.m) {
        (_, Some(m)) if variant.uses_middle() => variant.on_middle(Middle::from_m(layers, m)?),
        (Some(n), None) => variant.schedule(layers, n)?,
        (None, None) if variant == Variant::Full => LayerSchedule::full(layers),
        _ => {
            return Err(
                CliError::new(format!("preset {} needs --n (or --m)", p.name)).with_hint(
                    "--n is the start layer N; --m the number of affected blocks M = T-2N-1",
                ),
            );
        }
    })
}

/// `--schedule` or `--preset` with its parameters: the schedule options of every command that runs
/// a model (`eval`, `layers`).
#[derive(clap::Args, Debug)]
pub struct ScheduleArgs {
    /// A schedule in the text notation or as JSON; `@FILE` reads it from a file. Default: all blocks in order.
    #[arg(long, conflicts_with = "preset")]
    pub schedule: Option<String>,
    /// A paper preset: full, skip, middle_repeat, reverse, random, parallel, looped_parallel, skip_one, switch.
    #[arg(long)]
    pub preset: Option<String>,
    /// Start layer N of the preset (the block index for skip_one/switch).
    #[arg(long, conflicts_with = "m")]
    pub n: Option<usize>,
    /// Number of affected middle blocks M = T - 2N - 1.
    #[arg(long)]
    pub m: Option<usize>,
    /// Seed of the random preset.
    #[arg(long, default_value_t = 0)]
    pub seed: i128,
    /// Loop count of looped_parallel.
    #[arg(long, default_value_t = 3)]
    pub loops: usize,
}

impl ScheduleArgs {
    /// The schedule these options name, for a model of `layers` blocks.
    pub fn resolve(&self, layers: usize) -> Result<LayerSchedule, CliError> {
        let preset = self.preset.as_deref().map(|name| Preset {
            name,
            n: self.n,
            m: self.m,
            seed: self.seed,
            loops: self.loops,
        });
        resolve(self.schedule.as_deref(), preset, layers)
    }
}

fn parse_range(text: &str) -> Result<std::ops::RangeInclusive<usize>, CliError> {
    let bad = || {
        CliError::new(format!("--shuffle {text:?} is not a block range"))
            .with_hint("write a range as A..B (end exclusive) or A..=B")
    };
    let s: LayerSchedule = text.parse().map_err(|_| bad())?;
    if s.application_count() > painters::schedule::MAX_APPLICATIONS {
        return Err(bad());
    }
    let blocks = s.block_applications();
    match (blocks.first(), blocks.last()) {
        (Some(&a), Some(&b)) if a <= b && blocks == (a..=b).collect::<Vec<_>>() => Ok(a..=b),
        _ => Err(bad()),
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let (schedule, layers) = match (&args.spec, &args.preset) {
        (Some(spec), _) => {
            let s = parse_spec(spec)?;
            let layers = args
                .layers
                .unwrap_or_else(|| s.blocks_used().last().map_or(0, |b| b + 1));
            (s, layers)
        }
        (None, Some(name)) => {
            let layers = args.layers.ok_or_else(|| {
                CliError::new("--preset needs the model's block count")
                    .with_hint("add --layers T, e.g. --layers 32 for Llama2-7B")
            })?;
            let preset = Preset {
                name,
                n: args.n,
                m: args.m,
                seed: args.seed,
                loops: args.loops,
            };
            (resolve(None, Some(preset), layers)?, layers)
        }
        (None, None) => {
            return Err(CliError::new("no schedule given")
                .with_hint("pass a schedule (text or JSON) or --preset NAME --layers T --n N"));
        }
    };
    let schedule = match &args.shuffle {
        Some(r) => {
            let rng = match args.rng {
                RngKind::Python => ShuffleRng::Python(args.seed),
                RngKind::Chacha => ShuffleRng::ChaCha(u64::try_from(args.seed).map_err(|_| {
                    CliError::new("--rng chacha needs a non-negative --seed below 2^64")
                })?),
            };
            schedule.shuffle(parse_range(r)?, rng)
        }
        None => schedule,
    };
    let kv = match args.kv {
        KvKind::Exact => KvMode::Exact,
        KvKind::PaperAveraged => KvMode::PaperAveraged,
    };
    let plan = Plan::compile(&schedule, layers, kv)?;
    if args.json {
        let mut out = json!({
            "layers": layers,
            "schedule": schedule.to_string(),
            "steps": schedule.to_json()["steps"],
            "plan": plan.stats(),
        });
        if args.plan {
            out["plan_text"] = json!(plan.to_string());
        }
        println!("{}", pretty_with_compact_steps(&out));
    } else {
        println!("schedule: {schedule}");
        println!("layers:   {layers}");
        println!("steps:    {}", schedule.to_json());
        println!("plan:     {}", plan.stats());
        if args.plan {
            print!("{plan}");
        }
    }
    Ok(())
}

/// Pretty JSON, except that each schedule step stays on one line (a 32-step schedule is then 32 lines
/// that read like the schedule, not 100 lines of braces).
fn pretty_with_compact_steps(v: &serde_json::Value) -> String {
    let mut lines = vec!["{".to_string()];
    let obj = v.as_object().into_iter().flatten().collect::<Vec<_>>();
    for (i, (k, val)) in obj.iter().enumerate() {
        let comma = if i + 1 < obj.len() { "," } else { "" };
        let body = match (k.as_str(), val.as_array()) {
            ("steps", Some(steps)) => {
                let inner: Vec<String> = steps.iter().map(|s| format!("    {s}")).collect();
                format!("[\n{}\n  ]", inner.join(",\n"))
            }
            _ => serde_json::to_string_pretty(val)
                .unwrap_or_default()
                .replace('\n', "\n  "),
        };
        lines.push(format!(
            "  {}: {body}{comma}",
            serde_json::Value::from(k.as_str())
        ));
    }
    lines.push("}".to_string());
    lines.join("\n")
}
