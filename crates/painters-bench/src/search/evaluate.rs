//! Scoring candidate schedules on documents, computing only what is not stored, with the
//! candidates' shared prefixes run once.
//!
//! Each candidate's responses are journaled per document (`evals/<hash>.jsonl`, a
//! [`DocJournal`] keyed by the model's sha256, the schedule and the task), so a killed search
//! resumes where it stopped and a candidate scored on 25 documents and promoted to 100 only
//! computes the 75 new ones. Candidates that need documents are sorted by their steps (so that
//! long common prefixes are neighbours) and cut into groups; a group is one
//! [`PrefixGroup`], every member evaluated on the same documents (the union of what its members
//! miss), so that the first member's forward passes compute every member's scores.
//!
//! Costs are counted in block applications × input tokens: what the group's trie ran, and what
//! running each member on its own would have run.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::PathBuf;

use painters::LayerSchedule;
use painters_llama::LlamaModel;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::batching::{BatchOptions, run_requests_until};
use crate::eval::journaled_responses;
use crate::io::{DocJournal, JournalError};
use crate::lm::{LanguageModel, LmError, Tokenize};
use crate::requests::{Request, Response, loglikelihood_tokens};
use crate::score::{Aggregate, Item, aggregate};
use crate::sweep::{PrefixGroup, ReuseStats, SweepError};
use crate::tasks::{Doc, MetricSpec, Task};

/// Why scoring failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Group(#[from] SweepError),
    #[error("`{schedule}`, document {doc}: {source}")]
    Request {
        schedule: String,
        doc: usize,
        #[source]
        source: Box<LmError>,
    },
    #[error("task `{task}` has no metric `{metric}` (it reports: {known})")]
    UnknownMetric {
        task: String,
        metric: String,
        known: String,
    },
    #[error("task `{0}` asks for generation; a search scores log-likelihood tasks only")]
    Generative(String),
    #[error("stopped (as asked)")]
    Stopped,
}

/// What a search costs, counted as a fresh run computes it: each (candidate, document) pair the
/// search asks for once, grouped as a fresh run groups them. The counts are the same whether the
/// pairs are computed now or read from the journals of an earlier, interrupted run (`computed`
/// and `stored` say which).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Block applications × input tokens that ran (shared prefixes once).
    pub run: u64,
    /// Block applications × input tokens of running every scored member on its own.
    pub alone: u64,
    /// (candidate, document) pairs the search asked for.
    pub evaluations: u64,
    /// Of those, pairs scored by the model in this run.
    pub computed: u64,
    /// Of those, pairs read from the journals of an earlier run.
    pub stored: u64,
}

impl Cost {
    pub fn add(&mut self, o: &Cost) {
        self.run += o.run;
        self.alone += o.alone;
        self.evaluations += o.evaluations;
        self.computed += o.computed;
        self.stored += o.stored;
    }
}

/// One candidate's per-document values of every metric the task reports, by document position in
/// the scorer's document list.
pub type DocMetrics = Vec<HashMap<&'static str, Item>>;

/// Scores schedules of one model on one task's documents.
pub struct Scorer<'a> {
    pub model: &'a LlamaModel,
    pub tokenizer: &'a dyn Tokenize,
    pub task: &'a dyn Task,
    pub docs: &'a [Doc],
    /// Input tokens of each document's requests.
    pub tokens: Vec<u64>,
    /// Where the journals go.
    pub dir: PathBuf,
    pub model_sha256: String,
    pub batch: BatchOptions,
    /// Candidates per prefix group.
    pub group_size: usize,
    pub cost: Cost,
    /// The prefix groups' own counts (padded tokens) of what this run computed.
    pub reuse: ReuseStats,
    /// (schedule, document position) pairs asked for so far: what [`Cost`] counts once.
    requested: HashSet<(String, usize)>,
}

impl<'a> Scorer<'a> {
    /// A scorer over `docs` of `task`; journals under `dir`.
    pub fn new(
        model: &'a LlamaModel,
        tokenizer: &'a dyn Tokenize,
        task: &'a dyn Task,
        docs: &'a [Doc],
        dir: PathBuf,
        model_sha256: String,
    ) -> Result<Self, ScoreError> {
        let layers = model.num_blocks();
        let plan = painters::Plan::compile(
            &LayerSchedule::full(layers),
            layers,
            painters::KvMode::Exact,
        )
        .map_err(SweepError::from)?;
        let lm = crate::lm::LlamaLm::new(model, &plan, tokenizer);
        let mut tokens = Vec::with_capacity(docs.len());
        for d in docs {
            let mut t = 0u64;
            for r in &d.requests {
                match r {
                    Request::Loglikelihood {
                        context,
                        continuation,
                    } => {
                        let tr = loglikelihood_tokens(&lm, context, continuation).map_err(|e| {
                            ScoreError::Request {
                                schedule: String::new(),
                                doc: d.id,
                                source: Box::new(e),
                            }
                        })?;
                        t += tr.input_len() as u64;
                    }
                    Request::LoglikelihoodRolling { text } => {
                        t += lm.encode(text).map_or(0, |v| v.len() as u64);
                    }
                    Request::GenerateUntil { .. } => {
                        return Err(ScoreError::Generative(task.info().name.to_string()));
                    }
                }
            }
            tokens.push(t);
        }
        Ok(Scorer {
            model,
            tokenizer,
            task,
            docs,
            tokens,
            dir,
            model_sha256,
            batch: BatchOptions::default(),
            group_size: 16,
            cost: Cost::default(),
            reuse: ReuseStats::default(),
            requested: HashSet::new(),
        })
    }

    fn journal(&self, text: &str) -> Result<DocJournal, ScoreError> {
        let key = json!({
            "model_sha256": self.model_sha256,
            "schedule": text,
            "task": self.task.info().name,
            "task_version": self.task.info().version,
        });
        let hash = Sha256::digest(key.to_string().as_bytes());
        let name: String = hash.iter().take(12).map(|b| format!("{b:02x}")).collect();
        std::fs::create_dir_all(&self.dir).map_err(|source| JournalError::Io {
            path: self.dir.clone(),
            source,
        })?;
        Ok(DocJournal::open(
            &self.dir.join(format!("{name}.jsonl")),
            &key,
        )?)
    }

    /// Input tokens of documents `0..n`.
    pub fn tokens_of(&self, n: usize) -> u64 {
        self.tokens[..n.min(self.tokens.len())].iter().sum()
    }

    /// Per-document metrics of every schedule on documents `docs` (positions in the scorer's
    /// list), computing only what the journals lack. `progress(done, total)` counts candidates
    /// whose documents are complete; returning [`ControlFlow::Break`] stops with
    /// [`ScoreError::Stopped`] (what is journaled stays).
    pub fn score(
        &mut self,
        schedules: &[LayerSchedule],
        docs: std::ops::Range<usize>,
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<Vec<DocMetrics>, ScoreError> {
        let docs = docs.start.min(self.docs.len())..docs.end.min(self.docs.len());
        let texts: Vec<String> = schedules.iter().map(LayerSchedule::to_string).collect();
        // What each candidate lacks, and what it asks for that it has not asked for before.
        let mut missing: Vec<Vec<usize>> = Vec::with_capacity(schedules.len());
        let mut fresh: Vec<Vec<usize>> = Vec::with_capacity(schedules.len());
        for text in &texts {
            let j = self.journal(text)?;
            let lacks: Vec<usize> = docs
                .clone()
                .filter(|&i| j.get(self.docs[i].id).is_none())
                .collect();
            let new: Vec<usize> = docs
                .clone()
                .filter(|&i| self.requested.insert((text.clone(), i)))
                .collect();
            let computed = new.iter().filter(|i| lacks.contains(i)).count();
            self.cost.computed += computed as u64;
            self.cost.stored += (new.len() - computed) as u64;
            missing.push(lacks);
            fresh.push(new);
        }
        let order = |sel: &dyn Fn(usize) -> bool| {
            let mut todo: Vec<usize> = (0..schedules.len()).filter(|&c| sel(c)).collect();
            todo.sort_by(|&a, &b| {
                schedules[a]
                    .steps()
                    .iter()
                    .map(ToString::to_string)
                    .cmp(schedules[b].steps().iter().map(ToString::to_string))
            });
            todo.dedup_by(|a, b| texts[*a] == texts[*b]);
            todo
        };
        // The cost, as a fresh run would group and compute the new pairs.
        for group in order(&|c| !fresh[c].is_empty()).chunks(self.group_size.max(1)) {
            let mut need: Vec<usize> = group.iter().flat_map(|&c| fresh[c].clone()).collect();
            need.sort_unstable();
            need.dedup();
            let members: Vec<LayerSchedule> = group.iter().map(|&c| schedules[c].clone()).collect();
            let (trie, alone) = PrefixGroup::new(self.model, self.tokenizer, &members)?.pass_cost();
            let tokens: u64 = need.iter().map(|&i| self.tokens[i]).sum();
            self.cost.run += trie * tokens;
            self.cost.alone += alone * tokens;
            self.cost.evaluations += (need.len() * group.len()) as u64;
        }
        let todo = order(&|c| !missing[c].is_empty());
        let mut done = schedules.len() - todo.len();
        if progress(done, schedules.len()).is_break() {
            return Err(ScoreError::Stopped);
        }
        for group in todo.chunks(self.group_size.max(1)) {
            let mut need: Vec<usize> = group.iter().flat_map(|&c| missing[c].clone()).collect();
            need.sort_unstable();
            need.dedup();
            let members: Vec<LayerSchedule> = group.iter().map(|&c| schedules[c].clone()).collect();
            let pg = PrefixGroup::new(self.model, self.tokenizer, &members)?;
            let reqs: Vec<&[Request]> = need
                .iter()
                .map(|&i| self.docs[i].requests.as_slice())
                .collect();
            for (m, &c) in group.iter().enumerate() {
                let mut journal = self.journal(&texts[c])?;
                let lm = pg.member(m);
                run_requests_until(&lm, &reqs, self.batch, &mut |k, r| {
                    journal.record(self.docs[need[k]].id, r);
                    ControlFlow::Continue(())
                })
                .map_err(|f| ScoreError::Request {
                    schedule: texts[c].clone(),
                    doc: need.get(f.doc).map_or(f.doc, |&i| self.docs[i].id),
                    source: Box::new(f.source),
                })?;
                done += 1;
                if progress(done, schedules.len()).is_break() {
                    self.reuse.add(&pg.stats());
                    return Err(ScoreError::Stopped);
                }
            }
            self.reuse.add(&pg.stats());
        }
        texts
            .iter()
            .map(|t| {
                let j = self.journal(t)?;
                docs.clone()
                    .map(|i| {
                        let d = &self.docs[i];
                        let resps: Vec<Response> = journaled_responses(&j, d)?.unwrap_or_default();
                        let out = self.task.process(d, &resps);
                        Ok(out
                            .metrics
                            .into_iter()
                            .filter(|(f, _, _)| *f == "none")
                            .map(|(_, m, item)| (m, item))
                            .collect())
                    })
                    .collect::<Result<DocMetrics, ScoreError>>()
            })
            .collect()
    }
}

/// A metric of a task, by name (the `none` filter).
pub fn metric_spec(task: &dyn Task, name: &str) -> Result<MetricSpec, ScoreError> {
    let info = task.info();
    info.metrics
        .iter()
        .copied()
        .find(|m| m.name == name)
        .ok_or_else(|| ScoreError::UnknownMetric {
            task: info.name.to_string(),
            metric: name.to_string(),
            known: info
                .metrics
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// `metric` aggregated over `docs` as the task aggregates it (lm-eval's standard error).
pub fn aggregated(docs: &DocMetrics, metric: &MetricSpec) -> Aggregate {
    let items: Vec<Item> = docs
        .iter()
        .filter_map(|d| d.get(metric.name).copied())
        .collect();
    aggregate(metric.aggregation, &items)
}

/// The per-document values of `metric` (log-likelihoods for a perplexity metric).
pub fn values(docs: &DocMetrics, metric: &str) -> Vec<f64> {
    docs.iter()
        .filter_map(|d| d.get(metric).map(|i| i.value))
        .collect()
}
