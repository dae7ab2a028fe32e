//! The model worker: one thread that owns the model and answers [`Job`]s from a bounded queue.
//!
//! What is batched: every job waiting when the worker wakes up is taken at once. The jobs that
//! need a pass over their prompt — `echo` with `logprobs` (lm-eval's log-likelihood requests), and
//! greedy completions of at most one token, whose token is the prompt pass's argmax — run as
//! padded batches of up to [`WorkerOptions::batch_tokens`] tokens, one forward pass each. Longer
//! or sampled completions then run one after the other with a KV cache
//! (`painters_llama::generate`). A panic inside the model fails the jobs of that pass with a 500
//! and the worker goes on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use painters::Plan;
use painters_bench::lm::{LmError, Tokenize};
use painters_llama::LlamaModel;
use painters_llama::generate::{GenerateOptions, Sampling, StopReason, generate};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::logprobs::{PositionScore, ScoreRequest, score_prompts};

/// One prompt to complete.
#[derive(Clone, Debug)]
pub struct Job {
    pub tokens: Vec<u32>,
    pub max_tokens: usize,
    pub sampling: Sampling,
    pub stop: Vec<String>,
    /// `Some(k)`: score every prompt position, listing the `k` most likely tokens (echo with
    /// logprobs).
    pub prompt_logprobs: Option<usize>,
    /// `Some(k)`: log-probabilities of the generated tokens, with the `k` most likely.
    pub logprobs: Option<usize>,
}

/// Why a completion ended (OpenAI's `finish_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// `max_tokens` were generated.
    Length,
    /// The model's end-of-sequence token, or a stop sequence.
    Stop,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Length => "length",
            Finish::Stop => "stop",
        }
    }
}

/// A generated token: its id, log-probability and the most likely alternatives (when asked).
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    pub id: u32,
    pub logprob: Option<f32>,
    pub top: Vec<(u32, f32)>,
}

/// What a job produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// One score per prompt position when the job asked for prompt logprobs, else empty.
    pub prompt: Vec<PositionScore>,
    /// The generated tokens, an end-of-sequence token included (it is not in the text).
    pub generated: Vec<Generated>,
    /// The generated text, cut before the first stop sequence.
    pub text: String,
    pub finish: Finish,
}

type Reply = oneshot::Sender<Result<Outcome, ApiError>>;

/// How the worker batches.
#[derive(Clone, Copy, Debug)]
pub struct WorkerOptions {
    /// Jobs the queue holds before new requests get a 503.
    pub queue: usize,
    /// Padded tokens (rows × longest prompt) of one batched prompt pass.
    pub batch_tokens: usize,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            queue: 1024,
            batch_tokens: 8192,
        }
    }
}

/// The handle requests use to reach the worker.
#[derive(Clone, Debug)]
pub struct Queue {
    tx: mpsc::Sender<(Job, Reply)>,
}

impl Queue {
    /// Queues `job`; the answer arrives on the returned channel. A full queue is a 503.
    pub fn submit(
        &self,
        job: Job,
    ) -> Result<oneshot::Receiver<Result<Outcome, ApiError>>, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send((job, reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                ApiError::busy("the request queue is full; retry later")
            }
            mpsc::error::TrySendError::Closed(_) => ApiError::busy("the model worker has stopped"),
        })?;
        Ok(rx)
    }
}

/// What the worker owns.
pub struct Engine {
    pub model: LlamaModel,
    pub plan: Plan,
    pub tokenizer: Arc<dyn Tokenize + Send + Sync>,
}

/// Starts the worker thread on `engine`; it ends when every [`Queue`] is dropped.
pub fn spawn(engine: Engine, options: WorkerOptions) -> std::io::Result<Queue> {
    let (tx, mut rx) = mpsc::channel::<(Job, Reply)>(options.queue.max(1));
    std::thread::Builder::new()
        .name("painters-model".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut jobs = vec![first];
                while let Ok(j) = rx.try_recv() {
                    jobs.push(j);
                }
                // On a worker of the compute pool: see painters::backend::on_compute_threads.
                painters::backend::on_compute_threads(|| engine.run(jobs, options));
            }
        })?;
    Ok(Queue { tx })
}

/// Runs `f`, turning a panic into a 500.
fn guarded<T>(f: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        Err(ApiError::internal(format!("the model failed: {what}")))
    })
}

impl Engine {
    /// Answers `jobs`: batched prompt passes first, then generation one job at a time.
    fn run(&self, jobs: Vec<(Job, Reply)>, options: WorkerOptions) {
        let (mut passes, mut generate_only): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .filter(|(_, reply)| !reply.is_closed())
            .partition(|(job, _)| job.prompt_logprobs.is_some() || one_pass(job));
        // Longest first, so that each batch pads little.
        passes.sort_by_key(|(j, _)| std::cmp::Reverse(j.tokens.len()));
        let mut then_generate = Vec::new();
        while !passes.is_empty() {
            let longest = passes[0].0.tokens.len().max(1);
            let rows = (options.batch_tokens / longest).clamp(1, passes.len());
            let batch: Vec<(Job, Reply)> = passes.drain(..rows).collect();
            match guarded(|| self.prompt_pass(&batch)) {
                Ok(scores) => {
                    for ((job, reply), scores) in batch.into_iter().zip(scores) {
                        if one_pass(&job) {
                            let _ = reply.send(self.finish_one_pass(&job, scores));
                        } else {
                            then_generate.push((job, reply, scores));
                        }
                    }
                }
                Err(e) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
        let rest = generate_only
            .drain(..)
            .map(|(job, reply)| (job, reply, Vec::new()));
        for (job, reply, scores) in then_generate.into_iter().chain(rest) {
            if reply.is_closed() {
                continue;
            }
            let _ = reply.send(guarded(|| self.generate(&job, scores)));
        }
    }

    fn prompt_pass(&self, batch: &[(Job, Reply)]) -> Result<Vec<Vec<PositionScore>>, ApiError> {
        let reqs: Vec<ScoreRequest> = batch
            .iter()
            .map(|(j, _)| ScoreRequest {
                tokens: j.tokens.clone(),
                all_positions: j.prompt_logprobs.is_some(),
                top_k: j.prompt_logprobs.max(j.logprobs).unwrap_or(0),
            })
            .collect();
        Ok(score_prompts(&self.model, &self.plan, &reqs)?)
    }

    /// The answer of a one-pass job from its prompt scores: the argmax at the last position is
    /// the new token (when one is asked for).
    fn finish_one_pass(
        &self,
        job: &Job,
        mut scores: Vec<PositionScore>,
    ) -> Result<Outcome, ApiError> {
        let last = scores.last().cloned();
        if job.prompt_logprobs.is_none() {
            scores.clear();
        }
        let mut out = Outcome {
            prompt: scores,
            generated: Vec::new(),
            text: String::new(),
            finish: Finish::Length,
        };
        let (Some(last), 1) = (last, job.max_tokens) else {
            return Ok(out);
        };
        let (id, logprob) = last.best;
        out.generated.push(Generated {
            id,
            logprob: job.logprobs.map(|_| logprob),
            top: match job.logprobs {
                Some(k) => last.top.into_iter().take(k).collect(),
                None => Vec::new(),
            },
        });
        if self.model.config().eos_token_ids.contains(&id) {
            out.finish = Finish::Stop;
            return Ok(out);
        }
        let text = self.tokenizer.decode(&[id])?;
        (out.text, out.finish) = cut_at_stop(text, &job.stop, Finish::Length);
        Ok(out)
    }

    /// Generation with a KV cache after the prompt; `prompt` holds the prompt scores already
    /// computed (kept in the outcome).
    fn generate(&self, job: &Job, prompt: Vec<PositionScore>) -> Result<Outcome, ApiError> {
        let eos = self.model.config().eos_token_ids.clone();
        let opts = GenerateOptions {
            max_new_tokens: job.max_tokens,
            sampling: job.sampling,
            eos_ids: eos.clone(),
            keep_logits: job.logprobs.is_some(),
            ..Default::default()
        };
        let tok = &self.tokenizer;
        let mut failed: Option<LmError> = None;
        let g = generate(&self.model, &self.plan, &job.tokens, &opts, |ids| {
            if job.stop.is_empty() {
                return false;
            }
            match tok.decode(ids) {
                Ok(text) => job.stop.iter().any(|s| text.contains(s.as_str())),
                Err(e) => {
                    failed = Some(e);
                    true
                }
            }
        })
        .map_err(LmError::from)?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        let ids = g.new_ids;
        let mut finish = match g.stop {
            StopReason::MaxTokens => Finish::Length,
            StopReason::Eos | StopReason::StopCondition => Finish::Stop,
        };
        // The EOS token is listed among the generated tokens (lm-eval drops the last listed
        // token of an echo as the generated one) but is no part of the text.
        let text_ids = match g.stop {
            StopReason::Eos => &ids[..ids.len().saturating_sub(1)],
            _ => &ids[..],
        };
        let generated = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let (logprob, top) = match (job.logprobs, g.step_logits.get(i)) {
                    (Some(k), Some(row)) => row_logprobs(row, id, k),
                    _ => (None, Vec::new()),
                };
                Generated { id, logprob, top }
            })
            .collect();
        let text;
        (text, finish) = cut_at_stop(self.tokenizer.decode(text_ids)?, &job.stop, finish);
        Ok(Outcome {
            prompt,
            generated,
            text,
            finish,
        })
    }
}

/// Whether the prompt pass answers `job` alone: no new token, or one greedy token.
fn one_pass(job: &Job) -> bool {
    job.max_tokens == 0 || (job.max_tokens == 1 && matches!(job.sampling, Sampling::Greedy))
}

/// `text` cut before the first stop sequence in it (then the finish is [`Finish::Stop`]).
pub fn cut_at_stop(mut text: String, stop: &[String], finish: Finish) -> (String, Finish) {
    match stop.iter().filter_map(|s| text.find(s.as_str())).min() {
        Some(at) => {
            text.truncate(at);
            (text, Finish::Stop)
        }
        None => (text, finish),
    }
}

/// The log-probability of `id` in one row of logits, and the `k` most likely tokens (ties: the
/// lower id first), computed in f64 on the host.
fn row_logprobs(row: &[f32], id: u32, k: usize) -> (Option<f32>, Vec<(u32, f32)>) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = f64::from(max)
        + row
            .iter()
            .map(|&x| (f64::from(x) - f64::from(max)).exp())
            .sum::<f64>()
            .ln();
    let lp = |i: usize| (f64::from(row[i]) - lse) as f32;
    let mut idx: Vec<usize> = (0..row.len()).collect();
    let k = k.min(row.len());
    if k > 0 {
        idx.select_nth_unstable_by(k - 1, |&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    }
    idx.truncate(k);
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    let top = idx.into_iter().map(|i| (i as u32, lp(i))).collect();
    (row.get(id as usize).map(|_| lp(id as usize)), top)
}
