//! Running tasks on a model and writing lm-eval-shaped results.
//!
//! The results file has the keys of lm-eval's `results.json` (`results` with `"metric,filter"` keys,
//! `configs`, `versions`, `n-shot`, `higher_is_better`, `n-samples`) so that existing tooling and
//! side-by-side comparisons with published numbers read it unchanged; the caller adds what lm-eval
//! cannot know (the layer schedule, the plan figures, the model file's hash).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};

use crate::batching::{BatchOptions, run_requests};
use crate::journal::{DocJournal, JournalError};
use crate::lm::{LanguageModel, LmError};
use crate::requests::Response;
use crate::score::{Item, aggregate};
use crate::tasks::{DataError, Doc, Gold, Outcome, Task, TaskInfo};

/// Options of an evaluation run.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// Evaluate only the first `limit` documents of each task.
    pub limit: Option<usize>,
    pub batch: BatchOptions,
    /// Keep per-document records for `--log-samples`.
    pub log_samples: bool,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{task}: {}:{line} (doc_id {doc}): {source}", path.display())]
    Request {
        task: String,
        path: PathBuf,
        line: usize,
        doc: usize,
        #[source]
        source: Box<LmError>,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One aggregated metric under one filter.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricResult {
    pub filter: &'static str,
    pub metric: &'static str,
    pub value: f64,
    pub stderr: Option<f64>,
}

/// The outcome of one task.
#[derive(Clone, Debug)]
pub struct TaskResult {
    pub info: TaskInfo,
    pub data_path: PathBuf,
    pub n_original: usize,
    pub n_effective: usize,
    pub metrics: Vec<MetricResult>,
    /// Time spent on the task; with a [`DocJournal`], including the earlier runs' time up to their
    /// last recorded document.
    pub seconds: f64,
    /// Documents whose responses came from a [`DocJournal`] instead of the model.
    pub resumed_docs: usize,
    /// Per-document records (only with `log_samples`).
    pub samples: Vec<Value>,
}

impl TaskResult {
    /// Rebuild a task's result from the lm-eval-shaped JSON that [`results_json`] wrote for it
    /// (its per-document samples are not in that JSON and come back empty). `None` when the JSON
    /// does not hold exactly the metrics `task` reports: a checkpoint from another task version is
    /// recomputed, never trusted.
    pub fn from_results_json(task: &dyn Task, v: &Value) -> Option<TaskResult> {
        let info = task.info();
        let name = info.name;
        let results = v.get("results")?.get(name)?.as_object()?;
        let mut metrics = Vec::new();
        for &filter in &info.filters {
            for spec in &info.metrics {
                let Some(value) = results.get(&format!("{},{filter}", spec.name)) else {
                    continue;
                };
                let stderr = results
                    .get(&format!("{}_stderr,{filter}", spec.name))
                    .and_then(Value::as_f64);
                metrics.push(MetricResult {
                    filter,
                    metric: spec.name,
                    value: value.as_f64()?,
                    stderr,
                });
            }
        }
        // Every metric key (but the alias) must have been matched.
        if metrics.len() * 2 + 1 != results.len() || metrics.is_empty() {
            return None;
        }
        if v.get("versions")?.get(name)?.as_f64()? != info.version {
            return None;
        }
        let n = v.get("n-samples")?.get(name)?;
        Some(TaskResult {
            data_path: PathBuf::from(v.get("configs")?.get(name)?.get("dataset_path")?.as_str()?),
            n_original: usize::try_from(n.get("original")?.as_u64()?).ok()?,
            n_effective: usize::try_from(n.get("effective")?.as_u64()?).ok()?,
            seconds: v.get("task_seconds")?.get(name)?.as_f64()?,
            metrics,
            resumed_docs: 0,
            samples: Vec::new(),
            info,
        })
    }

    /// The value of `metric` under `filter`.
    pub fn get(&self, metric: &str, filter: &str) -> Option<&MetricResult> {
        self.metrics
            .iter()
            .find(|m| m.metric == metric && m.filter == filter)
    }
}

fn progress_bar(name: &str, len: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>15} [{elapsed_precise}] {wide_bar} {pos}/{len} docs, {per_sec}, ETA {eta}",
    ) {
        pb.set_style(style);
    }
    pb.set_prefix(name.to_string());
    pb
}

fn gold_json(g: &Gold) -> Value {
    match g {
        Gold::Choice { index, .. } => json!(index),
        Gold::Continuation => Value::Null,
        Gold::Answer(a) => json!(a),
        Gold::Counts { words, bytes } => json!({"words": words, "bytes": bytes}),
    }
}

fn sample_record(doc: &Doc, responses: &[Response], outcome: &Outcome) -> Value {
    let mut rec = json!({
        "doc_id": doc.id,
        "doc": doc.fields,
        "target": gold_json(&doc.gold),
        "arguments": doc.requests,
        "resps": responses,
        "filtered_resps": outcome.filtered,
    });
    for (filter, metric, item) in &outcome.metrics {
        let key = if *filter == "none" {
            metric.to_string()
        } else {
            format!("{metric},{filter}")
        };
        rec[key] = json!(item.value);
    }
    rec
}

/// Run one task.
pub fn evaluate_task(
    lm: &dyn LanguageModel,
    task: &dyn Task,
    data_dir: &Path,
    opts: &EvalOptions,
) -> Result<TaskResult, EvalError> {
    evaluate_task_resuming(lm, task, data_dir, opts, None)
}

/// Run one task, asking the model only about the documents `journal` does not hold yet and
/// recording each newly answered document in it as soon as it is done. Scoring always covers every
/// document, so the result is that of an uninterrupted run.
pub fn evaluate_task_resuming(
    lm: &dyn LanguageModel,
    task: &dyn Task,
    data_dir: &Path,
    opts: &EvalOptions,
    mut journal: Option<&mut DocJournal>,
) -> Result<TaskResult, EvalError> {
    let info = task.info();
    let loaded = task.load(data_dir, opts.limit)?;
    let start = Instant::now();
    let mut answered: Vec<Option<Vec<Response>>> = match journal.as_deref() {
        Some(j) => loaded
            .docs
            .iter()
            .map(|d| j.responses(d))
            .collect::<Result<_, _>>()?,
        None => vec![None; loaded.docs.len()],
    };
    let todo: Vec<usize> = (0..answered.len())
        .filter(|&i| answered[i].is_none())
        .collect();
    let resumed_docs = answered.len() - todo.len();
    let prior_seconds = journal.as_deref().map_or(0.0, DocJournal::prior_seconds);
    let pb = progress_bar(info.name, loaded.docs.len(), opts.progress);
    pb.inc(resumed_docs as u64);
    let reqs: Vec<&[_]> = todo
        .iter()
        .map(|&i| loaded.docs[i].requests.as_slice())
        .collect();
    let fresh = run_requests(lm, &reqs, opts.batch, &mut |k, r| {
        pb.inc(1);
        if let Some(j) = journal.as_deref_mut() {
            j.record(loaded.docs[todo[k]].id, r);
        }
    })
    .map_err(|f| {
        let doc = todo.get(f.doc).and_then(|&i| loaded.docs.get(i));
        EvalError::Request {
            task: info.name.to_string(),
            path: loaded.path.clone(),
            line: doc.map_or(0, |d| d.line),
            doc: doc.map_or(f.doc, |d| d.id),
            source: Box::new(f.source),
        }
    })?;
    pb.finish_and_clear();
    for (&i, r) in todo.iter().zip(fresh) {
        answered[i] = Some(r);
    }
    let responses: Vec<Vec<Response>> = answered
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let outcomes: Vec<Outcome> = loaded
        .docs
        .iter()
        .zip(&responses)
        .map(|(d, r)| task.process(d, r))
        .collect();
    let mut metrics = Vec::new();
    for &filter in &info.filters {
        for spec in &info.metrics {
            let items: Vec<Item> = outcomes
                .iter()
                .flat_map(|o| &o.metrics)
                .filter(|(f, m, _)| *f == filter && *m == spec.name)
                .map(|(_, _, i)| *i)
                .collect();
            if items.is_empty() {
                continue;
            }
            let a = aggregate(spec.aggregation, &items);
            metrics.push(MetricResult {
                filter,
                metric: spec.name,
                value: a.value,
                stderr: a.stderr,
            });
        }
    }
    let samples = if opts.log_samples {
        loaded
            .docs
            .iter()
            .zip(&responses)
            .zip(&outcomes)
            .map(|((d, r), o)| sample_record(d, r, o))
            .collect()
    } else {
        Vec::new()
    };
    Ok(TaskResult {
        info,
        data_path: loaded.path,
        n_original: loaded.total,
        n_effective: loaded.docs.len(),
        metrics,
        seconds: prior_seconds + start.elapsed().as_secs_f64(),
        resumed_docs,
        samples,
    })
}

/// The lm-eval-shaped results object; `extra` keys (model, schedule, plan …) are added at the top.
pub fn results_json(results: &[TaskResult], extra: Map<String, Value>) -> Value {
    let mut out = Map::new();
    let mut section = |key: &str, f: &dyn Fn(&TaskResult) -> Value| {
        let m: Map<String, Value> = results
            .iter()
            .map(|r| (r.info.name.to_string(), f(r)))
            .collect();
        out.insert(key.to_string(), Value::Object(m));
    };
    section("results", &|r| {
        let mut m = Map::new();
        m.insert("alias".into(), json!(r.info.name));
        for x in &r.metrics {
            m.insert(format!("{},{}", x.metric, x.filter), json!(x.value));
            let se = x.stderr.map_or(json!("N/A"), |s| json!(s));
            m.insert(format!("{}_stderr,{}", x.metric, x.filter), se);
        }
        Value::Object(m)
    });
    section("group_subtasks", &|_| json!([]));
    section("configs", &|r| {
        let i = &r.info;
        let mut c = json!({
            "task": i.name,
            "dataset_path": r.data_path,
            "output_type": i.output_type,
            "num_fewshot": i.num_fewshot,
            "metric_list": i.metrics.iter().map(|m| json!({
                "metric": m.name,
                "aggregation": m.aggregation.name(),
                "higher_is_better": m.higher_is_better,
            })).collect::<Vec<_>>(),
            "metadata": {"version": i.version},
        });
        if let (Some(c), Some(extra)) = (c.as_object_mut(), i.config.as_object()) {
            c.extend(extra.clone());
        }
        c
    });
    section("versions", &|r| json!(r.info.version));
    section("n-shot", &|r| json!(r.info.num_fewshot));
    section("higher_is_better", &|r| {
        Value::Object(
            r.info
                .metrics
                .iter()
                .map(|m| (m.name.to_string(), json!(m.higher_is_better)))
                .collect(),
        )
    });
    section(
        "n-samples",
        &|r| json!({"original": r.n_original, "effective": r.n_effective}),
    );
    section("task_seconds", &|r| json!(r.seconds));
    for (k, v) in extra {
        out.insert(k, v);
    }
    Value::Object(out)
}

/// A markdown table of the results, as lm-eval prints one.
pub fn summary_table(results: &[TaskResult]) -> String {
    let mut s = String::from(
        "|Tasks|Version|Filter|n-shot|Metric|Value|Stderr|\n|---|---|---|---|---|---:|---:|\n",
    );
    for r in results {
        for m in &r.metrics {
            let se = m.stderr.map_or("N/A".to_string(), |x| format!("{x:.4}"));
            s.push_str(&format!(
                "|{}|{}|{}|{}|{}|{:.4}|{}|\n",
                r.info.name, r.info.version, m.filter, r.info.num_fewshot, m.metric, m.value, se
            ));
        }
    }
    s
}

/// Write `bytes` to `path` via a temporary file in the same folder, fsync, rename, and fsync of the
/// folder, so that readers never see half a file, a failed or killed run never clobbers an earlier
/// result, and a result reported as written survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    write_file_atomic(path, bytes).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// [`write_atomic`] with the plain I/O error.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes).and_then(|()| f.sync_all())?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    // The rename is durable once the folder's entry is on disk. Folders cannot be opened for
    // syncing on every platform; where they cannot, the rename is as durable as the OS makes it.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        d.sync_all().or_else(ignore_unsupported)?;
    }
    Ok(())
}

/// Fail now, not after hours of work, when `path` could not be written: its folder must exist and
/// accept a new file. Leaves nothing behind.
pub fn check_writable(path: &Path) -> Result<(), EvalError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".painters-probe.{}.tmp", std::process::id()));
    std::fs::File::create(&probe).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Syncing a folder handle fails with "invalid input"/"unsupported" on some file systems; that is
/// not a failed write.
fn ignore_unsupported(e: std::io::Error) -> std::io::Result<()> {
    match e.kind() {
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported => Ok(()),
        _ => Err(e),
    }
}

/// Per-document records as JSONL.
pub fn samples_jsonl(samples: &[Value]) -> String {
    samples.iter().map(|v| format!("{v}\n")).collect()
}
