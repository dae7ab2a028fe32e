//! `painters bench`'s figures and how they print: a fixed Markdown table (identity figures, then a
//! row per schedule) and the same numbers as one JSON object.

use std::time::Duration;

use painters::LayerSchedule;
use serde_json::{Value, json};

/// New tokens of the long-context decode figure.
pub const LONG_NEW: usize = 64;

/// One schedule's row.
#[derive(Clone, Debug)]
pub struct BenchRow {
    pub name: String,
    pub schedule: LayerSchedule,
    /// Median forward pass, 1×128.
    pub forward: Duration,
    /// Greedy decode, 16-token prompt + 32 new tokens: median time and new tokens per second.
    pub decode: (Duration, f64),
    pub blocks: usize,
    /// Peak extra heap of one forward pass (`None` without the counting allocator).
    pub peak: Option<usize>,
}

/// Everything `painters bench` measured, with what it was measured on.
#[derive(Clone, Debug)]
pub struct BenchFigures {
    pub command: String,
    pub machine: String,
    pub device: String,
    /// `debug` or `release`.
    pub build: &'static str,
    pub batch_parts: usize,
    pub projection_split: bool,
    pub model: String,
    /// How the model's matrices are stored (`--weights`).
    pub weights: String,
    /// The CPU features the kernels may use, and the level they dispatch to.
    pub cpu_features: String,
    /// The process's peak resident set (VmHWM) when the figures were done, in bytes, where the OS
    /// reports it.
    pub peak_rss: Option<u64>,
    pub layers: usize,
    pub repeats: usize,
    pub warmup: usize,
    pub n: usize,
    pub loops: usize,
    /// Heap held by the loaded model.
    pub resident: usize,
    pub rows: Vec<BenchRow>,
    /// The empty schedule (embedding + head only), 1×128.
    pub fixed: Duration,
    /// The identity without the executor, 1×128.
    pub straight: Duration,
    /// Identity vs straight-line per round, sorted, in percent.
    pub paired: Vec<f64>,
    pub forward8: Duration,
    /// Prompt length and (median, tokens per second) of the long-context decode.
    pub long: Option<(usize, (Duration, f64))>,
    /// (median, tokens per second) of 32 single-token steps after a 1-token prompt: the same work
    /// as llama.cpp's `llama-bench -n 32` (tg32), for side-by-side ratios.
    pub tg32: (Duration, f64),
    pub stacked: usize,
    /// The counting allocator's cost: (counted, plain) identity forward.
    pub allocator: (Duration, Duration),
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// `a` relative to `b`, in percent above it.
pub fn pct(a: Duration, b: Duration) -> f64 {
    (a.as_secs_f64() / b.as_secs_f64().max(1e-12) - 1.0) * 100.0
}

impl BenchFigures {
    fn base(&self) -> Duration {
        self.rows.first().map_or(Duration::ZERO, |r| r.forward)
    }

    fn base_blocks(&self) -> usize {
        self.rows.first().map_or(1, |r| r.blocks.max(1))
    }

    /// `d` relative to the identity's forward pass.
    fn rel(&self, d: Duration) -> f64 {
        d.as_secs_f64() / self.base().as_secs_f64().max(1e-12)
    }

    fn per_block(&self, r: &BenchRow) -> f64 {
        self.rel(r.forward) * self.base_blocks() as f64 / r.blocks.max(1) as f64
    }

    /// Time in blocks only (minus the fixed cost), per block application, relative to the
    /// identity's.
    fn net_per_block(&self, r: &BenchRow) -> f64 {
        let in_blocks = |d: Duration| (d.as_secs_f64() - self.fixed.as_secs_f64()).max(0.0);
        let base_net = in_blocks(self.base()) / self.base_blocks() as f64;
        (in_blocks(r.forward) / r.blocks.max(1) as f64) / base_net.max(1e-12)
    }

    /// Whole-heap peak (model + working memory) relative to the identity's.
    fn peak_vs_identity(&self, r: &BenchRow) -> Option<f64> {
        match (r.peak, self.rows.first().and_then(|r| r.peak)) {
            (Some(p), Some(b)) => {
                Some((self.resident + p) as f64 / (self.resident + b).max(1) as f64)
            }
            _ => None,
        }
    }

    /// The executor's overhead: the median over rounds of identity / straight-line, and the range.
    fn executor_overhead(&self) -> (f64, f64, f64) {
        let mid = self
            .paired
            .get(self.paired.len() / 2)
            .copied()
            .unwrap_or_else(|| pct(self.base(), self.straight));
        (
            mid,
            self.paired.first().copied().unwrap_or(mid),
            self.paired.last().copied().unwrap_or(mid),
        )
    }

    fn decode(&self) -> (Duration, f64) {
        self.rows
            .first()
            .map_or((Duration::ZERO, 0.0), |r| r.decode)
    }

    fn allocator_overhead(&self) -> f64 {
        pct(self.allocator.0, self.allocator.1)
    }

    /// The fixed Markdown tables.
    pub fn markdown(&self) -> String {
        let base = self.base();
        let (decode, tok_s) = self.decode();
        let (overhead, lo, hi) = self.executor_overhead();
        let mut out = String::new();
        out.push_str("## painters bench\n\n");
        out.push_str(&format!("Command: `{}`\n\n", self.command));
        out.push_str(&format!(
            "Machine: {}; device {}; {} build of painters; batches of 8 run in {} row group(s); \
             fused projections {}\n\n",
            self.machine,
            self.device,
            self.build,
            self.batch_parts,
            if self.projection_split {
                "in two parts at once on CPU"
            } else {
                "as one GEMM"
            }
        ));
        out.push_str(&format!("CPU features: {}\n\n", self.cpu_features));
        out.push_str(&format!(
            "Model: {} ({} blocks, weights {}); medians of {} runs after {} warm-up; N = {}, loops = {}\n\n",
            self.model, self.layers, self.weights, self.repeats, self.warmup, self.n, self.loops
        ));
        out.push_str("| figure (identity) | median | rate |\n|---|---|---|\n");
        out.push_str(&format!(
            "| forward 1×128 | {:.1} ms | {:.0} tok/s |\n",
            ms(base),
            128.0 / base.as_secs_f64().max(1e-12)
        ));
        out.push_str(&format!(
            "| forward 8×128 | {:.1} ms | {:.0} tok/s |\n",
            ms(self.forward8),
            1024.0 / self.forward8.as_secs_f64().max(1e-12)
        ));
        out.push_str(&format!(
            "| greedy decode, 16-token prompt + 32 new (KV cache) | {:.1} ms | {tok_s:.1} tok/s |\n",
            ms(decode)
        ));
        out.push_str(&format!(
            "| greedy decode, 1-token prompt + 32 new (llama-bench's tg32) | {:.1} ms | {:.1} tok/s |\n",
            ms(self.tg32.0),
            self.tg32.1
        ));
        if let Some((prompt, (t, rate))) = self.long {
            out.push_str(&format!(
                "| greedy decode, {prompt}-token prompt + {LONG_NEW} new (KV cache) | {:.1} ms | {rate:.1} tok/s |\n",
                ms(t)
            ));
        }
        out.push_str(&format!(
            "| executor overhead: identity through the plan vs a straight-line loop (median of per-round pairs) | {overhead:+.1}% ({lo:+.1}%…{hi:+.1}% over {} rounds) | {:.1} ms vs {:.1} ms |\n",
            self.paired.len(),
            ms(base),
            ms(self.straight)
        ));
        out.push_str(&format!(
            "| embedding + head only (empty schedule), 1×128 | {:.1} ms | fixed cost of every schedule |\n\n",
            ms(self.fixed)
        ));
        out.push_str(&self.schedule_table());
        out.push_str(&format!(
            "Heap held by the loaded model: {:.1} MiB (the base of \"peak heap vs identity\").\n",
            mib(self.resident)
        ));
        if let Some(rss) = self.peak_rss {
            out.push_str(&format!(
                "Peak resident set of the process (VmHWM; memory-mapped weights count once touched): {:.1} MiB.\n",
                mib(rss as usize)
            ));
        }
        if self.rows.iter().any(|r| r.name == "parallel_batched") {
            out.push_str(&format!(
                "parallel_batched also holds {:.1} MiB of stacked weights (built by its warm-up, not in its peak).\n",
                mib(self.stacked)
            ));
        }
        out.push_str(&format!(
            "Counting allocator overhead on one identity forward 1×128: {:+.1}% ({:.1} ms counted vs {:.1} ms not).\n",
            self.allocator_overhead(),
            ms(self.allocator.0),
            ms(self.allocator.1)
        ));
        out
    }

    /// The per-schedule table.
    fn schedule_table(&self) -> String {
        let decode = self.decode().0;
        let mut out = String::from(
            "| schedule | forward 1×128 | vs identity | block applications | time per block vs identity | same, net of embedding + head | decode 16+32 | decode vs identity | peak extra heap | peak heap vs identity |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            let peak = r
                .peak
                .map_or("n/a".to_string(), |p| format!("{:.1} MiB", mib(p)));
            let peak_rel = self
                .peak_vs_identity(r)
                .map_or("n/a".to_string(), |x| format!("{x:.3}×"));
            out.push_str(&format!(
                "| {} | {:.1} ms | {:.2}× | {} | {:.2}× | {:.2}× | {:.1} tok/s | {:.2}× | {peak} | {peak_rel} |\n",
                r.name,
                ms(r.forward),
                self.rel(r.forward),
                r.blocks,
                self.per_block(r),
                self.net_per_block(r),
                r.decode.1,
                r.decode.0.as_secs_f64() / decode.as_secs_f64().max(1e-12)
            ));
        }
        out.push('\n');
        out
    }

    /// The figures as one JSON object.
    pub fn json(&self) -> Value {
        let schedules: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "schedule": r.schedule.to_string(),
                    "forward_1x128_ms": ms(r.forward),
                    "relative_time": self.rel(r.forward),
                    "block_applications": r.blocks,
                    "relative_time_per_block": self.per_block(r),
                    "relative_time_per_block_net_of_fixed": self.net_per_block(r),
                    "decode_16_32_ms": ms(r.decode.0),
                    "decode_tokens_per_s": r.decode.1,
                    "peak_heap_relative_to_identity": self.peak_vs_identity(r),
                    "peak_extra_heap_bytes": r.peak,
                })
            })
            .collect();
        let (decode, tok_s) = self.decode();
        json!({
            "command": self.command,
            "machine": self.machine,
            "device": self.device,
            "build": self.build,
            "batch_parts_of_8": self.batch_parts,
            "projection_split": self.projection_split,
            "model": self.model,
            "weights": self.weights,
            "cpu_features": self.cpu_features,
            "peak_rss_bytes": self.peak_rss,
            "layers": self.layers,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "n": self.n,
            "loops": self.loops,
            "forward_1x128_ms": ms(self.base()),
            "forward_8x128_ms": ms(self.forward8),
            "fixed_cost_1x128_ms": ms(self.fixed),
            "straight_line_1x128_ms": ms(self.straight),
            "executor_1x128_ms": ms(self.base()),
            "executor_overhead_percent": self.executor_overhead().0,
            "executor_overhead_percent_rounds": self.paired,
            "model_heap_bytes": self.resident,
            "decode": decode_json(16, 32, (decode, tok_s)),
            "decode_tg32": decode_json(1, 32, self.tg32),
            "decode_long": self.long.map(|(prompt, d)| decode_json(prompt, LONG_NEW, d)),
            "schedules": schedules,
            "stacked_weight_bytes": self.stacked,
            "allocator_overhead_percent": self.allocator_overhead(),
        })
    }
}

/// A decode figure as the JSON lists it.
fn decode_json(prompt: usize, new: usize, (t, rate): (Duration, f64)) -> Value {
    json!({
        "prompt_tokens": prompt,
        "new_tokens": new,
        "median_ms": ms(t),
        "tokens_per_s": rate,
    })
}
