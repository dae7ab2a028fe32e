//! GLUE sweeps of BERT encoders: every schedule point of the paper's experiments fine-tuned and
//! evaluated on GLUE tasks, the schedule in force during training **and** evaluation (as `painters
//! glue` does). The paper's BERT figure is the plain GLUE average after fine-tuning under each
//! schedule ([`glue_average`](super::summary::glue_average)), per variant against M.
//!
//! Everything else is the decoder sweep's: the same [`SchedulePoint`]s (deduplicated by schedule
//! and seed), the same [`Store`](crate::sweep::Store) (one atomic result file per key; a rerun skips valid files),
//! [`Shard`]s, `painters merge`, and [`write_combined`] for `results.json` and `results.csv`.
//!
//! # Keys: results are never reused across fine-tuning settings
//!
//! A result depends on how the model was fine-tuned, so every setting that changes it is part of the
//! result's [`ResultKey`]: the [`FinetuneSettings::fingerprint`] (mode, epochs, learning rate, batch
//! size, max length, warmup, weight decay, Adam constants, gradient clip, dropout, seed, and the
//! train subset: all, the first N, or a seeded sample of N) is [`ResultKey::finetune`], and the dev
//! subset (`--eval-limit`) is [`ResultKey::limit`], as `--limit` is for lm-eval tasks. Being in the
//! key, the settings are in its hash, hence the file name: a sweep with other settings looks up
//! other files and computes its results afresh, while both sets stay in the folder side by side
//! (`painters report` and `painters merge` treat each (model, limit, settings) as one sweep).
//! This was preferred over a fingerprint checked next to the key (a changed setting would then
//! overwrite the other run's file) and over folding the settings into the task name (which every
//! table and figure shows). The model is its weight file's sha256, the data its `--data-dir`
//! files, which are not hashed (as for lm-eval sweeps).
//!
//! # Work units
//!
//! Fine-tuning changes the weights, so schedules share no computation: a unit is one (task,
//! schedule) pair, tasks in the given order, and unit k belongs to shard `k mod n`. A killed sweep
//! loses at most the fine-tuning in progress.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use painters_bert::{BertError, BertForSequenceClassification, BertModel, BertTokenizer};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::glue::{
    Dataset, FinetuneConfig, GlueMetrics, GlueRecord, GlueTask, PAPER_TASKS, Subset, evaluate_glue,
    finetune_with, read_glue_jsonl, split_path, tokenize_records,
};
use crate::score::SCORING_VERSION;
use crate::sweep::error::SweepError;
use crate::sweep::experiments::SchedulePoint;
use crate::sweep::store::{Record, ResultKey};
use crate::sweep::summary::NormConfig;
use crate::sweep::table::write_combined;
use crate::sweep::work::{
    Control, Item, ResultSink, Shard, SweepReport, Sweeper, drive, sweep_section,
};
use crate::tasks;

/// Every fine-tuning setting that changes a GLUE result: the optimiser's configuration and the
/// training subset (a sample is drawn with `config.seed`, as `painters glue --train-sample` does).
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneSettings {
    pub config: FinetuneConfig,
    /// Train on at most this many examples (`None`: the whole train split).
    pub train_limit: Option<usize>,
    /// With `train_limit`: a seeded sample instead of the first N in file order.
    pub train_sample: bool,
}

impl Default for FinetuneSettings {
    /// run_glue's defaults ([`FinetuneConfig::default`]) on the whole train split.
    fn default() -> Self {
        FinetuneSettings {
            config: FinetuneConfig::default(),
            train_limit: None,
            train_sample: false,
        }
    }
}

impl FinetuneSettings {
    /// The train subset these settings select.
    pub fn train_subset(&self) -> Subset {
        match (self.train_limit, self.train_sample) {
            (None, _) => Subset::All,
            (Some(n), false) => Subset::First(n),
            (Some(n), true) => Subset::Sample {
                n,
                seed: self.config.seed,
            },
        }
    }

    /// The canonical text of every setting, the [`ResultKey::finetune`] of a GLUE result, e.g.
    /// `glue-finetune/1 mode=full epochs=3 lr=0.00002 batch=32 max_length=128 warmup=0
    /// weight_decay=0 adam=0.9,0.999,0.00000001 clip=1 dropout=on seed=42 train=sample:2000`
    /// (one line). Numbers are Rust's shortest round-trip decimals, so equal settings give equal
    /// text on every machine, and any change gives another text (another key).
    pub fn fingerprint(&self) -> String {
        let c = &self.config;
        let train = match self.train_subset() {
            Subset::All => "all".to_string(),
            Subset::First(n) => format!("first:{n}"),
            Subset::Sample { n, .. } => format!("sample:{n}"),
        };
        format!(
            "glue-finetune/1 mode={} epochs={} lr={} batch={} max_length={} warmup={} weight_decay={} adam={},{},{} clip={} dropout={} seed={} train={train}",
            c.mode.name(),
            c.epochs,
            c.learning_rate,
            c.batch_size,
            c.max_length,
            c.warmup_steps,
            c.weight_decay,
            c.adam_beta1,
            c.adam_beta2,
            c.adam_epsilon,
            c.max_grad_norm
                .map_or_else(|| "none".into(), |g| g.to_string()),
            if c.dropout { "on" } else { "off" },
            c.seed,
        )
    }

    /// The settings as a JSON object (for result files and `results.json`).
    pub fn to_json(&self) -> Value {
        let c = &self.config;
        json!({
            "mode": c.mode.name(),
            "epochs": c.epochs,
            "learning_rate": c.learning_rate,
            "batch_size": c.batch_size,
            "max_length": c.max_length,
            "warmup_steps": c.warmup_steps,
            "weight_decay": c.weight_decay,
            "adam_beta1": c.adam_beta1,
            "adam_beta2": c.adam_beta2,
            "adam_epsilon": c.adam_epsilon,
            "max_grad_norm": c.max_grad_norm,
            "dropout": c.dropout,
            "seed": c.seed,
            "train_subset": self.train_subset().to_json(),
        })
    }
}

/// How a GLUE sweep runs.
#[derive(Clone, Debug)]
pub struct GlueSweepOptions {
    /// GLUE task names (`sst2`, `mrpc`, …; the paper's seven: cola, mrpc, qnli, rte, sst2, stsb,
    /// wnli).
    pub tasks: Vec<String>,
    pub settings: FinetuneSettings,
    /// Evaluate on the first N dev examples only.
    pub eval_limit: Option<usize>,
    /// Where the data lives: `<data_dir>/glue-<task>/{train,dev}.jsonl[.gz]`.
    pub data_dir: PathBuf,
    /// The sweep folder: `results/` (the store), `results.json`, `results.csv`.
    pub out: PathBuf,
    pub shard: Shard,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Print a line per result on stderr.
    pub verbose: bool,
    /// Stop with [`SweepError::Stopped`] once this many results have been written.
    pub stop_after: Option<usize>,
}

impl GlueSweepOptions {
    /// run_glue's defaults, whole splits, data under `data/`, no progress bar.
    pub fn new(tasks: Vec<String>, out: PathBuf) -> Self {
        GlueSweepOptions {
            tasks,
            settings: FinetuneSettings::default(),
            eval_limit: None,
            data_dir: PathBuf::from("data"),
            out,
            shard: Shard::ALL,
            progress: false,
            verbose: false,
            stop_after: None,
        }
    }
}

/// The pretrained encoder a GLUE sweep fine-tunes (a fresh copy per result, with a new head).
pub struct GlueSweepModel<'a> {
    pub model: &'a BertModel,
    pub tokenizer: &'a BertTokenizer,
    /// sha256 of the weight file (part of every result key).
    pub sha256: String,
}

/// The GLUE task `name` (canonical lower-case name); an lm-eval task name is
/// [`SweepError::LmTaskOnEncoder`], anything else (QQP and MNLI included: no JSONL loader)
/// [`SweepError::UnknownTask`].
pub fn glue_task(name: &str) -> Result<GlueTask, SweepError> {
    if let Some(t) = GlueTask::from_name(name).filter(|t| PAPER_TASKS.contains(t)) {
        return Ok(t);
    }
    if tasks::by_name(name).is_some() {
        return Err(SweepError::LmTaskOnEncoder(name.to_string()));
    }
    Err(SweepError::UnknownTask(name.to_string()))
}

/// A task's train and dev examples as read (the subsets the settings take), with what was read
/// and their digest ([`ResultKey::data`]).
struct RawTask {
    train: Vec<GlueRecord>,
    dev: Vec<GlueRecord>,
    about: Value,
    digest: String,
}

/// A task's train and dev data, tokenized, with what was read.
struct TaskData {
    train: Dataset,
    dev: Dataset,
    about: Value,
}

/// The sha256 of GLUE examples: every example's texts and label, in order, per split.
fn records_digest(splits: &[(&str, &[GlueRecord])]) -> String {
    let mut h = Sha256::new();
    for (name, records) in splits {
        h.update(format!("{name} {}\n", records.len()));
        for r in *records {
            h.update(json!([r.text_a, r.text_b, r.label.to_bits()]).to_string());
            h.update(b"\n");
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Read `task`'s splits and cut them to the settings' subsets (no tokenizing yet).
fn read_task(task: GlueTask, opts: &GlueSweepOptions) -> Result<RawTask, SweepError> {
    let data_err = |e| SweepError::GlueData {
        task: task.name().to_string(),
        source: Box::new(e),
    };
    let train_path = split_path(&opts.data_dir, task, "train").map_err(data_err)?;
    let dev_path = split_path(&opts.data_dir, task, "dev").map_err(data_err)?;
    let train_all = read_glue_jsonl(&train_path, task).map_err(data_err)?;
    let dev_all = read_glue_jsonl(&dev_path, task).map_err(data_err)?;
    let (train_available, dev_available) = (train_all.len(), dev_all.len());
    let train_subset = opts.settings.train_subset();
    let dev_subset = opts.eval_limit.map_or(Subset::All, Subset::First);
    let train = train_subset.apply(train_all);
    let dev = dev_subset.apply(dev_all);
    let about = json!({
        "train": {
            "file": train_path.display().to_string(),
            "available": train_available,
            "examples": train.len(),
            "subset": train_subset.to_json(),
        },
        "eval": {
            "file": dev_path.display().to_string(),
            "available": dev_available,
            "examples": dev.len(),
            "subset": dev_subset.to_json(),
        },
    });
    let digest = records_digest(&[("train", &train), ("dev", &dev)]);
    Ok(RawTask {
        train,
        dev,
        about,
        digest,
    })
}

/// `raw` tokenized for `model`.
fn tokenize_task(
    task: GlueTask,
    raw: &RawTask,
    model: &GlueSweepModel,
    opts: &GlueSweepOptions,
) -> Result<TaskData, SweepError> {
    let tokenize = |records: &[GlueRecord]| {
        tokenize_records(records, model.tokenizer, opts.settings.config.max_length).map_err(|e| {
            SweepError::Finetune {
                label: "tokenizing".into(),
                task: task.name().to_string(),
                source: Box::new(e),
            }
        })
    };
    Ok(TaskData {
        train: tokenize(&raw.train)?,
        dev: tokenize(&raw.dev)?,
        about: raw.about.clone(),
    })
}

/// lm-eval's standard error of a mean of 0/1 scores: the sample standard deviation over √n.
fn accuracy_stderr(p: f64, n: usize) -> Option<f64> {
    (n > 1).then(|| (p * (1.0 - p) / (n - 1) as f64).sqrt())
}

/// The `evaluation.results.<task>` section of a result file: every GLUE metric as
/// `"metric,none"` (accuracy with its standard error, the others with `"N/A"` as lm-eval writes
/// metrics without one), plus the dev loss.
fn results_section(m: &GlueMetrics) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |name: &str, v: Option<f64>, se: Option<f64>| {
        if let Some(v) = v {
            out.insert(format!("{name},none"), json!(v));
            out.insert(
                format!("{name}_stderr,none"),
                se.map_or_else(|| json!("N/A"), |s| json!(s)),
            );
        }
    };
    put(
        "accuracy",
        m.accuracy,
        m.accuracy.and_then(|a| accuracy_stderr(a, m.examples)),
    );
    put("f1", m.f1, None);
    put("matthews_correlation", m.matthews_correlation, None);
    put("pearson", m.pearson, None);
    put("spearmanr", m.spearmanr, None);
    put("loss", Some(m.loss), None);
    out
}

/// Fine-tune a fresh copy of the encoder with a new head on `data.train` under `item`'s schedule,
/// evaluate it on `data.dev` under the same schedule, and build the result file. The training
/// steps are reported to `sink` as they are done.
fn compute_one(
    (model, opts): (&GlueSweepModel, &GlueSweepOptions),
    task: GlueTask,
    data: &TaskData,
    item: &Item,
    key: ResultKey,
    points: &[SchedulePoint],
    sink: &mut dyn ResultSink,
) -> Result<(Record, f64), SweepError> {
    let started = Instant::now();
    let label = item.label(points).to_string();
    let bert_err = |e: BertError| SweepError::Finetune {
        label: label.clone(),
        task: task.name().to_string(),
        source: Box::new(e),
    };
    let cfg = &opts.settings.config;
    let layers = model.model.config().num_hidden_layers;
    let plan = model.model.plan(&item.schedule).map_err(bert_err)?;
    let head = BertForSequenceClassification::new(model.model.clone(), task.num_labels(), cfg.seed)
        .map_err(bert_err)?;
    let t0 = Instant::now();
    let (trained, report) = match cfg.epochs {
        0 => (head, Default::default()),
        _ => finetune_with(
            head,
            &item.schedule,
            &data.train,
            None,
            cfg,
            &mut |done, total| sink.step(done, total, "steps"),
        )
        .map_err(bert_err)?,
    };
    let train_s = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let metrics =
        evaluate_glue(&trained, &plan, &data.dev, task, cfg.batch_size.max(1)).map_err(bert_err)?;
    let eval_s = t0.elapsed().as_secs_f64();
    let epoch_loss = report.epoch_mean_loss(cfg.epochs);
    let main = serde_json::to_value(&metrics)
        .ok()
        .and_then(|v| v.get(task.main_metric()).cloned())
        .unwrap_or(Value::Null);
    let mut results = Map::new();
    results.insert(
        task.name().to_string(),
        Value::Object(results_section(&metrics)),
    );
    let mut glue = json!({
        "task": task.name(),
        "eval_split": "dev",
        "main_metric": task.main_metric(),
        "main_score": main,
        "metrics": metrics,
        "train_loss_per_epoch": epoch_loss,
        "train_steps": report.steps.len(),
        "finetune": opts.settings.to_json(),
    });
    if let (Some(g), Some(a)) = (glue.as_object_mut(), data.about.as_object()) {
        g.extend(a.clone());
    }
    let evaluation = json!({"results": results, "glue": glue});
    let date = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let seconds = started.elapsed().as_secs_f64();
    let path = key.file_name();
    let record = Record::new(
        key,
        item.metas(points),
        layers,
        item.schedule.to_json()["steps"].clone(),
        json!(plan.stats()),
        evaluation,
        json!({
            "seconds": seconds,
            "train_seconds": train_s,
            "eval_seconds": eval_s,
            "data_dir": opts.data_dir,
            "date": date,
        }),
    )
    .map_err(|reason| SweepError::InvalidRecord {
        path: PathBuf::from(path),
        reason,
    })?;
    Ok((record, seconds))
}

/// The settings part of a GLUE result's key: BERT runs in f32 only (the fine-tuning settings are
/// [`ResultKey::finetune`]).
fn glue_settings() -> String {
    "weights=f32".into()
}

/// The GLUE sweep's way of keying and computing results.
struct GlueSweeper<'a> {
    model: &'a GlueSweepModel<'a>,
    opts: &'a GlueSweepOptions,
    tasks: Vec<GlueTask>,
    finetune: String,
    /// Every task's examples as read (what the results are keyed by).
    raw: Vec<RawTask>,
    /// Every task with work: its data, tokenized once.
    data: BTreeMap<usize, TaskData>,
}

impl Sweeper for GlueSweeper<'_> {
    fn task_count(&self) -> usize {
        self.tasks.len()
    }

    fn key(&self, schedule: &str, seed: Option<i64>, t: usize) -> ResultKey {
        ResultKey {
            model_sha256: self.model.sha256.clone(),
            schedule: schedule.to_string(),
            task: self.tasks[t].name().to_string(),
            limit: self.opts.eval_limit,
            seed,
            finetune: Some(self.finetune.clone()),
            data: self.raw[t].digest.clone(),
            settings: glue_settings(),
            scoring: SCORING_VERSION,
        }
    }

    /// Fine-tuning changes the weights: schedules share no computation.
    fn group_size(&self) -> usize {
        1
    }

    /// Every task with work has its data tokenized once, before any fine-tuning.
    fn prepare(&mut self, todo: &[(usize, Vec<&Item>)]) -> Result<(), SweepError> {
        for &(t, _) in todo {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.data.entry(t) {
                slot.insert(tokenize_task(
                    self.tasks[t],
                    &self.raw[t],
                    self.model,
                    self.opts,
                )?);
            }
        }
        Ok(())
    }

    fn compute(
        &mut self,
        t: usize,
        members: &[&Item],
        points: &[SchedulePoint],
        sink: &mut dyn ResultSink,
    ) -> Result<(), SweepError> {
        let task = self.tasks[t];
        let Some(task_data) = self.data.get(&t) else {
            return Ok(());
        };
        for item in members {
            let label = format!("{} on {}", item.label(points), task.name());
            sink.starting(&label);
            let key = self.key(&item.text, item.seed, t);
            let (record, seconds) = compute_one(
                (self.model, self.opts),
                task,
                task_data,
                item,
                key,
                points,
                sink,
            )?;
            if sink.finished(record, &label, seconds)?.is_break() {
                break;
            }
        }
        Ok(())
    }
}

/// Run `points` × `opts.tasks` (this shard's part) on `model`: for each (schedule, GLUE task) not
/// yet stored with these settings, fine-tune under the schedule, evaluate on dev under it, write
/// the result; then write the folder's `results.json` and `results.csv` (with the GLUE average per
/// point) over every stored result of the points.
pub fn run_glue_sweep(
    model: &GlueSweepModel,
    points: &[SchedulePoint],
    opts: &GlueSweepOptions,
) -> Result<SweepReport, SweepError> {
    let tasks: Vec<GlueTask> = opts
        .tasks
        .iter()
        .map(|t| glue_task(t))
        .collect::<Result<_, _>>()?;
    if opts.settings.config.batch_size == 0 {
        return Err(SweepError::Experiment(
            "the fine-tuning batch size must be at least 1".into(),
        ));
    }
    // Every task's examples are read first (a missing file fails here): they are part of the keys.
    let raw = tasks
        .iter()
        .map(|&t| read_task(t, opts))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sweeper = GlueSweeper {
        model,
        opts,
        tasks,
        finetune: opts.settings.fingerprint(),
        raw,
        data: BTreeMap::new(),
    };
    let ctl = Control {
        out: &opts.out,
        shard: opts.shard,
        progress: opts.progress,
        verbose: opts.verbose,
        stop_after: opts.stop_after,
    };
    let driven = drive(&mut sweeper, points, ctl)?;
    let mut report = driven.report;
    report.settings = glue_settings();
    report.data = sweeper
        .tasks
        .iter()
        .zip(&sweeper.raw)
        .map(|(t, r)| (t.name().to_string(), r.digest.clone()))
        .collect();
    let mut extra = Map::new();
    extra.insert(
        "sweep".into(),
        sweep_section(
            &report,
            (points.len(), opts.tasks.len()),
            opts.shard,
            &[("kind", json!("glue"))],
            &[
                ("eval_limit", json!(opts.eval_limit)),
                ("settings", json!(report.settings)),
                ("scoring_version", json!(SCORING_VERSION)),
                ("data_sha256", json!(report.data)),
            ],
        ),
    );
    extra.insert("finetune_settings".into(), opts.settings.to_json());
    write_combined(&opts.out, &driven.entries, &NormConfig::default(), extra)?;
    Ok(report)
}
