//! A GLUE run as a value (what `painters glue` does): fine-tune a BERT encoder with a new head on
//! one GLUE task under a layer schedule (the schedule in force in training and evaluation), then
//! report the task's GLUE metrics on the dev split as JSON.

use std::path::{Path, PathBuf};
use std::time::Instant;

use painters_bert::{BertError, BertForSequenceClassification, BertTokenizer};
use serde_json::{Value, json};

use crate::glue::{
    Dataset, FinetuneConfig, GlueDataError, GlueTask, PAPER_TASKS, Subset, evaluate_glue,
    finetune_with, read_glue_jsonl, split_path, tokenize_records,
};
use crate::io::{IoError, check_folder_writable, check_writable, write_atomic};
use crate::models::{LoadError, ModelSource};
use crate::progress::Progress;
use crate::schedules::{ScheduleSpec, ScheduleSpecError};
use crate::settings::{SettingError, at_least_one_if_given};

/// One GLUE task fine-tuned and evaluated under one schedule. [`GlueRun::new`] gives `painters
/// glue`'s defaults (HF `run_glue.py`'s).
#[derive(Clone, Debug)]
pub struct GlueRun {
    /// A HF BERT checkpoint folder (or a hub repo of one).
    pub model: ModelSource,
    /// GLUE task name: cola, mrpc, qnli, rte, sst2, stsb, wnli.
    pub task: String,
    pub schedule: ScheduleSpec,
    /// The fine-tuning settings (mode, learning rate, batch size, max length, epochs, warmup,
    /// seed …).
    pub config: FinetuneConfig,
    /// Train on at most N examples: the first N, or with `train_sample` a sample drawn with the
    /// seed.
    pub train_limit: Option<usize>,
    pub train_sample: bool,
    /// Evaluate on the first N dev examples only.
    pub eval_limit: Option<usize>,
    /// Also evaluate (accuracy / Pearson) after every epoch.
    pub eval_each_epoch: bool,
    /// Where the data lives (`<data_dir>/glue-<task>/...`).
    pub data_dir: PathBuf,
    /// Train on this JSONL file instead of the task's train split.
    pub train_file: Option<PathBuf>,
    /// Evaluate on this JSONL file instead of the task's dev split.
    pub dev_file: Option<PathBuf>,
    /// Write the results JSON here (atomically).
    pub out: Option<PathBuf>,
    /// Save the fine-tuned model as a HF `BertForSequenceClassification` folder.
    pub save: Option<PathBuf>,
    /// Show the training's progress on stderr (a bar on a terminal, else a line at a steady
    /// interval).
    pub progress: bool,
}

/// Why a GLUE run failed.
#[derive(Debug, thiserror::Error)]
pub enum GlueRunError {
    /// `out` cannot be written (checked before any work).
    #[error(transparent)]
    Output(IoError),
    #[error("unknown GLUE task `{0}`")]
    UnknownTask(String),
    /// A setting that means nothing (checked before any work).
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// A split's file is not where it should be.
    #[error("{source}")]
    Split {
        task: GlueTask,
        split: &'static str,
        #[source]
        source: GlueDataError,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Schedule(#[from] ScheduleSpecError),
    /// A data file that cannot be read as the task's data.
    #[error(transparent)]
    Data(#[from] GlueDataError),
    /// Tokenizing, fine-tuning, evaluating or saving.
    #[error(transparent)]
    Bert(#[from] BertError),
    #[error(transparent)]
    Write(IoError),
}

fn secs(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 100.0).round() / 100.0
}

fn mean_len(d: &Dataset) -> f64 {
    d.examples.iter().map(|e| e.input_ids.len()).sum::<usize>() as f64 / d.len().max(1) as f64
}

impl GlueRun {
    /// `task` on `model` under the full schedule, with run_glue's defaults, data under `data/`.
    pub fn new(model: impl Into<PathBuf>, task: &str) -> Self {
        GlueRun {
            model: ModelSource::new(model),
            task: task.to_string(),
            schedule: ScheduleSpec::full(),
            config: FinetuneConfig::default(),
            train_limit: None,
            train_sample: false,
            eval_limit: None,
            eval_each_epoch: false,
            data_dir: PathBuf::from("data"),
            train_file: None,
            dev_file: None,
            out: None,
            save: None,
            progress: false,
        }
    }

    /// The file of `split`: the one given, else the task's under `data_dir`.
    fn split_file(&self, task: GlueTask, split: &'static str) -> Result<PathBuf, GlueRunError> {
        let given = match split {
            "train" => &self.train_file,
            _ => &self.dev_file,
        };
        if let Some(p) = given {
            return Ok(p.clone());
        }
        split_path(&self.data_dir, task, split).map_err(|source| GlueRunError::Split {
            task,
            split,
            source,
        })
    }

    /// Fine-tune, evaluate, write `out` (and `save`); `say` gets the progress lines. Returns the
    /// results JSON.
    pub fn execute(&self, say: &mut dyn FnMut(&str)) -> Result<Value, GlueRunError> {
        let cfg = &self.config;
        cfg.check()?;
        self.model.check_bert_weights()?;
        at_least_one_if_given("--train-limit", self.train_limit, "training examples")?;
        at_least_one_if_given("--eval-limit", self.eval_limit, "dev examples")?;
        self.schedule.check()?;
        if let Some(out) = &self.out {
            check_writable(out).map_err(GlueRunError::Output)?;
        }
        if let Some(save) = &self.save {
            check_folder_writable(save).map_err(GlueRunError::Output)?;
        }
        let started = Instant::now();
        let task = GlueTask::from_name(&self.task)
            .filter(|t| PAPER_TASKS.contains(t))
            .ok_or_else(|| GlueRunError::UnknownTask(self.task.clone()))?;
        self.model.device()?;
        let train_path = self.split_file(task, "train")?;
        let dev_path = self.split_file(task, "dev")?;

        // Model and tokenizer.
        let t0 = Instant::now();
        let model_path = self.model.local_path()?;
        let bert = self.model.load_bert(&model_path)?;
        let config = bert.config().clone();
        let layers = config.num_hidden_layers;
        let schedule = self.schedule.resolve(layers)?;
        let plan = bert.plan(&schedule)?;
        let tokenizer = BertTokenizer::for_model(&model_path, &config)?;
        let model = BertForSequenceClassification::new(bert, task.num_labels(), cfg.seed)?;
        let load_s = secs(t0);

        // Data.
        let t0 = Instant::now();
        let train_subset = match (self.train_limit, self.train_sample) {
            (None, _) => Subset::All,
            (Some(n), false) => Subset::First(n),
            (Some(n), true) => Subset::Sample { n, seed: cfg.seed },
        };
        let train_all = read_glue_jsonl(&train_path, task)?;
        let train_available = train_all.len();
        let train_records = train_subset.apply(train_all);
        let dev_all = read_glue_jsonl(&dev_path, task)?;
        let dev_available = dev_all.len();
        let dev_subset = self.eval_limit.map_or(Subset::All, Subset::First);
        let dev_records = dev_subset.apply(dev_all);
        let train = tokenize_records(&train_records, &tokenizer, cfg.max_length)?;
        let dev = tokenize_records(&dev_records, &tokenizer, cfg.max_length)?;
        let data_s = secs(t0);
        say(&format!(
            "glue {}: schedule `{schedule}`, train {} of {} examples ({}), dev {} of {} (mean {:.1} / {:.1} tokens)",
            task.name(),
            train.len(),
            train_available,
            train_path.display(),
            dev.len(),
            dev_available,
            mean_len(&train),
            mean_len(&dev),
        ));

        // Fine-tune.
        let t0 = Instant::now();
        let (model, report) = match cfg.epochs {
            0 => (model, Default::default()),
            _ => {
                let steps = train.len().div_ceil(cfg.batch_size) * cfg.epochs;
                let pb = Progress::new(
                    &format!("glue {}", task.name()),
                    steps,
                    "steps",
                    self.progress,
                );
                finetune_with(
                    model,
                    &schedule,
                    &train,
                    self.eval_each_epoch.then_some(&dev),
                    cfg,
                    &mut |_, _| pb.inc(1),
                )?
            }
        };
        let train_s = secs(t0);
        say(&format!(
            "trained {} steps in {train_s} s",
            report.steps.len()
        ));

        // Evaluate.
        let t0 = Instant::now();
        let metrics = evaluate_glue(&model, &plan, &dev, task, cfg.batch_size)?;
        let eval_s = secs(t0);

        if let Some(dir) = &self.save {
            model.save(dir)?;
        }

        let per_epoch: Vec<Value> = report
            .eval
            .iter()
            .map(|m| json!({"loss": m.loss, "accuracy": m.accuracy, "pearson": m.pearson}))
            .collect();
        let main = serde_json::to_value(&metrics)
            .ok()
            .and_then(|v| v.get(task.main_metric()).cloned())
            .unwrap_or(Value::Null);
        let path_str = |p: &Path| p.display().to_string();
        let out = json!({
            "task": task.name(),
            "eval_split": "dev",
            "eval_split_note": match task {
                GlueTask::Qnli if self.train_file.is_none() => "GLUE dev set (test labels are not public); QNLI has only dev offline",
                _ => "GLUE dev set (test labels are not public)",
            },
            "main_metric": task.main_metric(),
            "main_score": main,
            "metrics": metrics,
            "per_epoch_eval": per_epoch,
            "train_loss_per_epoch": report.epoch_mean_loss(cfg.epochs),
            "model": path_str(&model_path),
            "layers": layers,
            "schedule": schedule.to_string(),
            "steps": schedule.to_json()["steps"],
            "preset": self.schedule.preset.as_ref().map(|p| p.name.clone()),
            "config": {
                "mode": cfg.mode.name(),
                "learning_rate": cfg.learning_rate,
                "batch_size": cfg.batch_size,
                "max_length": cfg.max_length,
                "epochs": cfg.epochs,
                "warmup_steps": cfg.warmup_steps,
                "weight_decay": cfg.weight_decay,
                "max_grad_norm": cfg.max_grad_norm,
                "dropout": cfg.dropout,
                "seed": cfg.seed,
                "device": self.model.device,
            },
            "train": {
                "file": path_str(&train_path),
                "available": train_available,
                "examples": train.len(),
                "subset": train_subset.to_json(),
                "steps": report.steps.len(),
            },
            "eval": {
                "file": path_str(&dev_path),
                "available": dev_available,
                "examples": dev.len(),
                "subset": dev_subset.to_json(),
            },
            "wall_time_s": {
                "load": load_s,
                "data": data_s,
                "train": train_s,
                "eval": eval_s,
                "total": secs(started),
            },
        });
        if let Some(path) = &self.out {
            let text = serde_json::to_string_pretty(&out).unwrap_or_else(|_| out.to_string());
            write_atomic(path, format!("{text}\n").as_bytes()).map_err(GlueRunError::Write)?;
        }
        Ok(out)
    }
}
