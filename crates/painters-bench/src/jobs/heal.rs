//! `painters heal` end to end: the model loaded with f32 weights, WikiText-2 split into a training
//! and an evaluation half, the full model's and the painted model's held-out loss measured, the
//! adapters trained under the schedule ([`crate::heal::heal`]), and everything written as it
//! happens: `steps.csv` (every step), `curve.csv` and `heal.json` (every evaluation, with the
//! fraction of the perplexity gap recovered), the adapters in PEFT's layout under `adapter/`
//! (each evaluation overwrites them, so a killed run keeps its last checkpoint), and at the end
//! the curve drawn (`curve.svg`, `curve.png`), the base weights' fingerprint compared with the one
//! before training, and the saved adapters read back and checked to give the same logits.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use painters::{KvMode, LayerSchedule, Plan};
use painters_llama::{Adapters, DecoderModel, LoadOptions, WeightMode};
use serde_json::{Value, json};

use crate::heal::{
    EvalPoint, HealConfig, HealError, HealEvent, HealReport, adapted, heal, mean_nll, spread,
    token_stream, training_plan, wikitext_halves, window_batch, windows,
};
use crate::io::{IoError, write_atomic};
use crate::lm::{LmError, Tokenize};
use crate::models::{LoadError, ModelSource};
use crate::report::plot::{LineChart, PlotError, Series, write_png, write_svg};
use crate::schedules::{ScheduleSpec, ScheduleSpecError};
use crate::tasks::DataError;

/// One healing run.
#[derive(Clone, Debug)]
pub struct HealRun {
    pub model: ModelSource,
    pub schedule: ScheduleSpec,
    pub config: HealConfig,
    /// Held-out windows evaluated (spread over the evaluation half); None: all of them.
    pub eval_windows: Option<usize>,
    pub data_dir: PathBuf,
    pub out: PathBuf,
    /// The command line, recorded in `heal.json`.
    pub command: Option<String>,
}

/// Why a healing run failed.
#[derive(Debug, thiserror::Error)]
pub enum HealRunError {
    /// Training needs the f32 weights inside the autodiff graph; a packed weight mode cannot train.
    #[error(
        "--weights {0}: healing trains in f32 (the file's weights are expanded once at load); leave --weights out"
    )]
    Weights(WeightMode),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Schedule(#[from] ScheduleSpecError),
    #[error(transparent)]
    Plan(#[from] painters::ScheduleError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Tokens(#[from] LmError),
    #[error(transparent)]
    Heal(#[from] HealError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(
        "the base model's weights changed during healing (fingerprint {before:016x} → {after:016x})"
    )]
    WeightsChanged { before: u64, after: u64 },
    #[error("the adapters read back from {} give other logits (max |diff| {diff})", path.display())]
    Reload { path: PathBuf, diff: f32 },
}

/// What a finished run measured.
#[derive(Debug)]
pub struct HealOutcome {
    pub report: HealReport,
    /// Held-out loss of the full model (no schedule change, no adapters).
    pub full: EvalPoint,
    /// Fraction of the perplexity gap (painted − full) closed at the end.
    pub recovered: f64,
    pub written: Vec<PathBuf>,
    pub wall_seconds: f64,
}

/// `(ppl_painted − ppl_now) / (ppl_painted − ppl_full)`.
fn recovered(painted: f64, now: f64, full: f64) -> f64 {
    (painted - now) / (painted - full)
}

impl HealRun {
    /// Defaults: the full schedule (set one), [`HealConfig::default`], 64 held-out windows.
    pub fn new(model: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        HealRun {
            model: ModelSource::new(model),
            schedule: ScheduleSpec::full(),
            config: HealConfig::default(),
            eval_windows: Some(64),
            data_dir: PathBuf::from("data"),
            out: out.into(),
            command: None,
        }
    }

    /// Train, write as it goes; `say` gets progress lines.
    pub fn execute(&self, say: &mut dyn FnMut(&str)) -> Result<HealOutcome, HealRunError> {
        let started = Instant::now();
        if self.model.weights != WeightMode::F32 {
            return Err(HealRunError::Weights(self.model.weights));
        }
        std::fs::create_dir_all(&self.out).map_err(|e| IoError::new(&self.out, e))?;
        crate::io::check_writable(&self.out.join("heal.json"))?;
        let path = self.model.local_path()?;
        let device = self.model.device()?;
        let model = DecoderModel::load_with(
            &path,
            &device,
            LoadOptions {
                weights: WeightMode::F32,
                exec: None,
            },
        )
        .map_err(LoadError::from)?;
        let tokenizer = ModelSource::llama_tokenizer(&path)?;
        let layers = model.num_blocks();
        let schedule = self.schedule.resolve(layers)?;
        let cfg = &self.config;

        let split = wikitext_halves(&self.data_dir)?;
        let prefix = tokenizer
            .prefix_token()
            .or(model.config().bos_token_id)
            .unwrap_or(0);
        let train = windows(
            &token_stream(&split.train, &tokenizer, prefix)?,
            cfg.seq_len,
        );
        let all_eval = windows(&token_stream(&split.eval, &tokenizer, prefix)?, cfg.seq_len);
        let eval = spread(&all_eval, self.eval_windows);
        let (train_bytes, eval_bytes) = split.bytes();
        say(&format!(
            "schedule: {schedule}\ntrain: {} articles, {train_bytes} bytes, {} windows of {} tokens; held out: {} articles, {eval_bytes} bytes, {} of {} windows",
            split.train.len(),
            train.len(),
            cfg.seq_len,
            split.eval.len(),
            eval.len(),
            all_eval.len()
        ));

        let fingerprint = model.weight_fingerprint();
        let full_plan = Plan::compile(&LayerSchedule::full(layers), layers, KvMode::Exact)?;
        let t = Instant::now();
        let (nll, tokens) = mean_nll(&model, &full_plan, &eval, cfg.eval_batch)?;
        let full = EvalPoint {
            step: 0,
            nll,
            perplexity: nll.exp(),
            tokens,
            seconds: t.elapsed().as_secs_f64(),
        };
        say(&format!(
            "full model: held-out perplexity {:.3} ({} tokens, {:.0} s)",
            full.perplexity, full.tokens, full.seconds
        ));

        let meta = json!({
            "command": self.command,
            "model": path,
            "schedule": schedule.to_string(),
            "data": {
                "file": split.path,
                "split": "WikiText-2 articles: even-numbered train, odd-numbered held out",
                "train_articles": split.train.len(),
                "train_bytes": train_bytes,
                "train_windows": train.len(),
                "eval_articles": split.eval.len(),
                "eval_bytes": eval_bytes,
                "eval_windows": eval.len(),
                "eval_windows_total": all_eval.len(),
                "seq_len": cfg.seq_len,
            },
            "config": config_json(cfg),
            "full": full,
        });
        let adapter_dir = self.out.join("adapter");
        let mut steps_csv = String::from("step,learning_rate,loss,grad_norm,seconds\n");
        let mut report = HealReport {
            untied_from: training_plan(&model, &schedule, cfg.untie)?.1,
            ..HealReport::default()
        };
        let mut io_error: Option<HealRunError> = None;
        let mut on_event = |e: HealEvent| {
            match e {
                HealEvent::Step(s) => {
                    let _ = writeln!(
                        steps_csv,
                        "{},{:e},{},{},{:.3}",
                        s.step, s.learning_rate, s.loss, s.grad_norm, s.seconds
                    );
                    report.steps.push(s.clone());
                    if s.step % 10 == 0 || s.step == 1 {
                        say(&format!(
                            "step {}/{}: loss {:.4}, grad norm {:.3}, lr {:.2e}, {:.2} s/step",
                            s.step, cfg.steps, s.loss, s.grad_norm, s.learning_rate, s.seconds
                        ));
                    }
                }
                HealEvent::Eval(p, adapters) => {
                    report.evals.push(p.clone());
                    let painted = report.evals[0].perplexity;
                    say(&format!(
                        "eval at step {}: held-out perplexity {:.3} (painted {:.3}, full {:.3}: {:.1}% of the gap recovered; {:.0} s)",
                        p.step,
                        p.perplexity,
                        painted,
                        full.perplexity,
                        100.0 * recovered(painted, p.perplexity, full.perplexity),
                        p.seconds
                    ));
                    let written =
                        self.checkpoint(&meta, &report, &steps_csv, &full)
                            .and_then(|()| {
                                adapters
                                    .save_peft(
                                        &adapter_dir,
                                        model.config(),
                                        Some(&path.display().to_string()),
                                        report.untied_from.as_deref(),
                                    )
                                    .map(|_| ())
                                    .map_err(|e| HealRunError::Heal(e.into()))
                            });
                    if let Err(e) = written {
                        io_error = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        };
        // `report` collects what the events say, for the checkpoints; heal's own report (with
        // the parameter count) is the one returned.
        let result = heal(&model, &schedule, &train, &eval, cfg, &mut on_event);
        if let Some(e) = io_error {
            return Err(e);
        }
        let (adapters, final_report) = result?;
        let after = model.weight_fingerprint();
        if after != fingerprint {
            return Err(HealRunError::WeightsChanged {
                before: fingerprint,
                after,
            });
        }
        // Read the saved adapters back: the same logits, bit for bit.
        let (plan, order) = training_plan(&model, &schedule, cfg.untie)?;
        let (reloaded, _) = Adapters::load_peft(&adapter_dir, model.config(), model.device())
            .map_err(HealError::from)?;
        let (input, _) = window_batch(&eval[..eval.len().min(2)])?;
        let logits = |a: Adapters| -> Result<Vec<f32>, HealRunError> {
            let m = adapted(&model, order.as_deref(), a)?;
            let l = m.logits(&plan, &input).map_err(HealError::from)?;
            Ok(l.into_data().try_to_vec::<f32>().unwrap_or_default())
        };
        let (a, b) = (logits(adapters)?, logits(reloaded)?);
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(
            if a.len() == b.len() {
                0.0
            } else {
                f32::INFINITY
            },
            f32::max,
        );
        if diff != 0.0 {
            return Err(HealRunError::Reload {
                path: adapter_dir,
                diff,
            });
        }
        let painted = final_report.evals[0].perplexity;
        let last = final_report.evals.last().map_or(painted, |p| p.perplexity);
        let rec = recovered(painted, last, full.perplexity);
        let mut summary = heal_json(&meta, &final_report, &full);
        summary["weights_bit_identical"] = json!(true);
        summary["weight_fingerprint"] = json!(format!("{fingerprint:016x}"));
        summary["adapters_reloaded_logits_identical"] = json!(true);
        summary["parameters"] = json!(final_report.params);
        summary["wall_seconds"] = json!(started.elapsed().as_secs_f64());
        let json_path = self.out.join("heal.json");
        write_atomic(&json_path, pretty(&summary).as_bytes())?;
        let mut written = vec![
            json_path,
            self.out.join("curve.csv"),
            self.out.join("steps.csv"),
        ];
        written.extend(self.plot(&final_report, &full)?);
        written.push(adapter_dir);
        Ok(HealOutcome {
            report: final_report,
            full,
            recovered: rec,
            written,
            wall_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// `heal.json`, `curve.csv`, `steps.csv` and the plot as they stand.
    fn checkpoint(
        &self,
        meta: &Value,
        report: &HealReport,
        steps_csv: &str,
        full: &EvalPoint,
    ) -> Result<(), HealRunError> {
        write_atomic(
            &self.out.join("heal.json"),
            pretty(&heal_json(meta, report, full)).as_bytes(),
        )?;
        write_atomic(&self.out.join("steps.csv"), steps_csv.as_bytes())?;
        write_atomic(
            &self.out.join("curve.csv"),
            curve_csv(report, full).as_bytes(),
        )?;
        self.plot(report, full)?;
        Ok(())
    }

    /// The held-out perplexity over the steps, with the full model's as a line.
    fn plot(&self, report: &HealReport, full: &EvalPoint) -> Result<Vec<PathBuf>, HealRunError> {
        let points: Vec<(f64, f64)> = report
            .evals
            .iter()
            .map(|p| (p.step as f64, p.perplexity))
            .collect();
        let last = points.last().map_or(1.0, |p| p.0.max(1.0));
        let chart = LineChart {
            title: "Healing: held-out WikiText-2 perplexity".into(),
            x_label: "training step".into(),
            y_label: "token perplexity".into(),
            series: vec![
                Series::new("painted + LoRA", points),
                Series::new(
                    "full model",
                    vec![(0.0, full.perplexity), (last, full.perplexity)],
                ),
            ],
            ..LineChart::default()
        };
        let (svg, png) = (self.out.join("curve.svg"), self.out.join("curve.png"));
        write_svg(&chart, &svg)?;
        write_png(&chart, &png)?;
        Ok(vec![svg, png])
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn config_json(cfg: &HealConfig) -> Value {
    let l = &cfg.lora;
    json!({
        "lora": {
            "rank": l.rank,
            "alpha": l.alpha,
            "rslora": l.rslora,
            "targets": l.targets.iter().map(|t| t.name()).collect::<Vec<_>>(),
            "blocks": l.blocks,
            "full_blocks": l.full_blocks,
        },
        "objective": cfg.objective,
        "untie": cfg.untie,
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "seq_len": cfg.seq_len,
        "learning_rate": cfg.learning_rate,
        "warmup_steps": cfg.warmup_steps,
        "weight_decay": cfg.weight_decay,
        "max_grad_norm": cfg.max_grad_norm,
        "seed": cfg.seed,
        "eval_every": cfg.eval_every,
    })
}

/// The run's JSON: metadata, every evaluation with the recovered fraction, the last steps.
fn heal_json(meta: &Value, report: &HealReport, full: &EvalPoint) -> Value {
    let mut v = meta.clone();
    let painted = report.evals.first().map_or(f64::NAN, |p| p.perplexity);
    v["painted"] = json!(report.evals.first());
    v["curve"] = json!(
        report
            .evals
            .iter()
            .map(|p| {
                let mut e = json!(p);
                e["gap_recovered"] = json!(recovered(painted, p.perplexity, full.perplexity));
                e["nll_gap_recovered"] = json!(recovered(report.evals[0].nll, p.nll, full.nll));
                e
            })
            .collect::<Vec<_>>()
    );
    v["steps_done"] = json!(report.steps.len());
    let secs: Vec<f64> = report.steps.iter().map(|s| s.seconds).collect();
    v["seconds_per_step"] = json!(if secs.is_empty() {
        f64::NAN
    } else {
        secs.iter().sum::<f64>() / secs.len() as f64
    });
    v["untied_from"] = json!(report.untied_from);
    v
}

fn curve_csv(report: &HealReport, full: &EvalPoint) -> String {
    let painted = report.evals.first().map_or(f64::NAN, |p| p.perplexity);
    let mut s = String::from("step,nll,perplexity,gap_recovered,full_perplexity\n");
    for p in &report.evals {
        let _ = writeln!(
            s,
            "{},{},{},{},{}",
            p.step,
            p.nll,
            p.perplexity,
            recovered(painted, p.perplexity, full.perplexity),
            full.perplexity
        );
    }
    s
}
