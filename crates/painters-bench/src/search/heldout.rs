//! The report side of a search: chosen schedules scored on the held-out documents with standard
//! errors, paired differences against the best, the Pareto front (blocks applied vs held-out
//! score), and the cost counted against scoring every candidate of the space from scratch.

use serde::Serialize;

use super::evaluate::{Cost, DocMetrics, aggregated, values};
use crate::score::mean_stderr;
use crate::tasks::MetricSpec;

/// One schedule on the held-out documents.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeldOut {
    /// What it is: `search #1`, `full model`, `Block Influence`, `angular distance`, …
    pub label: String,
    pub schedule: String,
    pub blocks_applied: usize,
    pub docs: usize,
    /// Every metric of the task: `(name, value, stderr)`.
    pub metrics: Vec<(String, f64, Option<f64>)>,
    /// On the Pareto front of the held-out objective.
    pub pareto: bool,
}

/// Per-document mean difference `a − b` of `metric` (paired), with its standard error.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Paired {
    pub a: String,
    pub b: String,
    pub metric: String,
    pub mean_difference: f64,
    pub stderr: Option<f64>,
}

/// `HeldOut` of `docs` for every metric in `metrics`.
pub fn held_out(
    label: &str,
    schedule: &str,
    blocks_applied: usize,
    docs: &DocMetrics,
    metrics: &[MetricSpec],
) -> HeldOut {
    HeldOut {
        label: label.to_string(),
        schedule: schedule.to_string(),
        blocks_applied,
        docs: docs.len(),
        metrics: metrics
            .iter()
            .map(|m| {
                let a = aggregated(docs, m);
                (m.name.to_string(), a.value, a.stderr)
            })
            .collect(),
        pareto: false,
    }
}

/// The paired per-document difference of `metric` between two schedules' held-out results.
pub fn paired(a: (&str, &DocMetrics), b: (&str, &DocMetrics), metric: &str) -> Paired {
    let (va, vb) = (values(a.1, metric), values(b.1, metric));
    let d: Vec<f64> = va.iter().zip(&vb).map(|(x, y)| x - y).collect();
    Paired {
        a: a.0.to_string(),
        b: b.0.to_string(),
        metric: metric.to_string(),
        mean_difference: d.iter().sum::<f64>() / d.len().max(1) as f64,
        stderr: mean_stderr(&d),
    }
}

/// Mark the Pareto front of `rows` by (`blocks_applied` lower is better, the objective `metric`
/// better as the metric says): a row is on it when no other row is at least as good in both and
/// better in one.
pub fn mark_pareto(rows: &mut [HeldOut], metric: &MetricSpec) {
    let value = |r: &HeldOut| {
        r.metrics
            .iter()
            .find(|(n, _, _)| n == metric.name)
            .map_or(f64::NAN, |m| m.1)
    };
    let better_eq = |a: f64, b: f64| {
        if metric.higher_is_better {
            a >= b
        } else {
            a <= b
        }
    };
    let strictly = |a: f64, b: f64| better_eq(a, b) && a != b;
    let points: Vec<(usize, f64)> = rows.iter().map(|r| (r.blocks_applied, value(r))).collect();
    for (i, r) in rows.iter_mut().enumerate() {
        let (c, v) = points[i];
        r.pareto = v.is_finite()
            && !points.iter().enumerate().any(|(j, &(cj, vj))| {
                j != i && cj <= c && better_eq(vj, v) && (cj < c || strictly(vj, v))
            });
    }
}

/// A search's spending against scoring every candidate of the space on the whole search set from
/// scratch (one forward pass per candidate per document, no shared prefixes, no halving).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostReport {
    /// Candidates in the space.
    pub space_size: f64,
    /// Distinct candidates the search scored.
    pub candidates_scored: usize,
    /// (candidate, document) pairs the search scored (in this run or, resumed, an earlier one).
    pub evaluations: u64,
    /// Of those, pairs computed by this run (the rest were read from an earlier run's journals).
    pub computed_this_run: u64,
    /// (candidate, document) pairs exhaustive scoring needs: space size × search documents.
    pub evaluations_exhaustive: f64,
    /// Block applications × input tokens that ran (shared prefixes once).
    pub block_token_applications: u64,
    /// The same for the scored pairs, each member run on its own.
    pub block_token_applications_alone: u64,
    /// The same for exhaustive scoring from scratch.
    pub block_token_applications_exhaustive: f64,
    /// `exhaustive / run`.
    pub saving: f64,
}

impl CostReport {
    pub fn new(
        cost: &Cost,
        candidates: usize,
        space_size: f64,
        docs: usize,
        exhaustive: f64,
    ) -> Self {
        CostReport {
            space_size,
            candidates_scored: candidates,
            evaluations: cost.evaluations,
            computed_this_run: cost.computed,
            evaluations_exhaustive: space_size * docs as f64,
            block_token_applications: cost.run,
            block_token_applications_alone: cost.alone,
            block_token_applications_exhaustive: exhaustive,
            saving: exhaustive / (cost.run.max(1) as f64),
        }
    }
}
