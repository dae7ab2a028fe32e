//! Task results and the lm-eval-shaped results JSON.
//!
//! The results file has the keys of lm-eval's `results.json` (`results` with `"metric,filter"` keys,
//! `configs`, `versions`, `n-shot`, `higher_is_better`, `n-samples`) so that existing tooling and
//! side-by-side comparisons with published numbers read it unchanged; the caller adds what lm-eval
//! cannot know (the layer schedule, the plan figures, the model file's hash).

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::tasks::{Task, TaskInfo};

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
    /// Time spent on the task; with a [`DocJournal`](crate::io::DocJournal), including the earlier runs' time up to their
    /// last recorded document.
    pub seconds: f64,
    /// Documents whose responses came from a [`DocJournal`](crate::io::DocJournal) instead of the model.
    pub resumed_docs: usize,
    /// Per-document records (only with `log_samples`).
    pub samples: Vec<Value>,
    /// The sha256 of the documents as read ([`Loaded::digest`](crate::tasks::Loaded::digest));
    /// empty in a result read back from results JSON.
    pub data_sha256: String,
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
            data_sha256: String::new(),
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

/// Per-document records as JSONL.
pub fn samples_jsonl(samples: &[Value]) -> String {
    samples.iter().map(|v| format!("{v}\n")).collect()
}
