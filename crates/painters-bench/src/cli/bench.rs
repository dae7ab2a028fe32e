//! `painters bench`: whole-model figures of a Llama model, printed as the same Markdown tables every
//! time (so that regressions show), and optionally written as JSON.
//!
//! Peak heap memory comes from the counting global allocator that `main.rs` registers
//! ([`painters_bench::perf::CountingAlloc`]: two relaxed atomics per allocation); the command measures
//! and prints that allocator's overhead on one forward pass.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use painters::exec::ExecOptions;
use painters::{KvMode, LayerSchedule, Plan, paper};
use painters_bench::perf;
use painters_llama::{LlamaError, LlamaModel};
use serde_json::json;

use super::CliError;

/// Every schedule the command knows, in table order.
pub const SCHEDULES: [&str; 6] = [
    "identity",
    "skip",
    "middle_repeat",
    "parallel",
    "parallel_batched",
    "looped_parallel",
];

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  painters bench\n  painters bench --repeats 3 --schedules identity,skip --json bench.json\n\nThe identity schedule is always measured (the other rows are relative to it). Threads: burn's flex backend uses rayon's global pool; set RAYON_NUM_THREADS to change it. See docs/performance.md."
)]
pub struct Args {
    /// The model: a HF checkpoint folder, a .gguf file, or hf:OWNER/NAME[@REV][:FILE.gguf].
    #[arg(
        long,
        default_value = "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    )]
    model: PathBuf,
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
    /// Compute device: cpu, wgpu or cuda[:N] (as this build's features allow).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Run each batch as one computation instead of row groups on the CPU threads at once (only
    /// the 8×128 forward has more than one row); to measure what the split buys.
    #[arg(long)]
    no_batch_split: bool,
    /// Run each fused projection (Q|KV, gate|up) as one GEMM instead of its two parts on two CPU
    /// threads at once; to measure what the split buys.
    #[arg(long)]
    no_projection_split: bool,
}

/// New tokens of the long-context decode figure.
const LONG_NEW: usize = 64;

/// One schedule's row.
struct Row {
    name: String,
    schedule: LayerSchedule,
    forward: Duration,
    /// Greedy decode, 16-token prompt + 32 new tokens: median time and new tokens per second.
    decode: (Duration, f64),
    blocks: usize,
    peak: Option<usize>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// `a` relative to `b`, in percent above it.
fn pct(a: Duration, b: Duration) -> f64 {
    (a.as_secs_f64() / b.as_secs_f64().max(1e-12) - 1.0) * 100.0
}

fn llama(e: LlamaError) -> CliError {
    CliError::new(e)
}

fn schedule_for(
    name: &str,
    layers: usize,
    n: usize,
    loops: usize,
) -> Result<LayerSchedule, CliError> {
    Ok(match name {
        "identity" => paper::full(layers),
        "skip" => paper::skip(layers, n)?,
        "middle_repeat" => paper::middle_repeat(layers, n)?,
        "parallel" | "parallel_batched" => paper::parallel(layers, n)?,
        "looped_parallel" => paper::looped_parallel(layers, n, loops)?,
        other => {
            return Err(CliError::new(format!("unknown schedule `{other}`"))
                .with_hint(format!("--schedules takes: {}", SCHEDULES.join(", "))));
        }
    })
}

/// The names to run, in table order, identity always first.
fn selected(arg: Option<&[String]>) -> Result<Vec<&'static str>, CliError> {
    let Some(list) = arg else {
        return Ok(SCHEDULES.to_vec());
    };
    for s in list {
        if !SCHEDULES.contains(&s.trim()) {
            return Err(CliError::new(format!("unknown schedule `{s}`"))
                .with_hint(format!("--schedules takes: {}", SCHEDULES.join(", "))));
        }
    }
    Ok(SCHEDULES
        .into_iter()
        .filter(|s| *s == "identity" || list.iter().any(|l| l.trim() == *s))
        .collect())
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$*?;&|".contains(c)) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a.clone()
            }
        })
        .collect();
    format!("painters {}", quoted.join(" "))
        .trim_end()
        .to_string()
}

pub fn run(args: Args) -> Result<(), CliError> {
    let names = selected(args.schedules.as_deref())?;
    let device = super::device(&args.device)?;
    let path = super::model_path(&args.model, true)?;
    let mut model = LlamaModel::load(&path, &device).map_err(|e| {
        CliError::new(e).with_hint(
            "--model takes a HF checkpoint folder or a .gguf file (scripts/fetch-models.sh fetches the default)",
        )
    })?;
    if args.no_batch_split {
        model.set_batch_split(false);
    }
    if args.no_projection_split {
        model.set_projection_split(false);
    }
    let batch_parts = model.batch_parts(8);
    let layers = model.num_blocks();
    // The heap the loaded model holds: the base that peak memory is relative to.
    let resident = perf::live_bytes();
    let (warmup, repeats) = (args.warmup, args.repeats.max(1));
    let command = command_line();
    let machine = perf::machine();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };

    let x1 = perf::input(1, 128).map_err(llama)?;
    let x8 = perf::input(8, 128).map_err(llama)?;
    let seq = ExecOptions::sequential();

    // Per schedule: warm-up and one forward under the allocator's peak tracking.
    let mut plans = Vec::new();
    let mut peaks = Vec::new();
    for name in &names {
        let schedule = schedule_for(name, layers, args.n, args.loops)?;
        let plan = Plan::compile(&schedule, layers, KvMode::Exact)?;
        let options = if *name == "parallel_batched" {
            ExecOptions::batched()
        } else {
            seq
        };
        eprintln!("bench: {name}: {schedule}");
        for _ in 0..warmup {
            perf::forward_once(&model, &plan, &x1, options).map_err(llama)?;
        }
        let (done, peak) = perf::peak_alloc(|| perf::forward_once(&model, &plan, &x1, options));
        done.map_err(llama)?;
        peaks.push(peak);
        plans.push((schedule, plan, options));
    }
    // Two baselines timed with them: the fixed cost every schedule pays (embedding, RoPE tables and
    // mask, final norm, head), as the empty schedule, so that the time spent in blocks can be
    // checked to scale with the block applications; and the identity without the executor (a
    // hand-written loop over the blocks), the executor's own cost.
    let empty = Plan::compile(&LayerSchedule::empty(), layers, KvMode::Exact)?;
    for _ in 0..warmup {
        perf::forward_once(&model, &empty, &x1, seq).map_err(llama)?;
        perf::straight_line_once(&model, &x1).map_err(llama)?;
    }
    // Round robin: every repeat times each schedule once, so that drift of the machine (clock,
    // other load) spreads over all rows instead of biasing whichever ran during it. The first
    // schedule (identity) and the straight-line loop run back to back, in alternating order, so that
    // each round gives one paired ratio of the two that drift between rounds cannot bias.
    eprintln!(
        "bench: timing {} forward passes",
        (plans.len() + 2) * repeats
    );
    let (empty_at, straight_at) = (plans.len(), plans.len() + 1);
    let mut order: Vec<usize> = (0..plans.len() + 2).collect();
    if !plans.is_empty() {
        order = std::iter::once(0)
            .chain([straight_at])
            .chain(1..plans.len())
            .chain([empty_at])
            .collect();
    }
    let mut samples = vec![Vec::with_capacity(repeats); plans.len() + 2];
    for round in 0..repeats {
        let forward = order.iter().copied();
        let units: Vec<usize> = if round % 2 == 0 {
            forward.collect()
        } else {
            forward.rev().collect()
        };
        for i in units {
            let t = Instant::now();
            if i == empty_at {
                perf::forward_once(&model, &empty, &x1, seq).map_err(llama)?;
            } else if i == straight_at {
                perf::straight_line_once(&model, &x1).map_err(llama)?;
            } else {
                let (_, plan, options) = &plans[i];
                perf::forward_once(&model, plan, &x1, *options).map_err(llama)?;
            }
            samples[i].push(t.elapsed());
        }
    }
    let fixed = perf::median(&samples[empty_at]);
    let straight = perf::median(&samples[straight_at]);
    // Executor overhead: the median over rounds of identity / straight-line, each pair adjacent.
    let mut paired: Vec<f64> = samples
        .first()
        .filter(|_| !plans.is_empty())
        .map(|through| {
            through
                .iter()
                .zip(&samples[straight_at])
                .map(|(a, b)| pct(*a, *b))
                .collect()
        })
        .unwrap_or_default();
    paired.sort_by(f64::total_cmp);
    // Decoding under each schedule: one token at a time is where a parallel step's members are
    // most latency-bound, so batching them shows here if anywhere.
    let mut decodes = Vec::with_capacity(plans.len());
    for (name, (_, plan, options)) in names.iter().zip(&plans) {
        eprintln!("bench: {name}: greedy decode 16+32");
        decodes.push(
            perf::decode_tokens_per_s(&model, plan, *options, (16, 32), warmup, repeats)
                .map_err(llama)?,
        );
    }
    let stacked = model.stacked_weight_bytes();
    model.clear_stacked_weights();
    let rows: Vec<Row> = names
        .iter()
        .zip(plans)
        .zip(peaks)
        .zip(&samples)
        .zip(decodes)
        .map(
            |((((name, (schedule, plan, _)), peak), times), decode)| Row {
                name: name.to_string(),
                blocks: plan.stats().block_applications,
                schedule,
                forward: perf::median(times),
                decode,
                peak,
            },
        )
        .collect();
    let through_plan = rows.first().map_or(Duration::ZERO, |r| r.forward);
    let executor_overhead = paired
        .get(paired.len() / 2)
        .copied()
        .unwrap_or_else(|| pct(through_plan, straight));
    let overhead_range = (
        paired.first().copied().unwrap_or(executor_overhead),
        paired.last().copied().unwrap_or(executor_overhead),
    );

    // Identity: the larger batch and decoding.
    let identity = Plan::compile(&paper::full(layers), layers, KvMode::Exact)?;
    eprintln!("bench: identity forward 8x128");
    let forward8 =
        perf::time_forward(&model, &identity, &x8, seq, warmup, repeats).map_err(llama)?;
    let (decode, tok_s) = rows.first().map_or((Duration::ZERO, 0.0), |r| r.decode);
    let long = if args.long_prompt > 0 {
        eprintln!(
            "bench: identity greedy decode {}+{LONG_NEW}",
            args.long_prompt
        );
        Some(
            perf::decode_tokens_per_s(
                &model,
                &identity,
                seq,
                (args.long_prompt, LONG_NEW),
                warmup,
                repeats,
            )
            .map_err(llama)?,
        )
    } else {
        None
    };

    // Last (the counts are not trusted after it): the counting allocator's cost on one forward.
    eprintln!("bench: allocator overhead");
    perf::set_counting(false);
    let plain = perf::time_forward(&model, &identity, &x1, seq, 0, repeats);
    perf::set_counting(true);
    let plain = plain.map_err(llama)?;
    let counted = perf::time_forward(&model, &identity, &x1, seq, 0, repeats).map_err(llama)?;
    let overhead = pct(counted, plain);

    let base = rows.first().map_or(Duration::ZERO, |r| r.forward);
    let base_blocks = rows.first().map_or(1, |r| r.blocks.max(1));
    let rel = |d: Duration| d.as_secs_f64() / base.as_secs_f64().max(1e-12);
    let per_block = |r: &Row| rel(r.forward) * base_blocks as f64 / r.blocks.max(1) as f64;
    // Time in blocks only (minus the fixed cost), per block application, relative to the identity's.
    let in_blocks = |d: Duration| (d.as_secs_f64() - fixed.as_secs_f64()).max(0.0);
    let net_per_block = |r: &Row| {
        let base_net = in_blocks(base) / base_blocks as f64;
        (in_blocks(r.forward) / r.blocks.max(1) as f64) / base_net.max(1e-12)
    };
    let base_peak = rows.first().and_then(|r| r.peak);
    // Whole-heap peak (model + working memory) relative to the identity's.
    let peak_vs_identity = |r: &Row| match (r.peak, base_peak) {
        (Some(p), Some(b)) => Some((resident + p) as f64 / (resident + b).max(1) as f64),
        _ => None,
    };

    let mut out = String::new();
    out.push_str("## painters bench\n\n");
    out.push_str(&format!("Command: `{command}`\n\n"));
    out.push_str(&format!(
        "Machine: {machine}; device {}; {build} build of painters; batches of 8 run in {batch_parts} \
         row group(s); fused projections {}\n\n",
        args.device,
        if args.no_projection_split {
            "as one GEMM"
        } else {
            "in two parts at once on CPU"
        }
    ));
    out.push_str(&format!(
        "Model: {} ({layers} blocks); medians of {repeats} runs after {warmup} warm-up; N = {}, loops = {}\n\n",
        path.display(),
        args.n,
        args.loops
    ));
    out.push_str("| figure (identity) | median | rate |\n|---|---|---|\n");
    out.push_str(&format!(
        "| forward 1×128 | {:.1} ms | {:.0} tok/s |\n",
        ms(base),
        128.0 / base.as_secs_f64().max(1e-12)
    ));
    out.push_str(&format!(
        "| forward 8×128 | {:.1} ms | {:.0} tok/s |\n",
        ms(forward8),
        1024.0 / forward8.as_secs_f64().max(1e-12)
    ));
    out.push_str(&format!(
        "| greedy decode, 16-token prompt + 32 new (KV cache) | {:.1} ms | {tok_s:.1} tok/s |\n",
        ms(decode)
    ));
    if let Some((t, rate)) = long {
        out.push_str(&format!(
            "| greedy decode, {}-token prompt + {LONG_NEW} new (KV cache) | {:.1} ms | {rate:.1} tok/s |\n",
            args.long_prompt,
            ms(t)
        ));
    }
    out.push_str(&format!(
        "| executor overhead: identity through the plan vs a straight-line loop (median of per-round pairs) | {:+.1}% ({:+.1}%…{:+.1}% over {} rounds) | {:.1} ms vs {:.1} ms |\n",
        executor_overhead,
        overhead_range.0,
        overhead_range.1,
        paired.len(),
        ms(through_plan),
        ms(straight)
    ));
    out.push_str(&format!(
        "| embedding + head only (empty schedule), 1×128 | {:.1} ms | fixed cost of every schedule |\n\n",
        ms(fixed)
    ));
    out.push_str("| schedule | forward 1×128 | vs identity | block applications | time per block vs identity | same, net of embedding + head | decode 16+32 | decode vs identity | peak extra heap | peak heap vs identity |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &rows {
        let peak = r
            .peak
            .map_or("n/a".to_string(), |p| format!("{:.1} MiB", mib(p)));
        let peak_rel = peak_vs_identity(r).map_or("n/a".to_string(), |x| format!("{x:.3}×"));
        out.push_str(&format!(
            "| {} | {:.1} ms | {:.2}× | {} | {:.2}× | {:.2}× | {:.1} tok/s | {:.2}× | {peak} | {peak_rel} |\n",
            r.name,
            ms(r.forward),
            rel(r.forward),
            r.blocks,
            per_block(r),
            net_per_block(r),
            r.decode.1,
            r.decode.0.as_secs_f64() / decode.as_secs_f64().max(1e-12)
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "Heap held by the loaded model: {:.1} MiB (the base of \"peak heap vs identity\").\n",
        mib(resident)
    ));
    if names.contains(&"parallel_batched") {
        out.push_str(&format!(
            "parallel_batched also holds {:.1} MiB of stacked weights (built by its warm-up, not in its peak).\n",
            mib(stacked)
        ));
    }
    out.push_str(&format!(
        "Counting allocator overhead on one identity forward 1×128: {overhead:+.1}% ({:.1} ms counted vs {:.1} ms not).\n",
        ms(counted),
        ms(plain)
    ));
    print!("{out}");

    if let Some(file) = &args.json {
        let schedules: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "schedule": r.schedule.to_string(),
                    "forward_1x128_ms": ms(r.forward),
                    "relative_time": rel(r.forward),
                    "block_applications": r.blocks,
                    "relative_time_per_block": per_block(r),
                    "relative_time_per_block_net_of_fixed": net_per_block(r),
                    "decode_16_32_ms": ms(r.decode.0),
                    "decode_tokens_per_s": r.decode.1,
                    "peak_heap_relative_to_identity": peak_vs_identity(r),
                    "peak_extra_heap_bytes": r.peak,
                })
            })
            .collect();
        let v = json!({
            "command": command,
            "machine": machine,
            "device": args.device,
            "build": build,
            "batch_parts_of_8": batch_parts,
            "projection_split": !args.no_projection_split,
            "model": path.display().to_string(),
            "layers": layers,
            "repeats": repeats,
            "warmup": warmup,
            "n": args.n,
            "loops": args.loops,
            "forward_1x128_ms": ms(base),
            "forward_8x128_ms": ms(forward8),
            "fixed_cost_1x128_ms": ms(fixed),
            "straight_line_1x128_ms": ms(straight),
            "executor_1x128_ms": ms(through_plan),
            "executor_overhead_percent": executor_overhead,
            "executor_overhead_percent_rounds": paired,
            "model_heap_bytes": resident,
            "decode": {
                "prompt_tokens": 16,
                "new_tokens": 32,
                "median_ms": ms(decode),
                "tokens_per_s": tok_s,
            },
            "decode_long": long.map(|(t, rate)| json!({
                "prompt_tokens": args.long_prompt,
                "new_tokens": LONG_NEW,
                "median_ms": ms(t),
                "tokens_per_s": rate,
            })),
            "schedules": schedules,
            "stacked_weight_bytes": stacked,
            "allocator_overhead_percent": overhead,
        });
        let text = serde_json::to_string_pretty(&v).map_err(CliError::new)?;
        std::fs::write(file, text + "\n")
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", file.display())))?;
    }
    Ok(())
}
