//! Sweeps: one model, many layer schedules, several tasks; resumable, shardable, and with the
//! schedules' common prefixes computed once.
//!
//! * [`experiments`]: the paper's experiments as named lists of [`SchedulePoint`]s (variant, N, M,
//!   seed, loops), always with the full model as baseline.
//! * [`store`]: one result file per (model sha256, schedule text, task, limit, seed, and for GLUE
//!   the fine-tuning settings), named by a hash of that key and written atomically as soon as it
//!   exists. A rerun skips valid files and redoes
//!   missing or corrupt ones.
//! * [`prefix`]: a [`PrefixGroup`] evaluates several schedules with their shared leading steps run
//!   once per forward pass, and counts the block applications saved.
//! * [`summary`]: the paper's normalized median (floors and metrics per task, explicit and
//!   configurable: arc_easy/arc_challenge/hellaswag `acc_norm` with floor 0.25, winogrande `acc`
//!   0.5, lambada_openai `acc` 0, gsm8k `exact_match,strict-match` 0) and mean/spread of seeds.
//! * [`table`]: the folder's combined `results.json` and `results.csv`.
//! * [`glue`]: the same for BERT encoders on GLUE tasks ([`run_glue_sweep`]): every schedule
//!   fine-tuned and evaluated under itself, results keyed by the fine-tuning settings too, summarized
//!   by the GLUE average.
//!
//! # Work list, groups and shards
//!
//! The sweep's points are deduplicated by key (two points with the same schedule and seed, e.g.
//! `reverse` and `parallel` at M = 1, which both equal the full model, are one result recorded under
//! both labels) and sorted by their schedules' top-level steps, so that schedules with long common
//! prefixes are neighbours. That sorted list is cut into groups of `group_size` consecutive
//! schedules (1 without prefix reuse). The work *units* are (task, group) pairs, tasks in the given
//! order: unit k belongs to shard `k mod n` (`--shard i/n`, i counted from 0). The units depend only
//! on the points, the tasks and the group size, never on what is already stored, so every shard of a
//! sweep must be started with the same experiments, tasks, seeds, loops and group size; a resumed
//! run computes exactly the units' missing results.
//!
//! Within a unit the members still missing are evaluated one after the other (the first one's passes
//! compute every member's scores, see [`prefix`]); each result is written the moment its member
//! finishes. A killed sweep therefore loses at most the unit in progress.

pub mod experiments;
pub mod glue;
pub mod prefix;
pub mod store;
pub mod summary;
pub mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use painters::LayerSchedule;
use painters_llama::LlamaModel;
use serde_json::{Map, Value, json};

pub use experiments::{Experiment, ExperimentOptions, SchedulePoint, sweep_points};
pub use glue::{FinetuneSettings, GlueSweepModel, GlueSweepOptions, glue_task, run_glue_sweep};
pub use prefix::{MemberLm, PrefixGroup, ReuseStats};
pub use store::{Lookup, Merged, PointMeta, Record, ResultKey, Scanned, Store, merge_stores};
pub use summary::{NormConfig, TaskNorm};
pub use table::{Entry, combined_csv, combined_json, sort_entries, write_combined};

use crate::batching::BatchOptions;
use crate::eval::{EvalError, EvalOptions, evaluate_task, results_json};
use crate::lm::{LmError, Tokenize};
use crate::tasks;

/// Why a sweep or a merge failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Schedule(#[from] painters::ScheduleError),
    #[error("unknown experiment `{0}`")]
    UnknownExperiment(String),
    #[error("{0}")]
    Experiment(String),
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    /// A GLUE task given to a sweep of a decoder (Llama) model.
    #[error(
        "`{0}` is a GLUE task: GLUE sweeps fine-tune a BERT encoder, and this model is a decoder (Llama)"
    )]
    GlueTaskOnDecoder(String),
    /// An lm-eval task given to a GLUE sweep of a BERT model.
    #[error(
        "`{0}` is an lm-eval task, scored by a decoder's log-likelihoods; a BERT encoder is swept on GLUE tasks"
    )]
    LmTaskOnEncoder(String),
    /// A GLUE task's data could not be read.
    #[error("{task}: {source}")]
    GlueData {
        task: String,
        #[source]
        source: Box<painters_bert::glue::GlueDataError>,
    },
    /// Fine-tuning or evaluating one schedule on one GLUE task failed.
    #[error("{label} on {task}: {source}")]
    Finetune {
        label: String,
        task: String,
        #[source]
        source: Box<painters_bert::BertError>,
    },
    #[error("bad shard `{0}`: write it as i/n with 0 ≤ i < n (shards are counted from 0)")]
    BadShard(String),
    #[error("{label} on {task}: {source}")]
    Eval {
        label: String,
        task: String,
        #[source]
        source: Box<EvalError>,
    },
    #[error(transparent)]
    Write(#[from] EvalError),
    #[error(transparent)]
    Lm(#[from] LmError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a usable result file: {reason}", path.display())]
    InvalidRecord { path: PathBuf, reason: String },
    #[error("{} and {} hold different results for the same key: {detail}", a.display(), b.display())]
    Conflict {
        a: PathBuf,
        b: PathBuf,
        detail: String,
    },
    #[error("{} has no results/ folder; is it a sweep's --out folder?", .0.display())]
    NotASweep(PathBuf),
    #[error("the merged results mix {0}; merge the shards of one sweep at a time")]
    Mixed(String),
    #[error("stopped after {0} results (as asked)")]
    Stopped(usize),
}

/// `--shard i/n`: this process does the work units k with `k mod n == i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn owns(&self, unit: usize) -> bool {
        unit % self.count == self.index
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

impl FromStr for Shard {
    type Err = SweepError;
    fn from_str(s: &str) -> Result<Self, SweepError> {
        let bad = || SweepError::BadShard(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The lm-eval task `name`; a GLUE task name is [`SweepError::GlueTaskOnDecoder`], anything else
/// unknown [`SweepError::UnknownTask`].
pub fn lm_task(name: &str) -> Result<Box<dyn tasks::Task>, SweepError> {
    tasks::by_name(name).ok_or_else(|| {
        if painters_bert::finetune::GlueTask::from_name(name).is_some() {
            SweepError::GlueTaskOnDecoder(name.to_string())
        } else {
            SweepError::UnknownTask(name.to_string())
        }
    })
}

/// How a sweep runs.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// lm-eval task names.
    pub tasks: Vec<String>,
    /// The first N documents of each task.
    pub limit: Option<usize>,
    pub batch: BatchOptions,
    pub data_dir: PathBuf,
    /// The sweep folder: `results/` (the store), `results.json`, `results.csv`.
    pub out: PathBuf,
    pub shard: Shard,
    /// Compute common schedule prefixes once (groups of `group_size`); off: every schedule alone.
    pub prefix_reuse: bool,
    /// Schedules per prefix-sharing group (the most work a kill can lose).
    pub group_size: usize,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Print a line per result on stderr (for logs; the progress bar shows the same).
    pub verbose: bool,
    pub norm: NormConfig,
    /// Stop with [`SweepError::Stopped`] once this many results have been written (tests of
    /// resuming; a real interruption is a kill).
    pub stop_after: Option<usize>,
}

impl SweepOptions {
    /// Defaults for `tasks` writing into `out`: whole tasks, batch 16, prefix reuse in groups of 16,
    /// the default normalization, no progress bar.
    pub fn new(tasks: Vec<String>, out: PathBuf) -> Self {
        let norm = NormConfig::defaults_for(&tasks);
        SweepOptions {
            tasks,
            limit: None,
            batch: BatchOptions::default(),
            data_dir: PathBuf::from("data"),
            out,
            shard: Shard::ALL,
            prefix_reuse: true,
            group_size: 16,
            progress: false,
            verbose: false,
            norm,
            stop_after: None,
        }
    }
}

/// The model a sweep runs.
pub struct SweepModel<'a> {
    pub model: &'a LlamaModel,
    pub tokenizer: &'a dyn Tokenize,
    /// sha256 of the weight file (part of every result key).
    pub sha256: String,
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepReport {
    /// Results this shard owns (schedules × tasks, deduplicated).
    pub owned: usize,
    /// Results computed now.
    pub computed: usize,
    /// Results already stored and valid.
    pub skipped: usize,
    /// Stored results that were unusable and were redone.
    pub redone: usize,
    /// Results of the sweep's points present in the store at the end (all shards').
    pub present: usize,
    pub reuse: ReuseStats,
    pub seconds: f64,
}

/// One distinct (schedule, seed) of the sweep and the points that share it.
struct Item {
    schedule: LayerSchedule,
    text: String,
    seed: Option<i64>,
    points: Vec<usize>,
}

/// The distinct (schedule, seed) pairs of `points`, sorted by schedule steps (then seed).
fn items(points: &[SchedulePoint]) -> Vec<Item> {
    let mut by_key: BTreeMap<(String, Option<i64>), Item> = BTreeMap::new();
    for (i, p) in points.iter().enumerate() {
        let text = p.schedule.to_string();
        by_key
            .entry((text.clone(), p.seed))
            .or_insert_with(|| Item {
                schedule: p.schedule.clone(),
                text,
                seed: p.seed,
                points: Vec::new(),
            })
            .points
            .push(i);
    }
    let mut v: Vec<Item> = by_key.into_values().collect();
    v.sort_by(|a, b| {
        (a.schedule.steps(), a.seed, &a.text).cmp(&(b.schedule.steps(), b.seed, &b.text))
    });
    v
}

fn metas(points: &[SchedulePoint], idx: &[usize]) -> Vec<PointMeta> {
    let mut v: Vec<PointMeta> = idx.iter().map(|&i| points[i].meta()).collect();
    v.sort();
    v
}

fn progress_bar(len: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "sweep [{elapsed_precise}] {wide_bar} {pos}/{len} results, ETA {eta} {msg}",
    ) {
        pb.set_style(style);
    }
    pb
}

/// Run `points` × `opts.tasks` (this shard's part) on `model`, skipping stored results, then write
/// the folder's `results.json` and `results.csv` over every result of the points that is stored.
pub fn run_sweep(
    model: &SweepModel,
    points: &[SchedulePoint],
    opts: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    let started = Instant::now();
    let task_list: Vec<Box<dyn tasks::Task>> = opts
        .tasks
        .iter()
        .map(|t| lm_task(t))
        .collect::<Result<_, _>>()?;
    let items = items(points);
    let group = if opts.prefix_reuse {
        opts.group_size.max(1)
    } else {
        1
    };
    let groups: Vec<&[Item]> = items.chunks(group).collect();
    let store = Store::open(&opts.out)?;
    let key = |item: &Item, task: &str| ResultKey {
        model_sha256: model.sha256.clone(),
        schedule: item.text.clone(),
        task: task.to_string(),
        limit: opts.limit,
        seed: item.seed,
        finetune: None,
    };

    // This shard's units and, per unit, the members still to compute.
    let mut report = SweepReport::default();
    let mut todo: Vec<(usize, Vec<&Item>)> = Vec::new();
    let mut unit = 0;
    for (t, task) in opts.tasks.iter().enumerate() {
        for g in &groups {
            unit += 1;
            if !opts.shard.owns(unit - 1) {
                continue;
            }
            let mut pending = Vec::new();
            for item in g.iter() {
                if needs_compute(&store, &key(item, task), item, points, &mut report)? {
                    pending.push(item);
                }
            }
            if !pending.is_empty() {
                todo.push((t, pending));
            }
        }
    }

    let pb = progress_bar(report.owned, opts.progress);
    pb.set_position(report.skipped as u64);
    pb.reset_eta();
    let eval_opts = EvalOptions {
        limit: opts.limit,
        batch: opts.batch,
        log_samples: false,
        progress: false,
    };
    let layers = model.model.num_blocks();
    for (t, members) in todo {
        let task = task_list[t].as_ref();
        let task_name = &opts.tasks[t];
        let schedules: Vec<LayerSchedule> = members.iter().map(|i| i.schedule.clone()).collect();
        let group = PrefixGroup::new(model.model, model.tokenizer, &schedules)?;
        for (i, item) in members.iter().enumerate() {
            let first = &points[item.points[0]];
            pb.set_message(format!("{} on {task_name}", first.label));
            let lm = group.member(i);
            let r = evaluate_task(&lm, task, &opts.data_dir, &eval_opts).map_err(|e| {
                SweepError::Eval {
                    label: first.label.clone(),
                    task: task_name.clone(),
                    source: Box::new(e),
                }
            })?;
            let date = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let plan = painters::Plan::compile(&item.schedule, layers, painters::KvMode::Exact)?;
            let record = Record::new(
                key(item, task_name),
                metas(points, &item.points),
                layers,
                item.schedule.to_json()["steps"].clone(),
                json!(plan.stats()),
                results_json(std::slice::from_ref(&r), Map::new()),
                json!({
                    "seconds": r.seconds,
                    "group_members": members.len(),
                    "group_position": i,
                    "prefix_reuse": opts.prefix_reuse,
                    "batch_size": opts.batch.batch_size,
                    "data_dir": opts.data_dir,
                    "date": date,
                }),
            )
            .map_err(|reason| SweepError::InvalidRecord {
                path: store.path(&key(item, task_name)),
                reason,
            })?;
            store.write(&record)?;
            report.computed += 1;
            pb.inc(1);
            if opts.verbose {
                pb.suspend(|| eprintln!("{} on {task_name}: {:.1} s", first.label, r.seconds));
            }
            if opts.stop_after.is_some_and(|k| report.computed >= k) {
                pb.finish_and_clear();
                report.reuse.add(&group.stats());
                return Err(SweepError::Stopped(report.computed));
            }
        }
        report.reuse.add(&group.stats());
    }
    pb.finish_and_clear();

    // The folder's combined view of every stored result of these points (all shards').
    let entries = stored_entries(&store, points, &opts.tasks, |p, task| ResultKey {
        model_sha256: model.sha256.clone(),
        schedule: p.schedule.to_string(),
        task: task.clone(),
        limit: opts.limit,
        seed: p.seed,
        finetune: None,
    });
    report.present = entries.len();
    report.seconds = started.elapsed().as_secs_f64();
    let mut extra = Map::new();
    extra.insert(
        "sweep".into(),
        json!({
            "points": points.len(),
            "results_expected": points.len() * opts.tasks.len(),
            "results_present": report.present,
            "shard": format!("{}/{}", opts.shard.index, opts.shard.count),
            "owned": report.owned,
            "computed": report.computed,
            "skipped": report.skipped,
            "redone": report.redone,
            "prefix_reuse": opts.prefix_reuse,
            "group_size": group,
            "batch_size": opts.batch.batch_size,
            "seconds": report.seconds,
        }),
    );
    extra.insert("reuse".into(), reuse_json(&report.reuse));
    write_combined(&opts.out, &entries, &opts.norm, extra)?;
    Ok(report)
}

/// Whether the result `k` of `item` (one of this shard's) must be computed: missing, or stored but
/// unusable. Counts it in `report`, and a valid stored result is given any of `item`'s points it
/// lacks (a point added to a sweep that equals a stored schedule).
fn needs_compute(
    store: &Store,
    k: &ResultKey,
    item: &Item,
    points: &[SchedulePoint],
    report: &mut SweepReport,
) -> Result<bool, SweepError> {
    report.owned += 1;
    match store.lookup(k) {
        Lookup::Valid(rec) => {
            report.skipped += 1;
            let want = metas(points, &item.points);
            if want.iter().any(|p| !rec.points.contains(p)) {
                store.write(&(*rec).with_points(&want))?;
            }
            Ok(false)
        }
        Lookup::Invalid(why) => {
            eprintln!("redoing {}: {why}", store.path(k).display());
            report.redone += 1;
            Ok(true)
        }
        Lookup::Missing => Ok(true),
    }
}

/// Every valid stored result of `points` × `tasks` (any shard's), keyed by `key`, as table entries
/// in task-major order: what a sweep's `results.json` and report are built from.
fn stored_entries<T>(
    store: &Store,
    points: &[SchedulePoint],
    tasks: &[T],
    key: impl Fn(&SchedulePoint, &T) -> ResultKey,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    for task in tasks {
        for p in points {
            if let Lookup::Valid(record) = store.lookup(&key(p, task)) {
                entries.push(Entry {
                    point: p.meta(),
                    record: *record,
                });
            }
        }
    }
    entries
}

/// The reuse figures as JSON (with the saved counts and fraction).
pub fn reuse_json(r: &ReuseStats) -> Value {
    let mut v = json!(r);
    v["block_applications_saved"] = json!(r.saved());
    v["token_block_applications_saved_fraction"] = json!(r.saved_fraction());
    v
}

/// One line for stderr.
pub fn reuse_line(r: &ReuseStats) -> String {
    let frac = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            100.0 * (1.0 - a as f64 / b as f64)
        }
    };
    format!(
        "prefix reuse: {} of {} block applications run ({} saved, {:.1}%; {:.1}% of token-weighted compute) over {} forward passes",
        r.block_applications,
        r.block_applications_scratch,
        r.saved(),
        frac(r.block_applications, r.block_applications_scratch),
        100.0 * r.saved_fraction(),
        r.passes,
    )
}

/// What `painters merge` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub results: usize,
    pub duplicates: usize,
    pub rows: usize,
}

/// Join the result folders of `inputs` (shards of one sweep) into `out`: every result file copied
/// (points of equal duplicates joined), then `results.json` and `results.csv` over all of them.
pub fn merge(inputs: &[PathBuf], out: &Path, norm: &NormConfig) -> Result<MergeReport, SweepError> {
    let merged = merge_stores(inputs)?;
    let models: std::collections::BTreeSet<(String, Option<usize>, Option<String>)> = merged
        .records
        .values()
        .map(|(_, r)| {
            (
                r.key.model_sha256.clone(),
                r.key.limit,
                r.key.finetune.clone(),
            )
        })
        .collect();
    if models.len() > 1 {
        let list: Vec<String> = models
            .iter()
            .map(|(m, l, f)| {
                let mut s = format!("model {} with limit {l:?}", &m[..m.len().min(12)]);
                if let Some(f) = f {
                    s.push_str(&format!(" fine-tuned with {f}"));
                }
                s
            })
            .collect();
        return Err(SweepError::Mixed(list.join(" and ")));
    }
    let present: std::collections::BTreeSet<&str> = merged
        .records
        .values()
        .map(|(_, r)| r.key.task.as_str())
        .collect();
    let norm = NormConfig {
        tasks: norm
            .tasks
            .iter()
            .filter(|(t, _)| present.contains(t.as_str()))
            .map(|(t, n)| (t.clone(), n.clone()))
            .collect(),
    };
    let store = Store::open(out)?;
    let mut entries = Vec::new();
    for (_, rec) in merged.records.values() {
        store.write(rec)?;
        for p in &rec.points {
            entries.push(Entry {
                point: p.clone(),
                record: rec.clone(),
            });
        }
    }
    table::sort_entries(&mut entries);
    let rows = entries.iter().map(|e| e.record.metrics.len()).sum();
    let mut extra = Map::new();
    extra.insert(
        "merge".into(),
        json!({
            "inputs": inputs,
            "results": merged.records.len(),
            "duplicates": merged.duplicates,
        }),
    );
    write_combined(out, &entries, &norm, extra)?;
    Ok(MergeReport {
        results: merged.records.len(),
        duplicates: merged.duplicates,
        rows,
    })
}
