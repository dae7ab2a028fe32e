//! An evaluation run as a value: a model, a schedule, lm-eval tasks and where the results go;
//! [`EvalRun::execute`] does the rest — the model loaded and fingerprinted, each task evaluated with
//! its checkpoints (a finished task's result, and each finished document of the task under way,
//! beside `out`), the results JSON written, the checkpoints removed.
//!
//! A run killed after hours is rerun unchanged and resumes where it stopped: finished tasks come
//! from their checkpoints, the task under way asks the model only about documents its journal does
//! not hold. Checkpoints are keyed by everything that can change a score
//! ([`EvalRun::fingerprint`] and each task's documents as read, [`Loaded::digest`]): checkpoints
//! made with another model file, weight mode, schedule, window, KV mode, batching, scoring code or
//! data are never used.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use painters::{KvMode, LayerSchedule, Plan, PlanStats};
use serde_json::{Map, Value, json};

use crate::batching::BatchOptions;
use crate::eval::results::{TaskResult, results_json, samples_jsonl, summary_table};
use crate::eval::task::{EvalError, EvalOptions, evaluate_loaded};
use crate::io::{
    DocJournal, IoError, JournalError, check_folder_writable, check_writable, write_atomic,
};
use crate::lm::{LanguageModel, LlamaLm};
use crate::models::{LoadError, ModelSource};
use crate::schedules::{ScheduleSpec, ScheduleSpecError};
use crate::score::SCORING_VERSION;
use crate::settings::{SettingError, at_least_one, at_least_one_if_given};
#[cfg(doc)]
use crate::tasks::Loaded;
use crate::tasks::{self, Task};

/// What to evaluate and where the results go. [`EvalRun::new`] gives the defaults of `painters
/// eval`.
#[derive(Clone, Debug)]
pub struct EvalRun {
    pub model: ModelSource,
    pub schedule: ScheduleSpec,
    /// KV-cache mode for generation (gsm8k).
    pub kv: KvMode,
    /// lm-eval task names.
    pub tasks: Vec<String>,
    /// Evaluate only the first N documents of each task.
    pub limit: Option<usize>,
    pub batch: BatchOptions,
    /// Model window in tokens (default: the model's `max_position_embeddings`).
    pub max_length: Option<usize>,
    /// Where the task data lives (`<data_dir>/<task>/...`).
    pub data_dir: PathBuf,
    /// The results file (written atomically); checkpoints go beside it until it is written.
    pub out: PathBuf,
    /// Also write per-document records, one JSONL file per task beside `out`.
    pub log_samples: bool,
    /// Progress bars (and hub download progress) on stderr.
    pub progress: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalRunError {
    /// `out` cannot be written (checked before any work).
    #[error(transparent)]
    Output(IoError),
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Schedule(#[from] ScheduleSpecError),
    #[error(transparent)]
    Plan(#[from] painters::ScheduleError),
    /// A checkpoint or journal beside `out` could not be opened or written.
    #[error(transparent)]
    Checkpoint(#[from] JournalError),
    #[error(transparent)]
    Write(#[from] IoError),
    /// A task failed (its data, a request, or the run was stopped as asked).
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A setting that means nothing (checked before any work).
    #[error(transparent)]
    Setting(#[from] SettingError),
}

/// What a run reports as it goes (for progress lines; the run itself prints nothing but progress
/// bars). Returning [`ControlFlow::Break`] from [`EvalEvent::Document`] stops the run.
#[derive(Debug)]
pub enum EvalEvent<'a> {
    /// The model is loaded and the schedule compiled.
    Planned {
        schedule: &'a LayerSchedule,
        plan: &'a PlanStats,
    },
    /// A task's result came from the checkpoint of an earlier run.
    Resumed { task: &'a str, checkpoint: &'a Path },
    /// A task's journal holds `docs` documents from earlier runs; only the rest are computed.
    OnRecord {
        task: &'a str,
        docs: usize,
        journal: &'a Path,
    },
    /// A document was answered by the model now (and journaled).
    Document { task: &'a str, doc_id: usize },
    /// The journal stopped recording (the run goes on; the documents after this point will be
    /// recomputed if the run is killed).
    JournalFailed {
        journal: &'a Path,
        error: &'a std::io::Error,
    },
    /// A task finished.
    TaskDone { result: &'a TaskResult },
}

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct EvalOutcome {
    pub results: Vec<TaskResult>,
    /// The results JSON as written to `out`.
    pub json: Value,
    /// The results as a Markdown table, as lm-eval prints one.
    pub summary: String,
}

impl EvalRun {
    /// `painters eval`'s defaults: the full model on the CPU, exact KV cache, batches of 16 with
    /// shared question prefixes, the model's own window, data under `data/`, no progress bars.
    pub fn new(model: impl Into<PathBuf>, tasks: &[&str], out: impl Into<PathBuf>) -> Self {
        EvalRun {
            model: ModelSource::new(model),
            schedule: ScheduleSpec::full(),
            kv: KvMode::Exact,
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            limit: None,
            batch: BatchOptions::default(),
            max_length: None,
            data_dir: PathBuf::from("data"),
            out: out.into(),
            log_samples: false,
            progress: false,
        }
    }

    /// Run to the end.
    pub fn execute(&self) -> Result<EvalOutcome, EvalRunError> {
        self.execute_with(&mut |_| ControlFlow::Continue(()))
    }

    /// Run, telling `on_event` what happens; a [`ControlFlow::Break`] stops the run with
    /// [`EvalError::Stopped`] (what was done is checkpointed, and a rerun continues from there).
    pub fn execute_with(
        &self,
        on_event: &mut dyn FnMut(&EvalEvent) -> ControlFlow<()>,
    ) -> Result<EvalOutcome, EvalRunError> {
        let started = Instant::now();
        self.check()?;
        let task_list = self.task_list()?;
        self.check_outputs(&task_list)?;
        // The data is read once before the model loads, so that a missing or damaged file fails
        // at once (each task reads it again when its turn comes).
        for task in &task_list {
            task.load(&self.data_dir, self.limit)
                .map_err(EvalError::from)?;
        }
        self.model.device()?;
        let path = self.model.local_path()?;
        let model = self.model.load_llama(&path)?;
        let tokenizer = ModelSource::llama_tokenizer(&path)?;
        let layers = model.num_blocks();
        let schedule = self.schedule.resolve(layers)?;
        let plan = Plan::compile(&schedule, layers, self.kv)?;
        let mut lm = LlamaLm::new(&model, &plan, &tokenizer);
        if let Some(n) = self.max_length {
            let window = model.config().max_position_embeddings;
            if n > window {
                return Err(SettingError::new(
                    "--max-length",
                    n,
                    format!(
                        "exceeds the model's window of {window} tokens (max_position_embeddings)"
                    ),
                )
                .into());
            }
            lm = lm.with_max_length(n);
        }
        let stats = plan.stats();
        let _ = on_event(&EvalEvent::Planned {
            schedule: &schedule,
            plan: &stats,
        });
        let sha = ModelSource::sha256(&path)?;
        let weights = model.weights_key();
        let fingerprint = self.fingerprint(&sha, &weights, &schedule, layers, lm.max_length());
        let results = self.evaluate(&lm, &task_list, &fingerprint, on_event)?;

        let date = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut extra = Map::new();
        extra.insert(
            "config".into(),
            json!({
                "model": "painters-llama",
                "model_args": path,
                "batch_size": self.batch.batch_size,
                "limit": self.limit,
                "device": self.model.device,
                "max_length": lm.max_length(),
                "kv_mode": format!("{:?}", self.kv),
                "shared_prefix": self.batch.min_saved_tokens.is_some(),
                "weights": weights,
                "data_dir": self.data_dir,
                "scoring_version": SCORING_VERSION,
                "painters_version": env!("CARGO_PKG_VERSION"),
            }),
        );
        extra.insert(
            "data_sha256".into(),
            results
                .iter()
                .map(|r| (r.info.name.to_string(), json!(r.data_sha256)))
                .collect::<Map<_, _>>()
                .into(),
        );
        extra.insert("model_sha256".into(), json!(sha));
        extra.insert(
            "schedule".into(),
            json!({"text": schedule.to_string(), "layers": layers, "steps": schedule.to_json()["steps"]}),
        );
        extra.insert("plan".into(), json!(stats));
        extra.insert("date".into(), json!(date));
        extra.insert(
            "total_evaluation_time_seconds".into(),
            Value::String(format!("{:.3}", started.elapsed().as_secs_f64())),
        );
        let json = results_json(&results, extra);
        let text = serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string());
        write_atomic(&self.out, text.as_bytes())?;
        let _ = std::fs::remove_dir_all(checkpoint_dir(&self.out));
        Ok(EvalOutcome {
            summary: summary_table(&results),
            results,
            json,
        })
    }

    /// What the checkpoints of a run are keyed by, besides each task's own name, version and
    /// documents: everything else that can change a score — the model file (`sha`) and how its
    /// weights are stored (`weights`: [`WeightMode::key_on`](painters_llama::WeightMode::key_on)
    /// the device), the schedule, the window, the KV mode, the batching and the scoring code's
    /// version. A checkpoint or journal made under another fingerprint is never used.
    pub fn fingerprint(
        &self,
        sha: &str,
        weights: &str,
        schedule: &LayerSchedule,
        layers: usize,
        window: usize,
    ) -> Value {
        json!({
            "model_sha256": sha,
            "weights": weights,
            "schedule": schedule.to_string(),
            "layers": layers,
            "limit": self.limit,
            "max_length": window,
            "kv_mode": format!("{:?}", self.kv),
            "batch_size": self.batch.batch_size,
            "max_batch_tokens": self.batch.max_batch_tokens,
            "shared_prefix": self.batch.min_saved_tokens,
            "scoring_version": SCORING_VERSION,
        })
    }

    /// The settings that can be checked before anything is read: counts of at least 1, a
    /// schedule that runs blocks.
    pub fn check(&self) -> Result<(), EvalRunError> {
        at_least_one_if_given("--limit", self.limit, "documents per task")?;
        at_least_one(
            "--batch-size",
            self.batch.batch_size,
            "rows per forward pass",
        )?;
        at_least_one_if_given("--max-length", self.max_length, "tokens of the window")?;
        self.schedule.check()?;
        Ok(())
    }

    /// Every file the run will write can be written: `out`, the sample logs, the checkpoints'
    /// folder (checked before the model loads, so that a run never fails after the work).
    fn check_outputs(&self, task_list: &[Box<dyn Task>]) -> Result<(), EvalRunError> {
        check_writable(&self.out).map_err(EvalRunError::Output)?;
        if self.log_samples {
            for task in task_list {
                check_writable(&samples_path(&self.out, task.info().name))
                    .map_err(EvalRunError::Output)?;
            }
        }
        check_folder_writable(&checkpoint_dir(&self.out)).map_err(EvalRunError::Output)
    }

    /// Every task of the run, or the first unknown name.
    fn task_list(&self) -> Result<Vec<Box<dyn Task>>, EvalRunError> {
        self.tasks
            .iter()
            .map(|name| {
                tasks::by_name(name.trim()).ok_or_else(|| EvalRunError::UnknownTask(name.clone()))
            })
            .collect()
    }

    /// Evaluate `task_list` on `lm` with checkpoints keyed by `fingerprint` (everything the results
    /// depend on besides the task): a finished task's result is kept as
    /// `.<out name>.tasks/<task>.json`, the documents of the task under way in
    /// `.<out name>.tasks/<task>.docs.jsonl`. The model-independent part of [`Self::execute_with`],
    /// for any [`LanguageModel`].
    pub fn evaluate(
        &self,
        lm: &dyn LanguageModel,
        task_list: &[Box<dyn Task>],
        fingerprint: &Value,
        on_event: &mut dyn FnMut(&EvalEvent) -> ControlFlow<()>,
    ) -> Result<Vec<TaskResult>, EvalRunError> {
        let opts = EvalOptions {
            limit: self.limit,
            batch: self.batch,
            log_samples: self.log_samples,
            progress: self.progress,
        };
        let checkpoints = checkpoint_dir(&self.out);
        let mut results = Vec::new();
        for task in task_list {
            let info = task.info();
            let name = info.name;
            let loaded = task
                .load(&self.data_dir, self.limit)
                .map_err(EvalError::from)?;
            let data = loaded.digest(&info);
            // Everything a task's result depends on: the run's fingerprint, the task's version
            // and its documents as read.
            let key =
                json!({"run": fingerprint, "task": name, "version": info.version, "data": data});
            let checkpoint = checkpoints.join(format!("{name}.json"));
            let samples_done = !self.log_samples || samples_path(&self.out, name).is_file();
            if let Some(r) =
                resume(&checkpoint, &key, task.as_ref(), &data).filter(|_| samples_done)
            {
                let _ = on_event(&EvalEvent::Resumed {
                    task: name,
                    checkpoint: &checkpoint,
                });
                results.push(r);
                continue;
            }
            std::fs::create_dir_all(&checkpoints)
                .map_err(|source| IoError::new(&checkpoints, source))?;
            let mut journal =
                DocJournal::open(&checkpoints.join(format!("{name}.docs.jsonl")), &key)?;
            if !journal.is_empty() {
                let _ = on_event(&EvalEvent::OnRecord {
                    task: name,
                    docs: journal.len(),
                    journal: journal.path(),
                });
            }
            let r = evaluate_loaded(
                lm,
                task.as_ref(),
                &loaded,
                &opts,
                Some(&mut journal),
                &mut |doc_id| on_event(&EvalEvent::Document { task: name, doc_id }),
            )?;
            if let Some(error) = journal.write_error() {
                let _ = on_event(&EvalEvent::JournalFailed {
                    journal: journal.path(),
                    error,
                });
            }
            let _ = on_event(&EvalEvent::TaskDone { result: &r });
            if self.log_samples {
                let path = samples_path(&self.out, r.info.name);
                write_atomic(&path, samples_jsonl(&r.samples).as_bytes())?;
            }
            let mut saved = results_json(std::slice::from_ref(&r), Map::new());
            saved["checkpoint_key"] = key;
            write_atomic(&checkpoint, saved.to_string().as_bytes())?;
            results.push(r);
        }
        Ok(results)
    }
}

/// `<out stem>_samples_<task>.jsonl` beside `out`: a task's per-document records.
pub fn samples_path(out: &Path, task: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "results".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}_samples_{task}.jsonl"))
}

/// Where finished tasks of a run writing `out` are kept until `out` is written: `.<name>.tasks/`.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.tasks"))
}

/// A finished task's result from an earlier run of the same command, if it is whole and was made
/// under the same `key` (model file, weights, schedule, settings, scoring code, documents).
fn resume(path: &Path, key: &Value, task: &dyn Task, data: &str) -> Option<TaskResult> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    if v.get("checkpoint_key") != Some(key) {
        return None;
    }
    let mut r = TaskResult::from_results_json(task, &v)?;
    r.data_sha256 = data.to_string();
    Some(r)
}
