//! Healing a painted model: adapters trained on text while the model runs under its schedule.
//!
//! The base model is never changed (it is borrowed; the adapters run beside it, see
//! [`AdaptedModel`]); only the adapters are burn parameters on the autodiff device, so only they
//! receive gradients. A block that the schedule runs twice meets one adapter twice unless
//! [`HealConfig::untie`] gives every occurrence its own.
//!
//! The recipe: AdamW (β = 0.9/0.999, ε = 1e-8), linear warmup then linear decay to 0, global-norm
//! gradient clipping, batches of windows drawn in a seeded shuffled order (epochs repeat the
//! windows in a new order), the `A` matrices drawn from the same seed: a run is deterministic
//! under its seed. Objective: next-token cross-entropy on every window position, or
//! distillation (KL divergence from the unmodified model's output distribution under the full
//! schedule, at a temperature), which needs no labels.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor, TensorData};
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan};
use painters_llama::{
    AdaptedModel, Adapters, DecoderError, DecoderInput, DecoderModel, LoraError, LoraSpec,
    untie_order,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::Serialize;

use crate::glue::optim::{clip_global_norm, linear_schedule};

/// What the adapters are trained to do.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Objective {
    /// Cross-entropy of the next token at every position.
    NextToken,
    /// `T² · KL(teacher ‖ student)` per position at temperature `T`, the teacher being the same
    /// model under the full schedule (no adapters).
    Distill { temperature: f64 },
}

/// How a healing run trains.
#[derive(Clone, Debug, PartialEq)]
pub struct HealConfig {
    pub lora: LoraSpec,
    pub objective: Objective,
    /// One adapter per block *occurrence* instead of per block (sequential schedules only).
    pub untie: bool,
    pub steps: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Tokens the model reads per window.
    pub seq_len: usize,
    pub learning_rate: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    /// Global gradient-norm clip; None: no clipping.
    pub max_grad_norm: Option<f64>,
    /// Seeds the adapters' `A` matrices and the window order.
    pub seed: u64,
    /// Evaluate every this many steps (and always before the first and after the last); 0: only
    /// before and after.
    pub eval_every: usize,
    /// Windows per evaluation forward pass.
    pub eval_batch: usize,
}

impl Default for HealConfig {
    /// LoRA rank 8, alpha 16 on every projection; next-token loss; 2,000 steps of 4 × 128 tokens;
    /// lr 2e-4 with 100 warmup steps; no weight decay; clip 1.0; seed 0; evaluate every 200 steps.
    fn default() -> Self {
        HealConfig {
            lora: LoraSpec::default(),
            objective: Objective::NextToken,
            untie: false,
            steps: 2000,
            batch_size: 4,
            seq_len: 128,
            learning_rate: 2e-4,
            warmup_steps: 100,
            weight_decay: 0.0,
            max_grad_norm: Some(1.0),
            seed: 0,
            eval_every: 200,
            eval_batch: 8,
        }
    }
}

/// Why healing failed.
#[derive(Debug, thiserror::Error)]
pub enum HealError {
    #[error(transparent)]
    Lora(#[from] LoraError),
    #[error(transparent)]
    Model(#[from] DecoderError),
    #[error(transparent)]
    Schedule(#[from] painters::ScheduleError),
    #[error("{0}")]
    Config(String),
    #[error("no {0} windows: the text is shorter than one window (lower --seq-len)")]
    NoWindows(&'static str),
    #[error("reading a tensor back: {0}")]
    Host(String),
    #[error("the loss is {loss} at step {step}: training diverged (lower --lr, or clip gradients)")]
    Diverged { step: usize, loss: f64 },
    #[error("stopped after {0} steps (as asked)")]
    Stopped(usize),
}

/// One optimisation step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepLog {
    pub step: usize,
    pub learning_rate: f64,
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Wall time of the step.
    pub seconds: f64,
}

/// Held-out loss after `step` steps (0: before training, the painted model itself).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalPoint {
    pub step: usize,
    /// Mean negative log-likelihood per target token (nats).
    pub nll: f64,
    /// `exp(nll)`: token-level perplexity.
    pub perplexity: f64,
    pub tokens: usize,
    pub seconds: f64,
}

/// What a healing run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HealReport {
    pub steps: Vec<StepLog>,
    pub evals: Vec<EvalPoint>,
    /// Trainable parameters.
    pub params: usize,
    /// With untied adapters: the base block of each adapted block, in the order applied.
    pub untied_from: Option<Vec<usize>>,
}

/// What a run tells its caller as it goes; returning [`ControlFlow::Break`] stops it.
#[derive(Debug)]
pub enum HealEvent<'a> {
    Step(&'a StepLog),
    /// A held-out evaluation, with the adapters it evaluated (off the autodiff device; e.g. to
    /// save them as a checkpoint).
    Eval(&'a EvalPoint, &'a Adapters),
}

/// Token ids of `windows` (each `seq + 1` long) as a model input of their first `seq` tokens and
/// the `[rows · seq]` targets.
pub fn window_batch(windows: &[Vec<u32>]) -> Result<(DecoderInput, Vec<i64>), HealError> {
    let seq = windows.first().map_or(0, |w| w.len().saturating_sub(1));
    if seq == 0 || windows.iter().any(|w| w.len() != seq + 1) {
        return Err(HealError::Config(
            "windows must all hold the same number (≥ 2) of tokens".into(),
        ));
    }
    let rows: Vec<Vec<u32>> = windows.iter().map(|w| w[..seq].to_vec()).collect();
    let targets = windows
        .iter()
        .flat_map(|w| w[1..].iter().map(|&t| i64::from(t)))
        .collect();
    Ok((DecoderInput::new(&rows)?, targets))
}

/// Mean next-token negative log-likelihood of `logits: [b, s, vocab]` against `targets`
/// (`b · s` ids): a one-element tensor (inside the autodiff graph when the logits are).
pub fn next_token_loss(logits: Tensor<3>, targets: &[i64]) -> Tensor<1> {
    let [b, s, v] = logits.dims();
    let logp = log_softmax(logits.reshape([b * s, v]), 1);
    let idx: Tensor<2, Int> = Tensor::from_data(
        TensorData::new(targets.to_vec(), [b * s, 1]),
        &logp.device(),
    );
    logp.gather(1, idx).mean().neg()
}

/// `T² · mean over positions of KL(softmax(teacher/T) ‖ softmax(student/T))`.
pub fn distill_loss(student: Tensor<3>, teacher: Tensor<3>, temperature: f64) -> Tensor<1> {
    let [b, s, v] = student.dims();
    let t = temperature;
    let teacher = teacher.reshape([b * s, v]).div_scalar(t);
    let log_q = log_softmax(student.reshape([b * s, v]).div_scalar(t), 1);
    let log_p = log_softmax(teacher.clone(), 1);
    let p = softmax(teacher, 1);
    let kl = (p * (log_p - log_q)).sum_dim(1);
    kl.mean().mul_scalar(t * t)
}

fn scalar(t: Tensor<1>) -> Result<f64, HealError> {
    let v = t
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| HealError::Host(format!("{e:?}")))?;
    Ok(v.first().copied().map_or(f64::NAN, f64::from))
}

/// Mean next-token NLL of `model` under `plan` over `windows` (batches of `batch`), and the
/// number of target tokens.
pub fn mean_nll<T>(
    model: &T,
    plan: &Plan,
    windows: &[Vec<u32>],
    batch: usize,
) -> Result<(f64, usize), HealError>
where
    T: Transformer<Input = DecoderInput, Error = DecoderError>,
{
    let (mut sum, mut tokens) = (0.0, 0);
    for chunk in windows.chunks(batch.max(1)) {
        let (input, targets) = window_batch(chunk)?;
        let logits = model.forward(plan, &input, None, &mut ())?;
        sum += scalar(next_token_loss(logits, &targets))? * targets.len() as f64;
        tokens += targets.len();
    }
    Ok((sum / tokens.max(1) as f64, tokens))
}

/// Fisher–Yates with a ChaCha8 stream.
fn shuffled(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// The plan a healing run trains under, and the untie order when untied.
pub fn training_plan(
    model: &DecoderModel,
    schedule: &LayerSchedule,
    untie: bool,
) -> Result<(Plan, Option<Vec<usize>>), HealError> {
    let layers = model.num_blocks();
    let plan = Plan::compile(schedule, layers, KvMode::Exact)?;
    if !untie {
        return Ok((plan, None));
    }
    let order = untie_order(&plan)?;
    let flat = Plan::compile(
        &LayerSchedule::full(order.len()),
        order.len(),
        KvMode::Exact,
    )?;
    Ok((flat, Some(order)))
}

/// The adapted model of `adapters` on `model` (untied copies when `order` is given).
pub fn adapted<'m>(
    model: &'m DecoderModel,
    order: Option<&[usize]>,
    adapters: Adapters,
) -> Result<AdaptedModel<'m>, HealError> {
    Ok(match order {
        Some(o) => AdaptedModel::untied(model, o, adapters)?,
        None => AdaptedModel::new(model, adapters)?,
    })
}

/// Train adapters on `train` windows with `model` under `schedule`, evaluating the held-out
/// loss on `eval` windows before, every [`HealConfig::eval_every`] steps and after. Returns the
/// trained adapters (off the autodiff device) and the report. `model` must hold f32 weights.
pub fn heal(
    model: &DecoderModel,
    schedule: &LayerSchedule,
    train: &[Vec<u32>],
    eval: &[Vec<u32>],
    cfg: &HealConfig,
    on_event: &mut dyn FnMut(HealEvent) -> ControlFlow<()>,
) -> Result<(Adapters, HealReport), HealError> {
    if train.is_empty() {
        return Err(HealError::NoWindows("training"));
    }
    if eval.is_empty() {
        return Err(HealError::NoWindows("evaluation"));
    }
    if cfg.batch_size == 0 || cfg.steps == 0 {
        return Err(HealError::Config(
            "healing needs at least one step of at least one window".into(),
        ));
    }
    if !(cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0) {
        return Err(HealError::Config(format!(
            "the learning rate must be a positive number, got {}",
            cfg.learning_rate
        )));
    }
    if let Objective::Distill { temperature } = cfg.objective
        && !(temperature.is_finite() && temperature > 0.0)
    {
        return Err(HealError::Config(format!(
            "the distillation temperature must be a positive number, got {temperature}"
        )));
    }
    let (plan, order) = training_plan(model, schedule, cfg.untie)?;
    let blocks = order.as_ref().map_or(model.num_blocks(), Vec::len);
    let adapters = Adapters::for_blocks(model.config(), blocks, &cfg.lora, model.device())?;
    let teacher_plan = Plan::compile(
        &LayerSchedule::full(model.num_blocks()),
        model.num_blocks(),
        KvMode::Exact,
    )?;
    let mut report = HealReport {
        params: adapters.num_params(),
        untied_from: order.clone(),
        ..HealReport::default()
    };
    let evaluate = |adapters: &Adapters, step: usize| -> Result<(EvalPoint, Adapters), HealError> {
        let start = Instant::now();
        let m = adapted(model, order.as_deref(), adapters.valid())?;
        let (nll, tokens) = mean_nll(&m, &plan, eval, cfg.eval_batch)?;
        let point = EvalPoint {
            step,
            nll,
            perplexity: nll.exp(),
            tokens,
            seconds: start.elapsed().as_secs_f64(),
        };
        Ok((point, m.into_adapters()))
    };
    let (point, snapshot) = evaluate(&adapters, 0)?;
    let go_on = on_event(HealEvent::Eval(&point, &snapshot));
    report.evals.push(point);
    if go_on.is_break() {
        return Err(HealError::Stopped(0));
    }

    let adam = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .with_weight_decay(cfg.weight_decay as f32)
        .build();
    let mut optimizer = burn::optim::ModuleOptimizer::from(adam);
    let mut adapters = adapters.train();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x005E_ED0F_4EA1);
    let mut order_of_windows: Vec<usize> = Vec::new();
    for step in 0..cfg.steps {
        let start = Instant::now();
        let rows: Vec<Vec<u32>> = (0..cfg.batch_size)
            .map(|_| {
                if order_of_windows.is_empty() {
                    order_of_windows = shuffled(train.len(), &mut rng);
                    order_of_windows.reverse();
                }
                // infallible: refilled just above when empty.
                let i = order_of_windows.pop().unwrap_or(0);
                train[i].clone()
            })
            .collect();
        let (input, targets) = window_batch(&rows)?;
        let m = adapted(model, order.as_deref(), adapters)?;
        let logits = m.logits(&plan, &input)?;
        let loss = match cfg.objective {
            Objective::NextToken => next_token_loss(logits, &targets),
            Objective::Distill { temperature } => {
                let teacher = model.forward(&teacher_plan, &input, None, &mut ())?;
                distill_loss(logits, teacher, temperature)
            }
        };
        let loss_value = scalar(loss.clone())?;
        if !loss_value.is_finite() {
            return Err(HealError::Diverged {
                step,
                loss: loss_value,
            });
        }
        let grads = loss.backward();
        adapters = m.into_adapters();
        let mut grads = GradientsParams::from_grads(grads, &adapters);
        let grad_norm = clip_global_norm(&adapters, &mut grads, cfg.max_grad_norm)
            .map_err(|e| HealError::Host(e.to_string()))?;
        let lr = cfg.learning_rate * linear_schedule(step, cfg.warmup_steps, cfg.steps);
        adapters = optimizer.step(lr, adapters, grads);
        let log = StepLog {
            step: step + 1,
            learning_rate: lr,
            loss: loss_value,
            grad_norm,
            seconds: start.elapsed().as_secs_f64(),
        };
        let mut go_on = on_event(HealEvent::Step(&log));
        report.steps.push(log);
        let done = step + 1;
        if done == cfg.steps || (cfg.eval_every > 0 && done % cfg.eval_every == 0) {
            let (point, snapshot) = evaluate(&adapters, done)?;
            if on_event(HealEvent::Eval(&point, &snapshot)).is_break() {
                go_on = ControlFlow::Break(());
            }
            report.evals.push(point);
        }
        if go_on.is_break() && done < cfg.steps {
            return Err(HealError::Stopped(done));
        }
    }
    Ok((adapters.valid(), report))
}
