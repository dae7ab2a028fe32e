//! Fine-tuning a sequence classification / regression head, with the layer schedule in force
//! during training and evaluation, so that "train the model it will run as" is the default.
//!
//! The recipe follows HF `run_glue.py` with `Trainer` defaults: AdamW (β = 0.9/0.999, ε = 1e-8,
//! no decay on biases and LayerNorm weights), a linear schedule with optional warmup, global-norm
//! gradient clipping at 1.0, dropout on, lr 2e-5, batch 32, max length 128, 3 epochs. Everything
//! random (the new head, the shuffle order, dropout) comes from `seed`.

use std::sync::Arc;

use burn::module::{Module, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams};
use painters::{LayerSchedule, Plan};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use painters_bert::{BertError, BertForSequenceClassification, DropoutRng, to_host};

use crate::glue::dataset::Dataset;
use crate::glue::evaluate::predict;
use crate::glue::optim::{self, linear_schedule};
use crate::settings::{SettingError, at_least_one, positive_finite};

/// Which parameters train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FinetuneMode {
    /// Everything: embeddings, layers, pooler, classifier.
    #[default]
    Full,
    /// Only the head (pooler + classifier); the embeddings and layers stay as loaded.
    FrozenEncoder,
}

impl FinetuneMode {
    /// `full` or `frozen-encoder`, as the command line and result files spell it.
    pub fn name(self) -> &'static str {
        match self {
            FinetuneMode::Full => "full",
            FinetuneMode::FrozenEncoder => "frozen-encoder",
        }
    }
}

/// Hyper-parameters; [`Default`] is run_glue's.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneConfig {
    pub mode: FinetuneMode,
    pub learning_rate: f64,
    pub batch_size: usize,
    /// Truncation length, for [`Dataset::tokenize`] (data are tokenized before training).
    pub max_length: usize,
    pub epochs: usize,
    /// Warmup steps of the linear schedule.
    pub warmup_steps: usize,
    pub weight_decay: f64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    /// Global gradient-norm clip; None disables clipping.
    pub max_grad_norm: Option<f64>,
    /// Train with the config's dropout probabilities (HF trains with dropout on).
    pub dropout: bool,
    pub seed: u64,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            mode: FinetuneMode::Full,
            learning_rate: 2e-5,
            batch_size: 32,
            max_length: 128,
            epochs: 3,
            warmup_steps: 0,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: Some(1.0),
            dropout: true,
            seed: 42,
        }
    }
}

impl FinetuneConfig {
    /// Refuse settings that mean nothing, naming the flag `painters glue` spells them with: a
    /// learning rate that is not a positive finite number, a batch of 0 examples, a truncation
    /// length of 0 tokens.
    pub fn check(&self) -> Result<(), SettingError> {
        positive_finite("--lr", self.learning_rate)?;
        at_least_one("--batch-size", self.batch_size, "examples per step")?;
        at_least_one("--max-length", self.max_length, "tokens per example")
    }
}

/// One optimisation step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepLog {
    pub step: usize,
    pub epoch: usize,
    pub learning_rate: f64,
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// Loss and task metric over a data set.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalMetrics {
    pub examples: usize,
    pub loss: f64,
    /// Classification: fraction of argmax predictions equal to the label.
    pub accuracy: Option<f64>,
    /// Regression: Pearson correlation of predictions and labels (STS-B's metric).
    pub pearson: Option<f64>,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainReport {
    pub steps: Vec<StepLog>,
    /// Evaluation after each epoch, when an evaluation set was given.
    pub eval: Vec<EvalMetrics>,
}

impl TrainReport {
    /// The mean training loss of each of the first `epochs` epochs (0 for an epoch without steps).
    pub fn epoch_mean_loss(&self, epochs: usize) -> Vec<f64> {
        (0..epochs)
            .map(|e| {
                let l: Vec<f64> = self
                    .steps
                    .iter()
                    .filter(|s| s.epoch == e)
                    .map(|s| s.loss)
                    .collect();
                l.iter().sum::<f64>() / l.len().max(1) as f64
            })
            .collect()
    }
}

/// Fisher–Yates with a ChaCha8 stream: the epoch order depends on the seed only.
fn shuffled(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Train `model` on `train` under `schedule`; evaluate on `eval` after each epoch. Returns the
/// trained model (without autodiff, ready for inference or [`save`](BertForSequenceClassification::save)).
pub fn finetune(
    model: BertForSequenceClassification,
    schedule: &LayerSchedule,
    train: &Dataset,
    eval: Option<&Dataset>,
    cfg: &FinetuneConfig,
) -> Result<(BertForSequenceClassification, TrainReport), BertError> {
    finetune_with(model, schedule, train, eval, cfg, &mut |_, _| {})
}

/// [`finetune`], telling `on_step(done, total)` after every optimisation step (for progress).
pub fn finetune_with(
    model: BertForSequenceClassification,
    schedule: &LayerSchedule,
    train: &Dataset,
    eval: Option<&Dataset>,
    cfg: &FinetuneConfig,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<(BertForSequenceClassification, TrainReport), BertError> {
    if train.is_empty() || cfg.batch_size == 0 {
        return Err(BertError::Unsupported(
            "fine-tuning needs examples and a batch size > 0".into(),
        ));
    }
    for data in std::iter::once(train).chain(eval) {
        data.check_labels(model.num_labels)?;
        data.check_inputs(model.bert.config())?;
    }
    let plan = model.bert.plan(schedule)?;
    let mut model = model;
    if cfg.mode == FinetuneMode::FrozenEncoder {
        model.bert = model.bert.no_grad();
    }
    let mut model = model.train();

    let adam = |decay: f64| {
        AdamWConfig::new()
            .with_beta_1(cfg.adam_beta1 as f32)
            .with_beta_2(cfg.adam_beta2 as f32)
            .with_epsilon(cfg.adam_epsilon as f32)
            .with_weight_decay(decay as f32)
            .build()
    };
    let mut optimizer = burn::optim::ModuleOptimizer::from(adam(cfg.weight_decay)).with_group(
        ParamGroup::from_ids(optim::no_decay_ids(&model)),
        adam(0.0),
        None,
    );

    let per_epoch = train.len().div_ceil(cfg.batch_size);
    let total = per_epoch * cfg.epochs;
    let mut order_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let dropout = cfg.dropout.then(|| {
        Arc::new(DropoutRng::new(
            cfg.seed.wrapping_add(0x9E37_79B9_7F4A_7C15),
        ))
    });
    let mut report = TrainReport::default();
    let mut step = 0;
    for epoch in 0..cfg.epochs {
        let order = shuffled(train.len(), &mut order_rng);
        for rows in order.chunks(cfg.batch_size) {
            let (input, labels) = train.batch(rows)?;
            let logits = model.forward(&plan, &input, dropout.clone(), &mut ())?;
            let loss = model.loss(logits, &labels)?;
            let loss_value = to_host(loss.clone())?.first().copied().unwrap_or(f32::NAN) as f64;
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            let grad_norm = optim::clip_global_norm(&model, &mut grads, cfg.max_grad_norm)?;
            let lr = cfg.learning_rate * linear_schedule(step, cfg.warmup_steps, total);
            model = optimizer.step(lr, model, grads);
            report.steps.push(StepLog {
                step,
                epoch,
                learning_rate: lr,
                loss: loss_value,
                grad_norm,
            });
            step += 1;
            on_step(step, total);
        }
        if let Some(e) = eval {
            report
                .eval
                .push(evaluate(&model.valid(), &plan, e, cfg.batch_size)?);
        }
    }
    Ok((model.valid(), report))
}

/// Loss and metric of `model` on `data` under `plan`, without dropout.
pub fn evaluate(
    model: &BertForSequenceClassification,
    plan: &Plan,
    data: &Dataset,
    batch_size: usize,
) -> Result<EvalMetrics, BertError> {
    let (preds, labels, loss) = predict(model, plan, data, batch_size)?;
    let n = labels.len();
    let (accuracy, pearson) = match model.is_regression() {
        true => (None, Some(pearson(&preds, &labels))),
        false => {
            let hits = preds.iter().zip(&labels).filter(|(p, l)| p == l).count();
            (Some(hits as f64 / n.max(1) as f64), None)
        }
    };
    Ok(EvalMetrics {
        examples: n,
        loss,
        accuracy,
        pearson,
    })
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().max(1) as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt().max(f64::MIN_POSITIVE)
}
