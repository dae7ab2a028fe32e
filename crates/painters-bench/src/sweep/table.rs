//! The combined outputs of a sweep folder: `results.json` and `results.csv`.
//!
//! `results.csv` has one row per schedule point × task × metric:
//! `label,variant,n,m,seed,loops,task,metric,filter,value,stderr,schedule,file` (empty cells for
//! absent values; `stderr` is empty where lm-eval writes `N/A`). A GLUE sweep adds one row per
//! schedule point with task `glue_average`, metric `average`, filter `none` and an empty `file`:
//! the point's GLUE average (empty when a task is missing).
//!
//! `results.json` (`format` = `painters-sweep/1`) has
//! * `model_sha256`, `layers`, `limit`, `tasks`;
//! * `points`: per schedule point its description (`label`, `variant`, `n`, `m`, `seed`, `loops`,
//!   `schedule`), `results` (task → `"metric,filter"` → `{value, stderr}`) and `files` (task → result
//!   file, relative to the folder);
//! * `normalized` (Fig. 11, lm-eval results): `config` (task → metric and floor), `full` (the full
//!   model's scores), and per point `scores` (task → normalized score) and `median`;
//! * `glue_average` (GLUE results, in place of `normalized`): `metrics` (task → its main metric),
//!   `tasks`, `full` (the full model's average), and per point `scores` (task → main metric) and
//!   `average` ([`glue_average`]: the plain mean over the tasks, `null` when one is missing); and
//!   `finetune`, the fine-tuning settings of the results ([`ResultKey::finetune`](super::ResultKey::finetune));
//! * `random` (Fig. 7): per N the seeds' `tasks` (task → metric → mean, std, min, max, n),
//!   `normalized_median` (spread of the per-seed medians) and `normalized_median_of_mean` (the
//!   median of the normalized seed-mean scores);
//! * whatever the caller adds (`sweep`, `reuse` from `painters sweep`; `merge` from `painters merge`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::SweepError;
use super::store::{PointMeta, Record};
use super::summary::{
    NormConfig, glue_average, glue_main_metric, normalized_median, normalized_scores, spread,
};
use crate::io::write_atomic;

/// One schedule point's result on one task.
#[derive(Clone, Debug)]
pub struct Entry {
    pub point: PointMeta,
    pub record: Record,
}

/// The order of results files and reports: the full model first, then by variant, N, loops, seed,
/// label, and task.
pub fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by_key(|e| {
        let p = &e.point;
        (
            p.variant != "full",
            p.variant.clone(),
            p.n,
            p.loops,
            p.seed,
            p.label.clone(),
            e.record.key.task.clone(),
        )
    });
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |x| x.to_string())
}

/// Per point label, the GLUE main metric of every GLUE result ([`Entry`]s whose key has fine-tuning
/// settings), and the GLUE tasks in first-seen order.
pub fn glue_scores(entries: &[Entry]) -> (BTreeMap<String, BTreeMap<String, f64>>, Vec<String>) {
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut tasks: Vec<String> = Vec::new();
    for e in entries {
        let task = &e.record.key.task;
        if e.record.key.finetune.is_none() {
            continue;
        }
        let Some(metric) = glue_main_metric(task) else {
            continue;
        };
        if !tasks.contains(task) {
            tasks.push(task.clone());
        }
        if let Some(m) = e.record.metric(&metric) {
            out.entry(e.point.label.clone())
                .or_default()
                .insert(task.clone(), m.value);
        }
    }
    (out, tasks)
}

/// `results.csv`, rows in `entries` order, metrics in file order, then the GLUE averages.
pub fn combined_csv(entries: &[Entry]) -> String {
    let mut s = String::from(
        "label,variant,n,m,seed,loops,task,metric,filter,value,stderr,schedule,file\n",
    );
    for e in entries {
        let p = &e.point;
        for m in &e.record.metrics {
            let cells = [
                csv_cell(&p.label),
                csv_cell(&p.variant),
                opt(p.n),
                opt(p.m),
                opt(p.seed),
                opt(p.loops),
                csv_cell(&e.record.key.task),
                csv_cell(&m.metric),
                csv_cell(&m.filter),
                m.value.to_string(),
                opt(m.stderr),
                csv_cell(&e.record.key.schedule),
                format!("results/{}", e.record.key.file_name()),
            ];
            s.push_str(&cells.join(","));
            s.push('\n');
        }
    }
    let (scores, tasks) = glue_scores(entries);
    let mut done = BTreeSet::new();
    for e in entries {
        let p = &e.point;
        if e.record.key.finetune.is_none() || !done.insert(p.label.as_str()) {
            continue;
        }
        let avg = scores.get(&p.label).and_then(|s| glue_average(s, &tasks));
        let cells = [
            csv_cell(&p.label),
            csv_cell(&p.variant),
            opt(p.n),
            opt(p.m),
            opt(p.seed),
            opt(p.loops),
            "glue_average".into(),
            "average".into(),
            "none".into(),
            opt(avg),
            String::new(),
            csv_cell(&e.record.key.schedule),
            String::new(),
        ];
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

fn meta_json(p: &PointMeta) -> Map<String, Value> {
    match json!(p) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The score of every entry under its task's normalization metric, by point label then task.
fn norm_scores(entries: &[Entry], norm: &NormConfig) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for e in entries {
        let task = &e.record.key.task;
        let Some(n) = norm.tasks.get(task) else {
            continue;
        };
        if let Some(m) = e.record.metric(&n.metric) {
            out.entry(e.point.label.clone())
                .or_default()
                .insert(task.clone(), m.value);
        }
    }
    out
}

/// `results.json` (see the module docs); `extra` keys are added at the top level.
pub fn combined_json(entries: &[Entry], norm: &NormConfig, extra: Map<String, Value>) -> Value {
    let tasks: BTreeSet<&str> = entries.iter().map(|e| e.record.key.task.as_str()).collect();
    let models: BTreeSet<&str> = entries
        .iter()
        .map(|e| e.record.key.model_sha256.as_str())
        .collect();
    let limits: BTreeSet<Option<usize>> = entries.iter().map(|e| e.record.key.limit).collect();
    let layers: BTreeSet<usize> = entries.iter().map(|e| e.record.layers).collect();
    let one = |v: Vec<Value>| {
        if v.len() == 1 {
            v.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(v)
        }
    };

    // Points in first-seen order, with their results per task.
    let mut order: Vec<&PointMeta> = Vec::new();
    let mut by_label: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for e in entries {
        let p = &e.point;
        let obj = by_label.entry(&p.label).or_insert_with(|| {
            order.push(p);
            let mut m = meta_json(p);
            m.insert("schedule".into(), json!(e.record.key.schedule));
            m.insert("results".into(), json!({}));
            m.insert("files".into(), json!({}));
            m
        });
        let task = &e.record.key.task;
        let metrics: Map<String, Value> = e
            .record
            .metrics
            .iter()
            .map(|m| (m.key(), json!({"value": m.value, "stderr": m.stderr})))
            .collect();
        obj["results"][task] = Value::Object(metrics);
        obj["files"][task] = json!(format!("results/{}", e.record.key.file_name()));
    }
    let points: Vec<Value> = order
        .iter()
        .filter_map(|p| by_label.remove(p.label.as_str()).map(Value::Object))
        .collect();

    // Fig. 11: normalized scores and their median.
    let scores = norm_scores(entries, norm);
    let full = scores.get("full").cloned().unwrap_or_default();
    let normalized: Vec<Value> = order
        .iter()
        .filter_map(|p| {
            let s = scores.get(&p.label)?;
            let mut m = meta_json(p);
            m.insert("scores".into(), json!(normalized_scores(s, &full, norm)));
            m.insert("median".into(), json!(normalized_median(s, &full, norm)));
            Some(Value::Object(m))
        })
        .collect();

    // Fig. 7: the random variant's seeds per N.
    let mut random: BTreeMap<usize, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        if e.point.variant == "random"
            && let Some(n) = e.point.n
        {
            random.entry(n).or_default().push(e);
        }
    }
    let random: Vec<Value> = random
        .into_iter()
        .map(|(n, es)| {
            let seeds: BTreeSet<i64> = es.iter().filter_map(|e| e.point.seed).collect();
            let mut per_task: BTreeMap<&str, BTreeMap<String, Vec<f64>>> = BTreeMap::new();
            for e in &es {
                for m in &e.record.metrics {
                    per_task
                        .entry(e.record.key.task.as_str())
                        .or_default()
                        .entry(m.key())
                        .or_default()
                        .push(m.value);
                }
            }
            let tasks_json: Map<String, Value> = per_task
                .iter()
                .map(|(t, ms)| {
                    let ms: Map<String, Value> = ms
                        .iter()
                        .map(|(k, v)| (k.clone(), spread_json(v)))
                        .collect();
                    (t.to_string(), Value::Object(ms))
                })
                .collect();
            let labels: BTreeSet<&str> = es.iter().map(|e| e.point.label.as_str()).collect();
            let medians: Vec<f64> = labels
                .iter()
                .filter_map(|l| normalized_median(scores.get(*l)?, &full, norm))
                .collect();
            let mut mean_scores = BTreeMap::new();
            for task in norm.tasks.keys() {
                let v: Vec<f64> = labels
                    .iter()
                    .filter_map(|l| scores.get(*l)?.get(task).copied())
                    .collect();
                if let Some(s) = spread(&v) {
                    mean_scores.insert(task.clone(), s.mean);
                }
            }
            json!({
                "n": n,
                "m": es.first().and_then(|e| e.point.m),
                "seeds": seeds.len(),
                "tasks": tasks_json,
                "normalized_median": spread_json(&medians),
                "normalized_median_of_mean": normalized_median(&mean_scores, &full, norm),
            })
        })
        .collect();

    // The BERT figure: the GLUE average of the main metrics.
    let (glue, glue_tasks) = glue_scores(entries);
    let glue_json = (!glue_tasks.is_empty()).then(|| {
        let metrics: Map<String, Value> = glue_tasks
            .iter()
            .map(|t| (t.clone(), json!(glue_main_metric(t))))
            .collect();
        let points: Vec<Value> = order
            .iter()
            .filter_map(|p| {
                let s = glue.get(&p.label)?;
                let mut m = meta_json(p);
                m.insert("scores".into(), json!(s));
                m.insert("average".into(), json!(glue_average(s, &glue_tasks)));
                Some(Value::Object(m))
            })
            .collect();
        let full = glue.get("full").and_then(|s| glue_average(s, &glue_tasks));
        json!({"metrics": metrics, "tasks": glue_tasks, "full": full, "points": points})
    });
    let finetune: BTreeSet<&str> = entries
        .iter()
        .filter_map(|e| e.record.key.finetune.as_deref())
        .collect();
    let lm_results = entries.iter().any(|e| e.record.key.finetune.is_none());

    let config: Map<String, Value> = norm
        .tasks
        .iter()
        .map(|(t, n)| (t.clone(), json!({"metric": n.metric, "floor": n.floor})))
        .collect();
    let mut out = Map::new();
    out.insert("format".into(), json!("painters-sweep/1"));
    out.insert(
        "model_sha256".into(),
        one(models.iter().map(|m| json!(m)).collect()),
    );
    out.insert(
        "layers".into(),
        one(layers.iter().map(|l| json!(l)).collect()),
    );
    out.insert(
        "limit".into(),
        one(limits.iter().map(|l| json!(l)).collect()),
    );
    out.insert("tasks".into(), json!(tasks));
    out.insert("points".into(), Value::Array(points));
    if lm_results || glue_json.is_none() {
        out.insert(
            "normalized".into(),
            json!({"config": config, "full": full, "points": normalized}),
        );
    }
    if let Some(g) = glue_json {
        out.insert("glue_average".into(), g);
        out.insert(
            "finetune".into(),
            one(finetune.iter().map(|f| json!(f)).collect()),
        );
    }
    out.insert("random".into(), Value::Array(random));
    for (k, v) in extra {
        out.insert(k, v);
    }
    Value::Object(out)
}

fn spread_json(v: &[f64]) -> Value {
    match spread(v) {
        Some(s) => json!({"mean": s.mean, "std": s.std, "min": s.min, "max": s.max, "n": s.n}),
        None => Value::Null,
    }
}

/// Write `results.json` and `results.csv` into `out` (atomically).
pub fn write_combined(
    out: &Path,
    entries: &[Entry],
    norm: &NormConfig,
    extra: Map<String, Value>,
) -> Result<(), SweepError> {
    let json = combined_json(entries, norm, extra);
    let path = out.join("results.json");
    let text = serde_json::to_string_pretty(&json).map_err(|e| SweepError::Io {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(&path, text.as_bytes())?;
    write_atomic(&out.join("results.csv"), combined_csv(entries).as_bytes())?;
    Ok(())
}
