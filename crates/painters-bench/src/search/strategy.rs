//! Search strategies over a [`Space`]: every candidate scored with successive halving (many
//! candidates on few documents, the best fraction promoted to more), or a greedy / beam search
//! that removes one block per step (SLEB-style) for [`Space::Remove`], each step's candidates
//! scored the same way.
//!
//! Candidates are ranked by the objective metric aggregated over the documents they were scored
//! on (the search set only; the held-out documents are never seen here).

use std::ops::ControlFlow;

use painters::LayerSchedule;
use serde::Serialize;

use super::evaluate::{DocMetrics, ScoreError, Scorer, aggregated};
use super::space::{Candidate, Space, without};
use crate::tasks::MetricSpec;

/// Successive halving: score on `start` documents, keep the best `1/eta`, multiply the documents
/// by `eta`, until `max` documents (the whole search set) or one candidate is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Halving {
    pub start: usize,
    pub eta: usize,
}

/// How candidates are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Strategy {
    /// Every candidate of the space (it must be listable).
    Exhaustive,
    /// Remove blocks one at a time, keeping the best `width` partial removals (1: greedy).
    Beam { width: usize },
}

/// A search.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpec {
    pub space: Space,
    pub strategy: Strategy,
    /// None: every candidate on the whole search set.
    pub halving: Option<Halving>,
    /// The objective: a metric of the task (ranked as the task says: perplexity lower, acc
    /// higher).
    pub metric: MetricSpec,
    /// Documents of the search set (positions `0..search_docs` of the scorer's list).
    pub search_docs: usize,
}

/// One candidate as the search last scored it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scored {
    pub text: String,
    pub blocks_applied: usize,
    /// Documents it was scored on (the first `docs` of the search set).
    pub docs: usize,
    /// The objective on those documents.
    pub value: f64,
    pub stderr: Option<f64>,
    /// The round (halving) or step (beam) that scored it last.
    pub round: usize,
}

/// What a search did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SearchResult {
    /// Every candidate scored, best first.
    pub ranked: Vec<Scored>,
    /// Distinct candidates scored.
    pub candidates: usize,
    /// Rounds (halving) or steps (beam) run.
    pub rounds: usize,
}

/// A progress report: round, documents, candidates done of total.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub round: usize,
    pub docs: usize,
    pub done: usize,
    pub total: usize,
}

/// Better first: higher values when the metric is higher-better.
fn better(metric: &MetricSpec, a: f64, b: f64) -> std::cmp::Ordering {
    let (a, b) = if metric.higher_is_better {
        (b, a)
    } else {
        (a, b)
    };
    a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
}

/// Score `cands` with successive halving; returns them ranked (the survivors of the last round
/// first, then earlier rounds' losers by their last score).
fn halve(
    scorer: &mut Scorer,
    spec: &SearchSpec,
    cands: &[Candidate],
    round0: usize,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<(Vec<Scored>, usize), ScoreError> {
    let max = spec.search_docs.min(scorer.docs.len()).max(1);
    let (mut docs, eta) = match spec.halving {
        Some(h) => (h.start.clamp(1, max), h.eta.max(2)),
        None => (max, 2),
    };
    let mut alive: Vec<Candidate> = cands.to_vec();
    let mut out: Vec<Scored> = Vec::new();
    let mut round = round0;
    loop {
        let schedules: Vec<LayerSchedule> = alive.iter().map(|c| c.schedule.clone()).collect();
        let metrics: Vec<DocMetrics> = scorer.score(&schedules, 0..docs, &mut |done, total| {
            progress(Progress {
                round,
                docs,
                done,
                total,
            })
        })?;
        let mut scored: Vec<Scored> = alive
            .iter()
            .zip(&metrics)
            .map(|(c, m)| {
                let a = aggregated(m, &spec.metric);
                Scored {
                    text: c.text.clone(),
                    blocks_applied: c.blocks_applied,
                    docs,
                    value: a.value,
                    stderr: a.stderr,
                    round,
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..scored.len()).collect();
        order.sort_by(|&a, &b| better(&spec.metric, scored[a].value, scored[b].value));
        round += 1;
        if docs >= max || alive.len() <= 1 || spec.halving.is_none() {
            let ranked: Vec<Scored> = order.iter().map(|&i| scored[i].clone()).collect();
            out.splice(0..0, ranked);
            return Ok((out, round));
        }
        let keep = alive.len().div_ceil(eta);
        let mut losers: Vec<Scored> = order[keep..].iter().map(|&i| scored[i].clone()).collect();
        losers.append(&mut out);
        out = losers;
        alive = order[..keep].iter().map(|&i| alive[i].clone()).collect();
        scored.clear();
        docs = (docs * eta).min(max);
    }
}

/// Run the search `spec` with `scorer`.
pub fn search(
    scorer: &mut Scorer,
    spec: &SearchSpec,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<SearchResult, SearchError> {
    let layers = scorer.model.num_blocks();
    match (&spec.space, spec.strategy) {
        (Space::Remove { k, keep }, Strategy::Beam { width }) => {
            beam(scorer, spec, layers, *k, keep, width.max(1), progress)
        }
        (Space::Remove { .. }, Strategy::Exhaustive) => Err(SearchError::NotListable),
        (space, _) => {
            let cands = space
                .enumerate(layers)
                .ok_or(SearchError::NotListable)?
                .into_iter()
                .map(|s| Candidate::new(s, layers))
                .collect::<Result<Vec<_>, _>>()?;
            if cands.is_empty() {
                return Err(SearchError::Empty);
            }
            let (ranked, rounds) = halve(scorer, spec, &cands, 0, progress)?;
            Ok(SearchResult {
                candidates: cands.len(),
                rounds,
                ranked,
            })
        }
    }
}

/// Greedy / beam removal of `k` blocks, one per step.
fn beam(
    scorer: &mut Scorer,
    spec: &SearchSpec,
    layers: usize,
    k: usize,
    keep: &[usize],
    width: usize,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<SearchResult, SearchError> {
    if k == 0 || k + keep.len() > layers {
        return Err(SearchError::Empty);
    }
    let mut beam: Vec<Vec<usize>> = vec![Vec::new()];
    let mut all: Vec<Scored> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut round = 0;
    for _ in 0..k {
        let mut sets: Vec<Vec<usize>> = Vec::new();
        for s in &beam {
            for b in (0..layers).filter(|b| !s.contains(b) && !keep.contains(b)) {
                let mut n = s.clone();
                n.push(b);
                n.sort_unstable();
                if !sets.contains(&n) {
                    sets.push(n);
                }
            }
        }
        let cands = sets
            .iter()
            .map(|s| Candidate::new(without(layers, s), layers))
            .collect::<Result<Vec<_>, _>>()?;
        let (ranked, next_round) = halve(scorer, spec, &cands, round, progress)?;
        round = next_round;
        let by_text = |t: &str| cands.iter().position(|c| c.text == t);
        beam = ranked
            .iter()
            .take(width)
            .filter_map(|r| by_text(&r.text).map(|i| sets[i].clone()))
            .collect();
        for r in ranked {
            if seen.insert(r.text.clone()) {
                all.push(r);
            }
        }
    }
    // Only complete removals (k blocks) are answers; rank those, then the partial ones.
    let full_len = layers - k;
    let mut ranked: Vec<Scored> = all
        .iter()
        .filter(|r| r.blocks_applied == full_len)
        .cloned()
        .collect();
    ranked.sort_by(|a, b| {
        b.docs
            .cmp(&a.docs)
            .then_with(|| better(&spec.metric, a.value, b.value))
    });
    let candidates = all.len();
    ranked.extend(all.into_iter().filter(|r| r.blocks_applied != full_len));
    Ok(SearchResult {
        ranked,
        candidates,
        rounds: round,
    })
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Score(#[from] ScoreError),
    #[error(transparent)]
    Schedule(#[from] painters::ScheduleError),
    #[error("this space is too large to list; search it with --strategy greedy or beam")]
    NotListable,
    #[error("the space holds no candidate")]
    Empty,
}
