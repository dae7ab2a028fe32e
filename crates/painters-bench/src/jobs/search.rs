//! `painters search` end to end: a task's documents cut into a search set and a disjoint held-out
//! set, the heuristic baselines computed from the layer analysis of the search set (Block
//! Influence: remove the k least influential blocks; angular distance: remove the k-block slice
//! whose input and output are closest), the search run ([`crate::search::search`], journaled per
//! document and resumable), then the best candidates, the best of every cost level, the baselines
//! and the full model scored on the held-out documents, with standard errors and paired
//! differences, the Pareto front marked and drawn, and the cost compared with scoring the whole
//! space from scratch.
//!
//! Writes `search.json`, `candidates.csv` (every candidate, search-set score), `heldout.csv`,
//! `pareto.svg`/`.png` and `best.txt` (the best schedules as text, best first, for `eval` and
//! `export`); journals under `evals/`.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use painters::{KvMode, LayerSchedule, Plan};
use serde_json::{Value, json};

use crate::analysis::{AnalysisError, AnalysisOptions, analyze_llama};
use crate::io::{IoError, write_atomic};
use crate::lm::{LlamaLm, LmError, TokenRequest};
use crate::models::{LoadError, ModelSource};
use crate::report::plot::{LineChart, PlotError, Series, write_png, write_svg};
use crate::requests::{Request, loglikelihood_tokens};
use crate::search::{
    Candidate, CostReport, DocMetrics, Halving, HeldOut, Paired, Progress, ScoreError, Scorer,
    SearchError, SearchSpec, Space, Strategy, choose, held_out, mark_pareto, metric_spec, paired,
    search, without,
};
use crate::tasks::{self, DataError, Doc};

/// One search.
#[derive(Clone, Debug)]
pub struct SearchRun {
    pub model: ModelSource,
    /// A log-likelihood task (lambada_openai, arc_easy, …).
    pub task: String,
    /// The objective metric of the task (lambada_openai: `perplexity`).
    pub metric: String,
    pub space: Space,
    pub strategy: Strategy,
    pub halving: Option<Halving>,
    /// The search set: documents `0..search_docs`.
    pub search_docs: usize,
    /// The held-out set: documents `heldout_start..heldout_start + heldout_docs`.
    pub heldout_start: usize,
    pub heldout_docs: usize,
    /// Candidates of the search scored on the held-out set (besides the best of each cost level).
    pub top: usize,
    /// Documents of the search set the baselines' layer analysis reads.
    pub analysis_docs: usize,
    pub group_size: usize,
    pub batch_size: usize,
    pub data_dir: PathBuf,
    pub out: PathBuf,
    pub command: Option<String>,
}

/// Why a search run failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchRunError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(
        "the held-out documents ({start}..{end}) overlap the search set (0..{search}): start the held-out set at or after the search set's end"
    )]
    Overlap {
        start: usize,
        end: usize,
        search: usize,
    },
    #[error("the task has {have} documents; the search and held-out sets need {need}")]
    TooFewDocs { have: usize, need: usize },
    #[error(transparent)]
    Score(#[from] ScoreError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Plan(#[from] painters::ScheduleError),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    #[error(transparent)]
    Tokens(#[from] LmError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// What a finished search produced.
#[derive(Debug)]
pub struct SearchOutcome {
    pub held_out: Vec<HeldOut>,
    pub paired: Vec<Paired>,
    pub cost: CostReport,
    pub written: Vec<PathBuf>,
    pub wall_seconds: f64,
}

/// Progress lines at most every 20 s (and at the end of each round), with the round's ETA.
struct ProgressPrinter {
    started: Instant,
    round: (usize, Instant),
    last: Instant,
}

impl ProgressPrinter {
    fn new(started: Instant) -> Self {
        ProgressPrinter {
            started,
            round: (usize::MAX - 1, Instant::now()),
            last: Instant::now(),
        }
    }

    fn line(&mut self, p: Progress) -> Option<String> {
        if p.round != self.round.0 {
            self.round = (p.round, Instant::now());
        }
        if p.done != p.total && self.last.elapsed().as_secs() < 20 {
            return None;
        }
        self.last = Instant::now();
        let el = self.round.1.elapsed().as_secs_f64();
        let eta = if p.done > 0 {
            el / p.done as f64 * (p.total - p.done) as f64
        } else {
            f64::NAN
        };
        let what = if p.round == usize::MAX {
            "held out".to_string()
        } else {
            format!("round {}", p.round)
        };
        Some(format!(
            "{what} ({} documents): {}/{} candidates, {el:.0} s, ETA {eta:.0} s; total {:.0} s",
            p.docs,
            p.done,
            p.total,
            self.started.elapsed().as_secs_f64()
        ))
    }
}

impl SearchRun {
    /// Defaults: lambada_openai perplexity, remove 6 blocks greedily, halving from 25 documents
    /// (η = 2), 100 search documents, 200 held-out documents from document 1000, the top 3.
    pub fn new(model: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        SearchRun {
            model: ModelSource::new(model),
            task: "lambada_openai".into(),
            metric: "perplexity".into(),
            space: Space::Remove {
                k: 6,
                keep: Vec::new(),
            },
            strategy: Strategy::Beam { width: 1 },
            halving: Some(Halving { start: 25, eta: 2 }),
            search_docs: 100,
            heldout_start: 1000,
            heldout_docs: 200,
            top: 3,
            analysis_docs: 100,
            group_size: 16,
            batch_size: 16,
            data_dir: PathBuf::from("data"),
            out: out.into(),
            command: None,
        }
    }

    /// Search, score on the held-out set, write; `say` gets progress lines.
    pub fn execute(&self, say: &mut dyn FnMut(&str)) -> Result<SearchOutcome, SearchRunError> {
        let started = Instant::now();
        let held_end = self.heldout_start + self.heldout_docs;
        if self.heldout_start < self.search_docs {
            return Err(SearchRunError::Overlap {
                start: self.heldout_start,
                end: held_end,
                search: self.search_docs,
            });
        }
        let task = tasks::by_name(&self.task)
            .ok_or_else(|| SearchRunError::UnknownTask(self.task.clone()))?;
        let objective = metric_spec(task.as_ref(), &self.metric)?;
        std::fs::create_dir_all(&self.out).map_err(|e| IoError::new(&self.out, e))?;
        crate::io::check_writable(&self.out.join("search.json"))?;
        let path = self.model.local_path()?;
        let model = self.model.load_llama(&path)?;
        let tokenizer = ModelSource::llama_tokenizer(&path)?;
        let sha = ModelSource::sha256(&path)?;
        let layers = model.num_blocks();
        let loaded = task.load(&self.data_dir, None)?;
        if loaded.docs.len() < held_end {
            return Err(SearchRunError::TooFewDocs {
                have: loaded.docs.len(),
                need: held_end,
            });
        }
        // The scorer's list: the search set, then the held-out set.
        let docs: Vec<Doc> = loaded.docs[..self.search_docs]
            .iter()
            .chain(&loaded.docs[self.heldout_start..held_end])
            .cloned()
            .collect();
        let mut scorer = Scorer::new(
            &model,
            &tokenizer,
            task.as_ref(),
            &docs,
            self.out.join("evals"),
            sha.clone(),
        )?;
        scorer.group_size = self.group_size.max(1);
        scorer.batch.batch_size = self.batch_size.max(1);
        say(&format!(
            "{}: search set documents 0..{}, held out {}..{} (of {}); space of {} candidates",
            self.task,
            self.search_docs,
            self.heldout_start,
            held_end,
            loaded.total,
            self.space.size(layers)
        ));

        // Baselines from the layer analysis of the search set (removal spaces).
        let mut baselines: Vec<(String, LayerSchedule)> = Vec::new();
        let mut analysis_json = Value::Null;
        if let Space::Remove { k, .. } | Space::RemoveSlice { k } = self.space {
            let (bi, ang, j) = self.baselines(&model, &tokenizer, &docs, k)?;
            analysis_json = j;
            say(&format!(
                "baselines: Block Influence removes {bi:?}; angular distance removes {ang:?}"
            ));
            baselines.push(("Block Influence".into(), without(layers, &bi)));
            baselines.push(("angular distance".into(), without(layers, &ang)));
        }

        let spec = SearchSpec {
            space: self.space.clone(),
            strategy: self.strategy,
            halving: self.halving,
            metric: objective,
            search_docs: self.search_docs,
        };
        let mut printer = ProgressPrinter::new(started);
        let result = search(&mut scorer, &spec, &mut |p| {
            if let Some(line) = printer.line(p) {
                say(&line);
            }
            ControlFlow::Continue(())
        })?;
        let search_cost = scorer.cost;
        let search_tokens = scorer.tokens_of(self.search_docs);
        let exhaustive = self.exhaustive_cost(layers, search_tokens)?;
        let cost = CostReport::new(
            &search_cost,
            result.candidates,
            self.space.size(layers) as f64,
            self.search_docs,
            exhaustive,
        );
        say(&format!(
            "search: {} candidates, {} evaluations ({} computed now, the rest read from journals; exhaustive: {:.0}), {:.3e} block×token applications (exhaustive: {:.3e}, {:.1}× more)",
            cost.candidates_scored,
            cost.evaluations,
            cost.computed_this_run,
            cost.evaluations_exhaustive,
            cost.block_token_applications as f64,
            cost.block_token_applications_exhaustive,
            cost.saving
        ));

        // Held out: the top candidates, the best of each cost level, the baselines, the full model.
        let final_docs = result.ranked.first().map_or(0, |r| r.docs);
        let mut chosen: Vec<(String, LayerSchedule)> = Vec::new();
        let push = |label: String, s: LayerSchedule, chosen: &mut Vec<(String, LayerSchedule)>| {
            if !chosen.iter().any(|(_, c)| *c == s) {
                chosen.push((label, s));
            }
        };
        let parse =
            |t: &str| -> Result<LayerSchedule, SearchRunError> { Ok(t.parse::<LayerSchedule>()?) };
        for (i, r) in result
            .ranked
            .iter()
            .filter(|r| r.docs == final_docs)
            .take(self.top.max(1))
            .enumerate()
        {
            push(format!("search #{}", i + 1), parse(&r.text)?, &mut chosen);
        }
        let mut levels: Vec<usize> = result.ranked.iter().map(|r| r.blocks_applied).collect();
        levels.sort_unstable();
        levels.dedup();
        for l in levels {
            if let Some(r) = result.ranked.iter().find(|r| r.blocks_applied == l) {
                push(
                    format!("best with {l} blocks applied"),
                    parse(&r.text)?,
                    &mut chosen,
                );
            }
        }
        for (label, s) in &baselines {
            push(label.clone(), s.clone(), &mut chosen);
        }
        push(
            "full model".into(),
            LayerSchedule::full(layers),
            &mut chosen,
        );
        let schedules: Vec<LayerSchedule> = chosen.iter().map(|(_, s)| s.clone()).collect();
        let held_range = self.search_docs..self.search_docs + self.heldout_docs;
        say(&format!(
            "held out: {} schedules on {} documents",
            schedules.len(),
            self.heldout_docs
        ));
        let held: Vec<DocMetrics> = scorer.score(&schedules, held_range, &mut |done, total| {
            let p = Progress {
                round: usize::MAX,
                docs: self.heldout_docs,
                done,
                total,
            };
            if let Some(line) = printer.line(p) {
                say(&line);
            }
            ControlFlow::Continue(())
        })?;
        let metrics = task.info().metrics;
        let mut rows: Vec<HeldOut> = chosen
            .iter()
            .zip(&held)
            .map(|((label, s), d)| {
                let c = Candidate::new(s.clone(), layers)?;
                Ok(held_out(label, &c.text, c.blocks_applied, d, &metrics))
            })
            .collect::<Result<_, painters::ScheduleError>>()?;
        mark_pareto(&mut rows, &objective);
        let mut pairs = Vec::new();
        if let Some(best) = held.first() {
            for (i, (label, _)) in chosen.iter().enumerate().skip(1) {
                for m in &metrics {
                    pairs.push(paired((&chosen[0].0, best), (label, &held[i]), m.name));
                }
            }
        }
        let written = self.write(
            &result,
            &rows,
            &pairs,
            &cost,
            &analysis_json,
            &scorer,
            &objective,
            started,
        )?;
        Ok(SearchOutcome {
            held_out: rows,
            paired: pairs,
            cost,
            written,
            wall_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Block applications × tokens of scoring every candidate on the search set from scratch.
    fn exhaustive_cost(&self, layers: usize, tokens: u64) -> Result<f64, SearchRunError> {
        Ok(match &self.space {
            Space::Remove { k, keep } => {
                choose(layers.saturating_sub(keep.len()), *k) as f64
                    * (layers - k) as f64
                    * tokens as f64
            }
            space => {
                let mut total = 0f64;
                for s in space.enumerate(layers).unwrap_or_default() {
                    total += Candidate::new(s, layers)?.blocks_applied as f64 * tokens as f64;
                }
                total
            }
        })
    }

    /// The blocks Block Influence and angular distance remove, and the analysis numbers.
    fn baselines(
        &self,
        model: &painters_llama::LlamaModel,
        tokenizer: &dyn crate::lm::Tokenize,
        docs: &[Doc],
        k: usize,
    ) -> Result<(Vec<usize>, Vec<usize>, Value), SearchRunError> {
        let layers = model.num_blocks();
        let plan = Plan::compile(&LayerSchedule::full(layers), layers, KvMode::Exact)?;
        let lm = LlamaLm::new(model, &plan, tokenizer);
        let n = self.analysis_docs.min(self.search_docs);
        let requests: Vec<TokenRequest> = docs[..n]
            .iter()
            .filter_map(|d| match d.requests.first() {
                Some(Request::Loglikelihood {
                    context,
                    continuation,
                }) => Some(loglikelihood_tokens(&lm, context, continuation)),
                _ => None,
            })
            .collect::<Result<_, _>>()?;
        let options = AnalysisOptions {
            top_k: 0,
            ..AnalysisOptions::default()
        };
        let a = analyze_llama(model, &plan, &requests, None, &options, |_, _| {})?;
        let mut by_bi: Vec<usize> = (0..a.block_influence.len()).collect();
        by_bi.sort_by(|&x, &y| {
            a.block_influence[x]
                .partial_cmp(&a.block_influence[y])
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut bi: Vec<usize> = by_bi.into_iter().take(k).collect();
        bi.sort_unstable();
        let row = a.angular.iter().find(|r| r.n == k);
        let start = row.map_or(0, |r| r.best_start);
        let ang: Vec<usize> = (start..start + k).collect();
        let j = json!({
            "documents": requests.len(),
            "block_influence": a.block_influence,
            "angular_distance_k": row,
        });
        Ok((bi, ang, j))
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        result: &crate::search::SearchResult,
        rows: &[HeldOut],
        pairs: &[Paired],
        cost: &CostReport,
        analysis: &Value,
        scorer: &Scorer,
        objective: &crate::tasks::MetricSpec,
        started: Instant,
    ) -> Result<Vec<PathBuf>, SearchRunError> {
        let mut written = Vec::new();
        let mut put = |name: &str, text: String| -> Result<(), SearchRunError> {
            let p = self.out.join(name);
            write_atomic(&p, text.as_bytes())?;
            written.push(p);
            Ok(())
        };
        let summary = json!({
            "command": self.command,
            "model": self.model.model,
            "task": self.task,
            "objective": objective.name,
            "space": format!("{:?}", self.space),
            "strategy": self.strategy,
            "halving": self.halving,
            "search_docs": self.search_docs,
            "heldout": [self.heldout_start, self.heldout_start + self.heldout_docs],
            "cost": cost,
            "prefix_groups": crate::sweep::reuse_json(&scorer.reuse),
            "rounds": result.rounds,
            "held_out": rows,
            "paired_differences_vs_first": pairs,
            "baseline_analysis": analysis,
            "ranked": result.ranked,
            "wall_seconds": started.elapsed().as_secs_f64(),
        });
        put(
            "search.json",
            serde_json::to_string_pretty(&summary).unwrap_or_default(),
        )?;
        let mut csv = String::from("rank,schedule,blocks_applied,docs,value,stderr,round\n");
        for (i, r) in result.ranked.iter().enumerate() {
            let _ = writeln!(
                csv,
                "{},\"{}\",{},{},{},{},{}",
                i + 1,
                r.text,
                r.blocks_applied,
                r.docs,
                r.value,
                r.stderr.map_or(String::new(), |s| s.to_string()),
                r.round
            );
        }
        put("candidates.csv", csv)?;
        let names: Vec<&str> = rows
            .first()
            .map(|r| r.metrics.iter().map(|m| m.0.as_str()).collect())
            .unwrap_or_default();
        let mut csv = String::from("label,schedule,blocks_applied,docs,pareto");
        for n in &names {
            let _ = write!(csv, ",{n},{n}_stderr");
        }
        csv.push('\n');
        for r in rows {
            let _ = write!(
                csv,
                "{},\"{}\",{},{},{}",
                r.label, r.schedule, r.blocks_applied, r.docs, r.pareto
            );
            for m in &r.metrics {
                let _ = write!(
                    csv,
                    ",{},{}",
                    m.1,
                    m.2.map_or(String::new(), |s| s.to_string())
                );
            }
            csv.push('\n');
        }
        put("heldout.csv", csv)?;
        let mut best = String::new();
        for r in result.ranked.iter().take(self.top.max(1)) {
            let _ = writeln!(best, "{}", r.text);
        }
        put("best.txt", best)?;
        // The front: blocks applied vs held-out objective, every held-out row as a point.
        let value = |r: &HeldOut| {
            r.metrics
                .iter()
                .find(|m| m.0 == objective.name)
                .map_or((f64::NAN, 0.0), |m| (m.1, m.2.unwrap_or(0.0)))
        };
        let mut front: Vec<&HeldOut> = rows.iter().filter(|r| r.pareto).collect();
        front.sort_by_key(|r| r.blocks_applied);
        let all: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.blocks_applied as f64, value(r).0))
            .collect();
        let band: Vec<(f64, f64, f64)> = front
            .iter()
            .map(|r| {
                let (v, s) = value(r);
                (r.blocks_applied as f64, v - s, v + s)
            })
            .collect();
        let chart = LineChart {
            title: format!(
                "{}: held-out {} vs blocks applied",
                self.task, objective.name
            ),
            x_label: "blocks applied per forward pass".into(),
            y_label: format!(
                "{}{} (held out, ±1 s.e. on the front)",
                objective.name,
                if objective.name == "perplexity" {
                    ", log scale"
                } else {
                    ""
                }
            ),
            series: vec![
                Series::new(
                    "Pareto front",
                    front
                        .iter()
                        .map(|r| (r.blocks_applied as f64, value(r).0))
                        .collect(),
                )
                .with_band(band),
                Series::new("all held-out schedules", all).scatter(),
            ],
            // Perplexities of pruned models span orders of magnitude.
            log_y: objective.name == "perplexity",
            ..LineChart::default()
        };
        let (svg, png) = (self.out.join("pareto.svg"), self.out.join("pareto.png"));
        write_svg(&chart, &svg)?;
        write_png(&chart, &png)?;
        written.push(svg);
        written.push(png);
        Ok(written)
    }
}
