//! A sweep's cost before it runs (`painters sweep --dry-run`): its points and their block
//! applications, its tasks' documents and tokens, and the wall time and CPU-hours they come to on
//! this machine, from a few timed forward passes of the model.
//!
//! The work is counted as the sweep will do it: the distinct schedules in the sweep's groups, each
//! group's shared leading steps once (its prefix trie's block applications, as
//! [`PrefixGroup`] counts them), and a document's choices that share a context reading it once
//! (unless `--no-shared-prefix`). The time per block × token, and per token for the embedding and
//! head, comes from timed forward passes; it overstates the head (the sweep sends only
//! continuation positions through it) and ignores padding, so read the estimate as a planning
//! figure within a factor of about 1.5, not a promise.

use std::time::Duration;

use painters::exec::ExecOptions;
use painters::{KvMode, LayerSchedule, Plan, paper};
use painters_llama::generate::{GenerateOptions, generate};
use serde::Serialize;

use crate::eval::EvalError;
use crate::lm::{LanguageModel, LlamaLm, LmError, Tokenize};
use crate::models::ModelSource;
use crate::perf::measure;
use crate::requests::{Request, encode_pair};
use crate::sweep::SweepError;
use crate::sweep::lm::SweepOptions;
use crate::sweep::prefix::PrefixGroup;
use crate::sweep::run::{DecoderSweep, SweepRun, SweepRunError};
use crate::sweep::work::items;

/// Points of one variant.
#[derive(Clone, Debug, Serialize)]
pub struct VariantCost {
    pub variant: String,
    pub points: usize,
    /// Block applications of one forward pass, summed over the points.
    pub block_applications: usize,
}

/// One task's documents and tokens.
#[derive(Clone, Debug, Serialize)]
pub struct TaskCost {
    pub task: String,
    pub documents: usize,
    pub requests: usize,
    /// Tokens read (contexts and continuations, a context shared by a document's choices once;
    /// rolling texts whole).
    pub prompt_tokens: usize,
    /// Tokens generated at most (`generate_until`'s `max_gen_toks`).
    pub generated_tokens: usize,
}

/// Timings of the model on this machine that the estimate scales.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    /// Forward 1×128 under the identity schedule, ms (median of 3).
    pub full_1x128_ms: f64,
    /// Forward 1×128 under the empty schedule (embedding and head only), ms.
    pub empty_1x128_ms: f64,
    /// One generated token under the identity schedule, ms (only when a task generates).
    pub decode_ms_per_token: Option<f64>,
}

/// What `painters sweep --dry-run` prints.
#[derive(Clone, Debug, Serialize)]
pub struct SweepEstimate {
    pub model: String,
    pub weights: String,
    pub layers: usize,
    /// Threads the estimate's timings ran on (rayon's pool).
    pub threads: usize,
    pub variants: Vec<VariantCost>,
    pub points: usize,
    /// Distinct schedules (points with the same schedule and seed are one result).
    pub schedules: usize,
    /// Schedules per prefix group (1: no prefix reuse).
    pub group_size: usize,
    /// Block applications of one pass of every schedule: each on its own, and with each group's
    /// shared leading steps once.
    pub block_applications_alone: u64,
    pub block_applications_grouped: u64,
    pub tasks: Vec<TaskCost>,
    /// Grouped block applications × prompt tokens: what the sweep runs.
    pub block_token_applications: u128,
    pub calibration: Calibration,
    /// Estimated wall time on `threads` threads, seconds.
    pub wall_seconds: f64,
    /// `wall_seconds × threads / 3600`.
    pub cpu_hours: f64,
}

impl SweepRun {
    /// The sweep's cost, without running it or writing anything: the points and data as
    /// [`SweepRun::execute_with`] would build them, and a few timed forward passes of the model.
    /// Decoder sweeps on lm-eval tasks only (a GLUE sweep's cost is its fine-tuning).
    pub fn estimate(&self) -> Result<SweepEstimate, SweepRunError> {
        self.check()?;
        let (experiments, tasks, _shard, path) = self.parse()?;
        if ModelSource::is_bert(&path) {
            return Err(SweepRunError::DecoderOnly {
                flag: "--dry-run",
                model: path.display().to_string(),
            });
        }
        let DecoderSweep {
            tasks,
            layers,
            points,
            loaded,
            ..
        } = self.decoder_sweep(&experiments, tasks, &path)?;
        let tokenizer = self.tokenizer(&path)?;
        let tokenizer: &dyn Tokenize = tokenizer.as_ref();
        let model = self.model.load_llama(&path)?;
        let full =
            Plan::compile(&paper::full(layers), layers, KvMode::Exact).map_err(SweepError::from)?;
        // Requests become tokens as the sweep's scoring makes them (lm-eval's pair encoding).
        let lm = LlamaLm::new(&model, &full, tokenizer);
        let mut task_costs = Vec::with_capacity(tasks.len());
        for (task, loaded) in tasks.iter().zip(&loaded) {
            let mut cost = TaskCost {
                task: task.clone(),
                documents: loaded.docs.len(),
                requests: 0,
                prompt_tokens: 0,
                generated_tokens: 0,
            };
            for doc in &loaded.docs {
                let failed = |e: LmError| SweepError::Eval {
                    label: "counting tokens".into(),
                    task: task.clone(),
                    source: Box::new(EvalError::Request {
                        task: task.clone(),
                        path: loaded.path.clone(),
                        line: doc.line,
                        doc: doc.id,
                        source: Box::new(e),
                    }),
                };
                let count = |text: &str| lm.encode(text).map(|t| t.len().max(1)).map_err(failed);
                let mut contexts: Vec<&str> = Vec::new();
                for request in &doc.requests {
                    cost.requests += 1;
                    match request {
                        Request::Loglikelihood {
                            context,
                            continuation,
                        } => {
                            let (ctx, cont) =
                                encode_pair(&lm, context, continuation).map_err(failed)?;
                            // With shared prefixes, a document's context is read once.
                            if self.no_shared_prefix || !contexts.contains(&context.as_str()) {
                                contexts.push(context);
                                cost.prompt_tokens += ctx.len();
                            }
                            cost.prompt_tokens += cont.len();
                        }
                        Request::LoglikelihoodRolling { text } => {
                            cost.prompt_tokens += count(text)?
                        }
                        Request::GenerateUntil {
                            context,
                            max_gen_toks,
                            ..
                        } => {
                            cost.prompt_tokens += count(context)?;
                            cost.generated_tokens += max_gen_toks;
                        }
                    }
                }
            }
            task_costs.push(cost);
        }

        let mut variants: Vec<VariantCost> = Vec::new();
        for p in &points {
            let blocks = Plan::compile(&p.schedule, layers, KvMode::Exact)
                .map_err(SweepError::from)?
                .stats()
                .block_applications;
            match variants.iter_mut().find(|v| v.variant == p.variant) {
                Some(v) => {
                    v.points += 1;
                    v.block_applications += blocks;
                }
                None => variants.push(VariantCost {
                    variant: p.variant.clone(),
                    points: 1,
                    block_applications: blocks,
                }),
            }
        }

        // The sweep's work list: distinct schedules sorted by their steps, cut into groups whose
        // shared leading steps run once.
        let items = items(&points);
        let group_size = if self.no_prefix_reuse {
            1
        } else {
            self.group_size
                .unwrap_or(SweepOptions::new(Vec::new(), Default::default()).group_size)
                .max(1)
        };
        let (mut grouped, mut alone) = (0u64, 0u64);
        for group in items.chunks(group_size) {
            let schedules: Vec<LayerSchedule> = group.iter().map(|i| i.schedule.clone()).collect();
            let (trie, scratch) = PrefixGroup::new(&model, tokenizer, &schedules)?.pass_cost();
            grouped += trie;
            alone += scratch;
        }
        let calibration = calibrate(
            &model,
            &full,
            task_costs.iter().any(|t| t.generated_tokens > 0),
        )?;
        let per_block_token = (calibration.full_1x128_ms - calibration.empty_1x128_ms).max(0.0)
            / 1e3
            / (layers * 128) as f64;
        let per_token = calibration.empty_1x128_ms / 1e3 / 128.0;
        let per_generated = calibration.decode_ms_per_token.unwrap_or(0.0) / 1e3;
        let (prompt, generated): (usize, usize) = task_costs.iter().fold((0, 0), |(p, g), t| {
            (p + t.prompt_tokens, g + t.generated_tokens)
        });
        let block_tokens = grouped as u128 * prompt as u128;
        // Every schedule pays the embedding and head per token; generation is token by token,
        // each schedule on its own.
        let wall = grouped as f64 * prompt as f64 * per_block_token
            + (items.len() * prompt) as f64 * per_token
            + generated as f64 * per_generated * alone as f64 / layers.max(1) as f64;
        let threads = rayon::current_num_threads();
        Ok(SweepEstimate {
            model: path.display().to_string(),
            weights: model.weight_mode().to_string(),
            layers,
            threads,
            variants,
            points: points.len(),
            schedules: items.len(),
            group_size,
            block_applications_alone: alone,
            block_applications_grouped: grouped,
            tasks: task_costs,
            block_token_applications: block_tokens,
            calibration,
            wall_seconds: wall,
            cpu_hours: wall * threads as f64 / 3600.0,
        })
    }
}

/// Forward 1×128 under `full` (the identity) and the empty schedule (median of 3 after one warm-up), and
/// one generated token's time when `decode`.
fn calibrate(
    model: &painters_llama::LlamaModel,
    full: &Plan,
    decode: bool,
) -> Result<Calibration, SweepRunError> {
    // The bench's inputs, folded into the model's vocabulary.
    let vocab = model.config().vocab_size.max(1) as u32;
    let ids: Vec<u32> = measure::input_rows(1, 128)
        .concat()
        .into_iter()
        .map(|t| t % vocab)
        .collect();
    let x = painters_llama::LlamaInput::new(std::slice::from_ref(&ids)).map_err(llama_error)?;
    let seq = ExecOptions::sequential();
    let layers = full.num_blocks();
    let empty =
        Plan::compile(&LayerSchedule::empty(), layers, KvMode::Exact).map_err(SweepError::from)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let full_ms = ms(measure::time_forward(model, full, &x, seq, 1, 3).map_err(llama_error)?);
    let empty_ms = ms(measure::time_forward(model, &empty, &x, seq, 1, 3).map_err(llama_error)?);
    let decode_ms = if decode {
        let opts = GenerateOptions {
            max_new_tokens: 16,
            exec: seq,
            ..Default::default()
        };
        let t = measure::time_median(0, 1, || {
            generate(model, full, &ids[..16], &opts, |_| false).map(|_| ())
        })
        .map_err(llama_error)?;
        Some(ms(t) / 16.0)
    } else {
        None
    };
    Ok(Calibration {
        full_1x128_ms: full_ms,
        empty_1x128_ms: empty_ms,
        decode_ms_per_token: decode_ms,
    })
}

fn llama_error(e: painters_llama::LlamaError) -> SweepRunError {
    SweepRunError::from(crate::models::LoadError::from(e))
}

impl SweepEstimate {
    /// The estimate as Markdown: the points by variant, the tasks, the calibration and the total.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "## Sweep dry run\n\nModel: {} ({} blocks, weights {}); {} threads\n\n",
            self.model, self.layers, self.weights, self.threads
        );
        out.push_str(
            "| variant | points | block applications (one pass each) |\n|---|---:|---:|\n",
        );
        for v in &self.variants {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                v.variant, v.points, v.block_applications
            ));
        }
        out.push_str(&format!(
            "| **all** | **{}** | **{}** |\n\n",
            self.points,
            self.variants
                .iter()
                .map(|v| v.block_applications)
                .sum::<usize>()
        ));
        out.push_str(&format!(
            "{} distinct schedules in groups of {}: {} block applications per pass of all of them, {} with each group's shared leading steps once ({:.1}× fewer).\n\n",
            self.schedules,
            self.group_size,
            self.block_applications_alone,
            self.block_applications_grouped,
            self.block_applications_alone as f64 / self.block_applications_grouped.max(1) as f64
        ));
        out.push_str(
            "| task | documents | requests | prompt tokens | generated tokens (at most) |\n|---|---:|---:|---:|---:|\n",
        );
        for t in &self.tasks {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                t.task, t.documents, t.requests, t.prompt_tokens, t.generated_tokens
            ));
        }
        let c = &self.calibration;
        out.push_str(&format!(
            "\nCalibration on this machine: forward 1×128 {:.1} ms under the identity, {:.1} ms under the empty schedule{}.\n\n",
            c.full_1x128_ms,
            c.empty_1x128_ms,
            c.decode_ms_per_token
                .map(|d| format!("; {d:.1} ms per generated token"))
                .unwrap_or_default()
        ));
        let wall = match self.wall_seconds {
            s if s < 120.0 => format!("{s:.0} s"),
            s if s < 7200.0 => format!("{:.0} min", s / 60.0),
            s => format!("{:.1} h", s / 3600.0),
        };
        out.push_str(&format!(
            "Block × token applications: {:.3e}. Estimate: **{wall} wall on {} threads = {:.2} CPU-hours** (counted work × timed rates; it overstates the head and ignores padding: a planning figure, within about 1.5×).{}\n",
            self.block_token_applications as f64,
            self.threads,
            self.cpu_hours,
            if cfg!(debug_assertions) {
                " (A debug build: its timings are several times a release build's.)"
            } else {
                ""
            }
        ));
        out
    }
}
