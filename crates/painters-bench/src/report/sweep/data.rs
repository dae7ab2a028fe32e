//! The results indexed for drawing: one score per point and task, the full model's, the
//! normalization, and the cells (value, band, spread) a line or a table shows per M.

use std::collections::{BTreeMap, BTreeSet};

use crate::report::sweep::meta::SweepReportMeta;
use crate::sweep::store::MetricValue;
use crate::sweep::summary::{glue_average, glue_main_metric, normalized_median, spread};
use crate::sweep::{Entry, NormConfig, PointMeta, Record};

/// Middle variants in the paper's figure order: (variant, figure number, display name).
pub(super) const MIDDLE: [(&str, u32, &str); 6] = [
    ("skip", 4, "Skip"),
    ("middle_repeat", 5, "Middle Repeat"),
    ("reverse", 6, "Reversed"),
    ("random", 7, "Random"),
    ("parallel", 8, "Parallel"),
    ("looped_parallel", 9, "Looped Parallel"),
];

pub(super) const FULL: &str = "full model";

/// One task's score of one point.
#[derive(Clone, Debug)]
pub(super) struct Score {
    pub(super) value: f64,
    pub(super) stderr: Option<f64>,
}

/// The results indexed for drawing.
pub(super) struct Data {
    pub(super) tasks: Vec<String>,
    /// Per task the metric drawn.
    pub(super) metric: BTreeMap<String, String>,
    /// label → (point, task → score).
    pub(super) points: BTreeMap<String, (PointMeta, BTreeMap<String, Score>)>,
    /// The full model's scores.
    pub(super) full: BTreeMap<String, Score>,
    pub(super) norm: NormConfig,
    /// Tasks left out of the normalization: (task, full model's score, floor).
    pub(super) excluded: Vec<(String, Option<f64>, f64)>,
    pub(super) model_sha256: String,
    pub(super) layers: BTreeSet<usize>,
    pub(super) limit: BTreeSet<Option<usize>>,
    pub(super) results: usize,
    /// The GLUE tasks (results fine-tuned under the schedule), in task order; empty for lm-eval.
    pub(super) glue_tasks: Vec<String>,
    /// The fine-tuning settings of the GLUE results.
    pub(super) finetune: BTreeSet<String>,
}

pub(super) fn primary_metric(record: &Record, norm: &NormConfig) -> Option<String> {
    if record.key.finetune.is_some()
        && let Some(m) = glue_main_metric(&record.key.task)
        && record.metric(&m).is_some()
    {
        return Some(m);
    }
    if let Some(n) = norm.tasks.get(&record.key.task)
        && record.metric(&n.metric).is_some()
    {
        return Some(n.metric.clone());
    }
    for m in ["acc_norm", "acc", "exact_match", "word_perplexity"] {
        if let Some(v) = record.metrics.iter().find(|v| v.metric == m) {
            return Some(v.key());
        }
    }
    record.metrics.first().map(MetricValue::key)
}

/// Task order: lm-eval names in `tasks::NAMES` order, then the others alphabetically.
pub(super) fn task_order(tasks: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = tasks.iter().cloned().collect();
    v.sort_by_key(|t| {
        (
            crate::tasks::NAMES
                .iter()
                .position(|n| n == t)
                .unwrap_or(usize::MAX),
            t.clone(),
        )
    });
    v
}

impl Data {
    pub(super) fn new(entries: &[Entry], norm: &NormConfig) -> Self {
        let tasks: BTreeSet<String> = entries.iter().map(|e| e.record.key.task.clone()).collect();
        let mut metric = BTreeMap::new();
        for e in entries {
            if !metric.contains_key(&e.record.key.task)
                && let Some(m) = primary_metric(&e.record, norm)
            {
                metric.insert(e.record.key.task.clone(), m);
            }
        }
        let mut points: BTreeMap<String, (PointMeta, BTreeMap<String, Score>)> = BTreeMap::new();
        let mut hashes = BTreeSet::new();
        for e in entries {
            hashes.insert(e.record.key.hash());
            let slot = points
                .entry(e.point.label.clone())
                .or_insert_with(|| (e.point.clone(), BTreeMap::new()));
            let task = &e.record.key.task;
            if let Some(m) = metric.get(task).and_then(|k| e.record.metric(k)) {
                slot.1.insert(
                    task.clone(),
                    Score {
                        value: m.value,
                        stderr: m.stderr,
                    },
                );
            }
        }
        let full = points
            .values()
            .find(|(p, _)| p.variant == "full")
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let present: BTreeSet<&String> = tasks.iter().collect();
        let mut norm = NormConfig {
            tasks: norm
                .tasks
                .iter()
                .filter(|(t, n)| present.contains(t) && metric.get(*t) == Some(&n.metric))
                .map(|(t, n)| (t.clone(), n.clone()))
                .collect(),
        };
        // A task whose full model does not beat guessing has nothing to scale by (and a negative
        // span would flip its normalized scores): it stays out of the median.
        let mut excluded = Vec::new();
        norm.tasks.retain(|t, n| match full.get(t) {
            Some(f) if f.value > n.floor => true,
            other => {
                excluded.push((t.clone(), other.map(|f| f.value), n.floor));
                false
            }
        });
        let glue: BTreeSet<String> = entries
            .iter()
            .filter(|e| {
                e.record.key.finetune.is_some() && glue_main_metric(&e.record.key.task).is_some()
            })
            .map(|e| e.record.key.task.clone())
            .collect();
        Data {
            glue_tasks: task_order(&glue),
            finetune: entries
                .iter()
                .filter_map(|e| e.record.key.finetune.clone())
                .collect(),
            tasks: task_order(&tasks),
            metric,
            points,
            full,
            norm,
            excluded,
            model_sha256: entries
                .first()
                .map(|e| e.record.key.model_sha256.clone())
                .unwrap_or_default(),
            layers: entries.iter().map(|e| e.record.layers).collect(),
            limit: entries.iter().map(|e| e.record.key.limit).collect(),
            results: hashes.len(),
        }
    }

    pub(super) fn of_variant(&self, variant: &str) -> Vec<&(PointMeta, BTreeMap<String, Score>)> {
        self.points
            .values()
            .filter(|(p, _)| p.variant == variant)
            .collect()
    }

    pub(super) fn values(scores: &BTreeMap<String, Score>) -> BTreeMap<String, f64> {
        scores.iter().map(|(t, s)| (t.clone(), s.value)).collect()
    }

    pub(super) fn full_values(&self) -> BTreeMap<String, f64> {
        Self::values(&self.full)
    }

    /// Whether the summary is the GLUE average (GLUE results) rather than the normalized median.
    pub(super) fn is_glue(&self) -> bool {
        !self.glue_tasks.is_empty()
    }

    /// The summary of one point over tasks: the GLUE average of a GLUE sweep, else the paper's
    /// normalized median.
    pub(super) fn summary_of(&self, scores: &BTreeMap<String, Score>) -> Option<f64> {
        if self.is_glue() {
            glue_average(&Self::values(scores), &self.glue_tasks)
        } else {
            normalized_median(&Self::values(scores), &self.full_values(), &self.norm)
        }
    }

    /// What [`Self::summary_of`] is called in tables and figure names.
    pub(super) fn summary_name(&self) -> &'static str {
        if self.is_glue() {
            "GLUE average"
        } else {
            "normalized median"
        }
    }

    /// The file-name form of [`Self::summary_name`].
    pub(super) fn summary_stem(&self) -> &'static str {
        if self.is_glue() {
            "glue_average"
        } else {
            "normalized_median"
        }
    }

    /// The loop count drawn as "Looped Parallel": 3 (the paper's 3X) when present, else the most
    /// frequent one (ties: the smallest).
    pub(super) fn looped_k(&self) -> Option<usize> {
        let mut count: BTreeMap<usize, usize> = BTreeMap::new();
        for (p, _) in self.of_variant("looped_parallel") {
            if let Some(k) = p.loops {
                *count.entry(k).or_default() += 1;
            }
        }
        if count.contains_key(&3) {
            return Some(3);
        }
        count
            .iter()
            .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
            .map(|(k, _)| *k)
    }

    /// The points of a middle variant as drawn (looped parallel: only the chosen K).
    pub(super) fn middle_points(
        &self,
        variant: &str,
    ) -> Vec<&(PointMeta, BTreeMap<String, Score>)> {
        let k = self.looped_k();
        self.of_variant(variant)
            .into_iter()
            .filter(|(p, _)| p.m.is_some())
            .filter(|(p, _)| variant != "looped_parallel" || p.loops == k)
            .collect()
    }

    pub(super) fn display_name(&self, variant: &str) -> String {
        match variant {
            "looped_parallel" => match self.looped_k() {
                Some(k) => format!("Looped Parallel {k}X"),
                None => "Looped Parallel".into(),
            },
            "random" => {
                let seeds: BTreeSet<i64> = self
                    .of_variant("random")
                    .iter()
                    .filter_map(|(p, _)| p.seed)
                    .collect();
                format!("Random (mean of {} seeds)", seeds.len())
            }
            v => MIDDLE
                .iter()
                .find(|(n, _, _)| *n == v)
                .map_or_else(|| v.to_string(), |(_, _, d)| d.to_string()),
        }
    }

    pub(super) fn model_name(&self, meta: &SweepReportMeta) -> String {
        meta.model.clone().unwrap_or_else(|| {
            format!(
                "model {}",
                &self.model_sha256[..self.model_sha256.len().min(12)]
            )
        })
    }
}

/// One x position of a line: the value (mean over seeds), and the band (±1 standard error, or the
/// seeds' min–max), the seeds' spread.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cell {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) band: Option<(f64, f64)>,
    /// lm-eval's standard error (single results).
    pub(super) se: Option<f64>,
    pub(super) sd: Option<(f64, usize)>,
}

/// Per M, a variant's score on `task` (random: the seeds' mean with min–max band).
pub(super) fn per_m(points: &[&(PointMeta, BTreeMap<String, Score>)], task: &str) -> Vec<Cell> {
    let mut by_m: BTreeMap<usize, Vec<(&PointMeta, &Score)>> = BTreeMap::new();
    for (p, s) in points {
        if let (Some(m), Some(score)) = (p.m, s.get(task)) {
            by_m.entry(m).or_default().push((p, score));
        }
    }
    by_m.into_iter()
        .filter_map(|(m, v)| cell(m as f64, &v))
        .collect()
}

pub(super) fn cell(x: f64, v: &[(&PointMeta, &Score)]) -> Option<Cell> {
    if let [(p, s)] = v
        && p.seed.is_none()
    {
        return Some(Cell {
            x,
            y: s.value,
            band: s.stderr.map(|e| (s.value - e, s.value + e)),
            se: s.stderr,
            sd: None,
        });
    }
    let values: Vec<f64> = v.iter().map(|(_, s)| s.value).collect();
    let sp = spread(&values)?;
    Some(Cell {
        x,
        y: sp.mean,
        band: Some((sp.min, sp.max)),
        se: None,
        sd: Some((sp.std, sp.n)),
    })
}

/// Per M, a variant's summary over tasks ([`Data::summary_of`]; random: the mean of the per-seed
/// summaries, min–max band).
pub(super) fn summary_per_m(
    data: &Data,
    points: &[&(PointMeta, BTreeMap<String, Score>)],
) -> Vec<Cell> {
    let mut by_m: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (p, s) in points {
        if let (Some(m), Some(med)) = (p.m, data.summary_of(s)) {
            by_m.entry(m).or_default().push(med);
        }
    }
    by_m.into_iter()
        .filter_map(|(m, values)| {
            let sp = spread(&values)?;
            let several = values.len() > 1;
            Some(Cell {
                x: m as f64,
                y: sp.mean,
                band: several.then_some((sp.min, sp.max)),
                se: None,
                sd: several.then_some((sp.std, sp.n)),
            })
        })
        .collect()
}
