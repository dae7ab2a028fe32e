//! Sweeps of a decoder on lm-eval tasks: every schedule scored on every task, the schedules of a
//! work unit evaluated as one [`PrefixGroup`] so that their shared leading steps run once.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use painters::LayerSchedule;
use painters_llama::LlamaModel;
use serde_json::{Map, Value, json};

use crate::batching::BatchOptions;
use crate::eval::{EvalOptions, evaluate_loaded, results_json};
use crate::lm::Tokenize;
use crate::score::SCORING_VERSION;
use crate::sweep::error::SweepError;
use crate::sweep::experiments::SchedulePoint;
use crate::sweep::prefix::{PrefixGroup, ReuseStats};
use crate::sweep::store::{Record, ResultKey};
use crate::sweep::summary::NormConfig;
use crate::sweep::table::write_combined;
use crate::sweep::work::{
    Control, Item, ResultSink, Shard, SweepReport, Sweeper, drive, sweep_section,
};
use crate::tasks::{self, Loaded};

/// The lm-eval task `name`; a GLUE task name is [`SweepError::GlueTaskOnDecoder`], anything else
/// unknown [`SweepError::UnknownTask`].
pub fn lm_task(name: &str) -> Result<Box<dyn tasks::Task>, SweepError> {
    tasks::by_name(name).ok_or_else(|| {
        if crate::glue::GlueTask::from_name(name).is_some() {
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

/// The settings of lm-eval scoring that can change a number besides the model, schedule, task
/// and data, as [`ResultKey::settings`] records them.
pub fn scoring_settings(weights: impl std::fmt::Display, batch: &BatchOptions) -> String {
    format!(
        "weights={weights} batch={} max_batch_tokens={} shared_prefix={} kv=exact",
        batch.batch_size,
        batch.max_batch_tokens,
        batch
            .min_saved_tokens
            .map_or_else(|| "off".to_string(), |n| n.to_string()),
    )
}

/// The decoder sweep's way of keying and computing results.
struct LmSweeper<'a> {
    model: &'a SweepModel<'a>,
    opts: &'a SweepOptions,
    tasks: Vec<Box<dyn tasks::Task>>,
    /// Every task's documents, read once (they are what the results are keyed by).
    loaded: Vec<Loaded>,
    /// Their digests.
    data: Vec<String>,
    settings: String,
    eval: EvalOptions,
    reuse: ReuseStats,
}

impl Sweeper for LmSweeper<'_> {
    fn task_count(&self) -> usize {
        self.tasks.len()
    }

    fn key(&self, schedule: &str, seed: Option<i64>, t: usize) -> ResultKey {
        ResultKey {
            model_sha256: self.model.sha256.clone(),
            schedule: schedule.to_string(),
            task: self.opts.tasks[t].clone(),
            limit: self.opts.limit,
            seed,
            finetune: None,
            data: self.data[t].clone(),
            settings: self.settings.clone(),
            scoring: SCORING_VERSION,
        }
    }

    fn group_size(&self) -> usize {
        if self.opts.prefix_reuse {
            self.opts.group_size.max(1)
        } else {
            1
        }
    }

    fn compute(
        &mut self,
        t: usize,
        members: &[&Item],
        points: &[SchedulePoint],
        sink: &mut dyn ResultSink,
    ) -> Result<(), SweepError> {
        let task = self.tasks[t].as_ref();
        let task_name = &self.opts.tasks[t];
        let layers = self.model.model.num_blocks();
        let schedules: Vec<LayerSchedule> = members.iter().map(|i| i.schedule.clone()).collect();
        let group = PrefixGroup::new(self.model.model, self.model.tokenizer, &schedules)?;
        for (i, item) in members.iter().enumerate() {
            let label = format!("{} on {task_name}", item.label(points));
            sink.starting(&label);
            let lm = group.member(i);
            let r = evaluate_loaded(&lm, task, &self.loaded[t], &self.eval, None, &mut |_| {
                ControlFlow::Continue(())
            })
            .map_err(|e| SweepError::Eval {
                label: item.label(points).to_string(),
                task: task_name.clone(),
                source: Box::new(e),
            })?;
            let date = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let plan = painters::Plan::compile(&item.schedule, layers, painters::KvMode::Exact)?;
            let key = self.key(&item.text, item.seed, t);
            let path = PathBuf::from(key.file_name());
            let record = Record::new(
                key,
                item.metas(points),
                layers,
                item.schedule.to_json()["steps"].clone(),
                json!(plan.stats()),
                results_json(std::slice::from_ref(&r), Map::new()),
                json!({
                    "seconds": r.seconds,
                    "group_members": members.len(),
                    "group_position": i,
                    "prefix_reuse": self.opts.prefix_reuse,
                    "batch_size": self.opts.batch.batch_size,
                    "data_dir": self.opts.data_dir,
                    "data_file": self.loaded[t].path,
                    "painters_version": env!("CARGO_PKG_VERSION"),
                    "date": date,
                }),
            )
            .map_err(|reason| SweepError::InvalidRecord { path, reason })?;
            if sink.finished(record, &label, r.seconds)?.is_break() {
                break;
            }
        }
        self.reuse.add(&group.stats());
        Ok(())
    }
}

/// Run `points` × `opts.tasks` (this shard's part) on `model`, skipping stored results, then write
/// the folder's `results.json` and `results.csv` over every result of the points that is stored.
pub fn run_sweep(
    model: &SweepModel,
    points: &[SchedulePoint],
    opts: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    let tasks: Vec<Box<dyn tasks::Task>> = opts
        .tasks
        .iter()
        .map(|t| lm_task(t))
        .collect::<Result<_, _>>()?;
    let mut loaded = Vec::new();
    for (task, name) in tasks.iter().zip(&opts.tasks) {
        loaded.push(
            task.load(&opts.data_dir, opts.limit)
                .map_err(|e| SweepError::Eval {
                    label: "reading the data".into(),
                    task: name.clone(),
                    source: Box::new(e.into()),
                })?,
        );
    }
    let data: Vec<String> = tasks
        .iter()
        .zip(&loaded)
        .map(|(t, l)| l.digest(&t.info()))
        .collect();
    let mut sweeper = LmSweeper {
        model,
        opts,
        tasks,
        loaded,
        data,
        settings: scoring_settings(model.model.weights_key(), &opts.batch),
        eval: EvalOptions {
            limit: opts.limit,
            batch: opts.batch,
            log_samples: false,
            progress: false,
        },
        reuse: ReuseStats::default(),
    };
    let group = sweeper.group_size();
    let ctl = Control {
        out: &opts.out,
        shard: opts.shard,
        progress: opts.progress,
        verbose: opts.verbose,
        stop_after: opts.stop_after,
    };
    let driven = drive(&mut sweeper, points, ctl)?;
    let mut report = driven.report;
    report.reuse = sweeper.reuse;
    report.settings = sweeper.settings.clone();
    report.data = opts.tasks.iter().cloned().zip(sweeper.data).collect();
    let mut extra = Map::new();
    extra.insert(
        "sweep".into(),
        sweep_section(
            &report,
            (points.len(), opts.tasks.len()),
            opts.shard,
            &[],
            &[
                ("prefix_reuse", json!(opts.prefix_reuse)),
                ("group_size", json!(group)),
                ("batch_size", json!(opts.batch.batch_size)),
                ("settings", json!(report.settings)),
                ("scoring_version", json!(SCORING_VERSION)),
                ("data_sha256", json!(report.data)),
            ],
        ),
    );
    extra.insert("reuse".into(), reuse_json(&report.reuse));
    write_combined(&opts.out, &driven.entries, &opts.norm, extra)?;
    Ok(report)
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
