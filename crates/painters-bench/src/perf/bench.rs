//! `painters bench` as a library run: whole-model figures of a Llama model under the paper's
//! schedules — forward passes timed round robin against two baselines, greedy decoding, peak heap
//! per schedule, and the counting allocator's own cost.
//!
//! Peak heap memory needs [`CountingAlloc`](super::measure::CountingAlloc) as the process's global
//! allocator (the `painters` binary registers it); without it the peaks are `n/a`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use painters::exec::ExecOptions;
use painters::{KvMode, LayerSchedule, Plan, ScheduleError, paper};
use painters_llama::{LlamaError, LlamaInput, LlamaModel};

use crate::models::{LoadError, ModelSource};
use crate::perf::measure;
use crate::perf::table::{BenchFigures, BenchRow, LONG_NEW, pct};

/// Every schedule the run knows, in table order.
pub const SCHEDULES: [&str; 6] = [
    "identity",
    "skip",
    "middle_repeat",
    "parallel",
    "parallel_batched",
    "looped_parallel",
];

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchRun {
    pub model: ModelSource,
    /// Timed runs per figure (the median is reported), after the warm-up runs.
    pub repeats: usize,
    /// Untimed runs before each figure's timed ones.
    pub warmup: usize,
    /// A subset of [`SCHEDULES`] (default: all); the identity is always measured.
    pub schedules: Option<Vec<String>>,
    /// Start layer N of the paper presets.
    pub n: usize,
    /// Loop count of looped_parallel.
    pub loops: usize,
    /// Prompt length of the long-context decode figure; 0 skips it.
    pub long_prompt: usize,
    /// Run each batch as one computation instead of row groups on the CPU threads.
    pub no_batch_split: bool,
    /// Run each fused projection as one GEMM instead of two parts at once.
    pub no_projection_split: bool,
    /// The command line, shown in the table.
    pub command: String,
    /// Also write the figures as one JSON object to this file.
    pub json: Option<PathBuf>,
}

/// Why a bench run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("unknown schedule `{0}`")]
    UnknownSchedule(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Llama(#[from] LlamaError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The names to run, in table order, identity always first.
fn selected(arg: Option<&[String]>) -> Result<Vec<&'static str>, BenchError> {
    let Some(list) = arg else {
        return Ok(SCHEDULES.to_vec());
    };
    if let Some(s) = list.iter().find(|s| !SCHEDULES.contains(&s.trim())) {
        return Err(BenchError::UnknownSchedule(s.clone()));
    }
    Ok(SCHEDULES
        .into_iter()
        .filter(|s| *s == "identity" || list.iter().any(|l| l.trim() == *s))
        .collect())
}

fn schedule_for(
    name: &str,
    layers: usize,
    n: usize,
    loops: usize,
) -> Result<LayerSchedule, BenchError> {
    Ok(match name {
        "identity" => paper::full(layers),
        "skip" => paper::skip(layers, n)?,
        "middle_repeat" => paper::middle_repeat(layers, n)?,
        "parallel" | "parallel_batched" => paper::parallel(layers, n)?,
        "looped_parallel" => paper::looped_parallel(layers, n, loops)?,
        other => return Err(BenchError::UnknownSchedule(other.to_string())),
    })
}

/// One schedule under test: its plan, how its steps run, and its peak heap.
struct Case {
    name: &'static str,
    schedule: LayerSchedule,
    plan: Plan,
    options: ExecOptions,
    peak: Option<usize>,
}

impl BenchRun {
    /// `painters bench`'s defaults on `model`.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        BenchRun {
            model: ModelSource::new(model),
            repeats: 5,
            warmup: 1,
            schedules: None,
            n: 8,
            loops: 3,
            long_prompt: 512,
            no_batch_split: false,
            no_projection_split: false,
            command: "painters bench".into(),
            json: None,
        }
    }

    /// Measure (and write the JSON file, if asked); `say` gets a progress line before each
    /// stage.
    pub fn execute(&self, say: &mut dyn FnMut(&str)) -> Result<BenchFigures, BenchError> {
        if let Some(path) = &self.json {
            crate::io::check_writable(path).map_err(|e| BenchError::Write {
                path: e.path,
                source: e.source,
            })?;
        }
        let figures = self.measure(say)?;
        if let Some(path) = &self.json {
            let v = figures.json();
            let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
            std::fs::write(path, text + "\n").map_err(|source| BenchError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(figures)
    }

    fn measure(&self, say: &mut dyn FnMut(&str)) -> Result<BenchFigures, BenchError> {
        let names = selected(self.schedules.as_deref())?;
        self.model.device()?;
        let path = self.model.local_path()?;
        let model = self.model.load_llama(&path)?;
        let defaults = model.settings();
        let model = model.with_settings(painters_llama::ExecSettings {
            batch_split: defaults.batch_split && !self.no_batch_split,
            projection_split: defaults.projection_split && !self.no_projection_split,
            ..defaults
        });
        let batch_parts = model.batch_parts(8);
        let layers = model.num_blocks();
        // The heap the loaded model holds: the base that peak memory is relative to.
        let resident = measure::live_bytes();
        let (warmup, repeats) = (self.warmup, self.repeats.max(1));
        let x1 = measure::input(1, 128)?;
        let x8 = measure::input(8, 128)?;
        let seq = ExecOptions::sequential();

        // Per schedule: warm-up and one forward under the allocator's peak tracking.
        let mut cases = Vec::new();
        for name in names {
            let schedule = schedule_for(name, layers, self.n, self.loops)?;
            let plan = Plan::compile(&schedule, layers, KvMode::Exact)?;
            let options = match name {
                "parallel_batched" => ExecOptions::batched(),
                _ => seq,
            };
            say(&format!("bench: {name}: {schedule}"));
            for _ in 0..warmup {
                measure::forward_once(&model, &plan, &x1, options)?;
            }
            let (done, peak) =
                measure::peak_alloc(|| measure::forward_once(&model, &plan, &x1, options));
            done?;
            cases.push(Case {
                name,
                schedule,
                plan,
                options,
                peak,
            });
        }
        let empty = Plan::compile(&LayerSchedule::empty(), layers, KvMode::Exact)?;
        for _ in 0..warmup {
            measure::forward_once(&model, &empty, &x1, seq)?;
            measure::straight_line_once(&model, &x1)?;
        }
        say(&format!(
            "bench: timing {} forward passes",
            (cases.len() + 2) * repeats
        ));
        let samples = round_robin(&model, &cases, &empty, &x1, repeats)?;
        let (empty_at, straight_at) = (cases.len(), cases.len() + 1);
        // Executor overhead: identity / straight-line per round, each pair adjacent.
        let mut paired: Vec<f64> = match cases.is_empty() {
            true => Vec::new(),
            false => samples[0]
                .iter()
                .zip(&samples[straight_at])
                .map(|(a, b)| pct(*a, *b))
                .collect(),
        };
        paired.sort_by(f64::total_cmp);
        // Decoding under each schedule: one token at a time is where a parallel step's members
        // are most latency-bound, so batching them shows here if anywhere.
        let mut rows = Vec::with_capacity(cases.len());
        for (case, times) in cases.into_iter().zip(&samples) {
            say(&format!("bench: {}: greedy decode 16+32", case.name));
            let decode = measure::decode_tokens_per_s(
                &model,
                &case.plan,
                case.options,
                (16, 32),
                warmup,
                repeats,
            )?;
            rows.push(BenchRow {
                name: case.name.to_string(),
                blocks: case.plan.stats().block_applications,
                schedule: case.schedule,
                forward: measure::median(times),
                decode,
                peak: case.peak,
            });
        }
        let stacked = model.stacked_weight_bytes();
        model.clear_stacked_weights();

        // Identity: the larger batch and decoding.
        let identity = Plan::compile(&paper::full(layers), layers, KvMode::Exact)?;
        say("bench: identity forward 8x128");
        let forward8 = measure::time_forward(&model, &identity, &x8, seq, warmup, repeats)?;
        say("bench: identity greedy decode 1+32 (tg32)");
        let tg32 = measure::decode_tokens_per_s(&model, &identity, seq, (1, 32), warmup, repeats)?;
        let long = match self.long_prompt {
            0 => None,
            prompt => {
                say(&format!(
                    "bench: identity greedy decode {prompt}+{LONG_NEW}"
                ));
                let d = measure::decode_tokens_per_s(
                    &model,
                    &identity,
                    seq,
                    (prompt, LONG_NEW),
                    warmup,
                    repeats,
                )?;
                Some((prompt, d))
            }
        };

        // Last (the counts are not trusted after it): the counting allocator's cost on one
        // forward.
        say("bench: allocator overhead");
        measure::set_counting(false);
        let plain = measure::time_forward(&model, &identity, &x1, seq, 0, repeats);
        measure::set_counting(true);
        let plain = plain?;
        let counted = measure::time_forward(&model, &identity, &x1, seq, 0, repeats)?;

        Ok(BenchFigures {
            command: self.command.clone(),
            machine: measure::machine(),
            device: self.model.device.clone(),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            batch_parts,
            projection_split: !self.no_projection_split,
            model: path.display().to_string(),
            weights: model.weight_mode().to_string(),
            cpu_features: measure::cpu_features(),
            peak_rss: measure::peak_rss(),
            layers,
            repeats,
            warmup,
            n: self.n,
            loops: self.loops,
            resident,
            rows,
            fixed: measure::median(&samples[empty_at]),
            straight: measure::median(&samples[straight_at]),
            paired,
            forward8,
            long,
            tg32,
            stacked,
            allocator: (counted, plain),
        })
    }
}

/// Forward-pass samples of every case, then of the empty schedule (the fixed cost every schedule
/// pays: embedding, RoPE tables and mask, final norm, head) and of the identity without the
/// executor (a hand-written loop over the blocks: the executor's own cost).
///
/// Round robin: every repeat times each once, so that drift of the machine (clock, other load)
/// spreads over all rows instead of biasing whichever ran during it. The first case (identity)
/// and the straight-line loop run back to back, in alternating order, so that each round gives
/// one paired ratio of the two that drift between rounds cannot bias.
fn round_robin(
    model: &LlamaModel,
    cases: &[Case],
    empty: &Plan,
    x1: &LlamaInput,
    repeats: usize,
) -> Result<Vec<Vec<Duration>>, LlamaError> {
    let seq = ExecOptions::sequential();
    let (empty_at, straight_at) = (cases.len(), cases.len() + 1);
    let mut order: Vec<usize> = (0..cases.len() + 2).collect();
    if !cases.is_empty() {
        order = std::iter::once(0)
            .chain([straight_at])
            .chain(1..cases.len())
            .chain([empty_at])
            .collect();
    }
    let mut samples = vec![Vec::with_capacity(repeats); cases.len() + 2];
    for round in 0..repeats {
        let units: Vec<usize> = match round % 2 {
            0 => order.clone(),
            _ => order.iter().rev().copied().collect(),
        };
        for i in units {
            let t = Instant::now();
            if i == empty_at {
                measure::forward_once(model, empty, x1, seq)?;
            } else if i == straight_at {
                measure::straight_line_once(model, x1)?;
            } else {
                measure::forward_once(model, &cases[i].plan, x1, cases[i].options)?;
            }
            samples[i].push(t.elapsed());
        }
    }
    Ok(samples)
}
