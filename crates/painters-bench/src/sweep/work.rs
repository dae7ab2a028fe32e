//! The machinery every sweep shares, whatever computes its results: the work list (distinct
//! schedules sorted by their steps), work units and shards, skipping what the store holds, the
//! progress bar, writing each result the moment it exists, stopping on request, and the
//! folder's combined view at the end.
//!
//! A kind of sweep ([`Sweeper`]: lm-eval tasks on a decoder, GLUE fine-tuning of an encoder) only
//! says how its results are keyed, how many schedules make a unit, and how a unit's missing
//! results are computed.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use painters::LayerSchedule;
use serde_json::{Map, Value, json};

use crate::progress::Progress;
use crate::sweep::error::SweepError;
use crate::sweep::experiments::SchedulePoint;
use crate::sweep::prefix::ReuseStats;
use crate::sweep::store::{Lookup, OLD_RECORD_FORMAT, PointMeta, Record, ResultKey, Store};
use crate::sweep::table::Entry;

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
    /// Block applications saved by prefix reuse (decoder sweeps).
    pub reuse: ReuseStats,
    /// Stored results of this shard's schedules and tasks made under another key (other data,
    /// settings, scoring code, or an older file format): set aside, recomputed.
    pub not_reused: usize,
    /// The settings part of this sweep's keys ([`ResultKey::settings`]).
    pub settings: String,
    /// Each task's data digest ([`ResultKey::data`]), by task name.
    pub data: BTreeMap<String, String>,
    pub seconds: f64,
}

/// One distinct (schedule, seed) of the sweep and the points that share it.
pub struct Item {
    pub schedule: LayerSchedule,
    /// The schedule's canonical text (part of the result key).
    pub text: String,
    pub seed: Option<i64>,
    /// Indices of the points this item stands for.
    pub points: Vec<usize>,
}

impl Item {
    /// The label of the item's first point (for progress lines), else its schedule.
    pub fn label<'a>(&'a self, points: &'a [SchedulePoint]) -> &'a str {
        self.points
            .first()
            .and_then(|&i| points.get(i))
            .map_or(self.text.as_str(), |p| p.label.as_str())
    }

    /// The sorted metadata of the item's points, as result files list them.
    pub fn metas(&self, points: &[SchedulePoint]) -> Vec<PointMeta> {
        let mut v: Vec<PointMeta> = self.points.iter().map(|&i| points[i].meta()).collect();
        v.sort();
        v
    }
}

/// The distinct (schedule, seed) pairs of `points`, sorted by schedule steps (then seed), so that
/// schedules with long common prefixes are neighbours.
pub fn items(points: &[SchedulePoint]) -> Vec<Item> {
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

/// Where a sweep writes and how it shows progress, whatever kind it is.
#[derive(Clone, Copy, Debug)]
pub struct Control<'a> {
    /// The sweep folder (`results/` is the store).
    pub out: &'a Path,
    pub shard: Shard,
    /// Show progress on stderr (a bar on a terminal, else a line at a steady interval).
    pub progress: bool,
    /// Print a line per result on stderr.
    pub verbose: bool,
    /// Stop with [`SweepError::Stopped`] once this many results have been written.
    pub stop_after: Option<usize>,
}

/// Where a [`Sweeper`] hands the results of a unit, one by one.
pub trait ResultSink {
    /// `label` is being computed (the progress display says so).
    fn starting(&mut self, label: &str);
    /// `done` of `total` `unit` (documents, training steps) of the result under way are done.
    fn step(&mut self, _done: usize, _total: usize, _unit: &str) {}
    /// A result exists: it is written now. [`ControlFlow::Break`] asks the sweeper to stop.
    fn finished(
        &mut self,
        record: Record,
        label: &str,
        seconds: f64,
    ) -> Result<ControlFlow<()>, SweepError>;
}

/// One kind of sweep: how its results are keyed and computed.
pub trait Sweeper {
    /// The number of tasks (units are task-major: every group of the first task, then the next).
    fn task_count(&self) -> usize;
    /// The key of the result of `schedule` (canonical text) with `seed` on task `t`.
    fn key(&self, schedule: &str, seed: Option<i64>, t: usize) -> ResultKey;
    /// Schedules per work unit (at least 1).
    fn group_size(&self) -> usize;
    /// Called once with every unit that has work, before any is computed (to fail early on
    /// missing data, or to read each task's data once).
    fn prepare(&mut self, _todo: &[(usize, Vec<&Item>)]) -> Result<(), SweepError> {
        Ok(())
    }
    /// Compute the `members` (a unit's missing results) on task `t` and hand each to `sink` as
    /// soon as it exists; return early when the sink says stop.
    fn compute(
        &mut self,
        t: usize,
        members: &[&Item],
        points: &[SchedulePoint],
        sink: &mut dyn ResultSink,
    ) -> Result<(), SweepError>;
}

/// What [`drive`] leaves for the caller: the counts, the store, and every stored result of the
/// points (all shards'), in task-major order.
pub struct Driven {
    pub report: SweepReport,
    pub store: Store,
    pub entries: Vec<Entry>,
}

/// Run this shard's part of `points` × the sweeper's tasks: skip valid stored results, compute
/// the rest unit by unit, write each the moment it exists.
pub fn drive(
    sweeper: &mut dyn Sweeper,
    points: &[SchedulePoint],
    ctl: Control,
) -> Result<Driven, SweepError> {
    let started = Instant::now();
    let items = items(points);
    let store = Store::open(ctl.out)?;
    let groups: Vec<&[Item]> = items.chunks(sweeper.group_size().max(1)).collect();

    // This shard's units and, per unit, the members still to compute.
    let mut report = SweepReport::default();
    let mut todo: Vec<(usize, Vec<&Item>)> = Vec::new();
    let mut missing: BTreeMap<(String, String, Option<i64>), ResultKey> = BTreeMap::new();
    let mut unit = 0;
    for t in 0..sweeper.task_count() {
        for g in &groups {
            unit += 1;
            if !ctl.shard.owns(unit - 1) {
                continue;
            }
            let mut pending = Vec::new();
            for item in g.iter() {
                let k = sweeper.key(&item.text, item.seed, t);
                if needs_compute(&store, &k, item, points, &mut report)? {
                    pending.push(item);
                    missing.insert((k.schedule.clone(), k.task.clone(), k.seed), k);
                }
            }
            if !pending.is_empty() {
                todo.push((t, pending));
            }
        }
    }
    report.not_reused = not_reused(&store, &missing)?;
    sweeper.prepare(&todo)?;

    let pb = Progress::new("sweep", report.owned, "results", ctl.progress);
    pb.skip(report.skipped);
    let mut sink = Sink {
        store: &store,
        pb: &pb,
        ctl,
        computed: 0,
        stopped: false,
        label: String::new(),
    };
    for (t, members) in todo {
        sweeper.compute(t, &members, points, &mut sink)?;
        if sink.stopped {
            return Err(SweepError::Stopped(sink.computed));
        }
    }
    report.computed = sink.computed;
    drop(pb);

    let mut entries = Vec::new();
    for t in 0..sweeper.task_count() {
        for p in points {
            let k = sweeper.key(&p.schedule.to_string(), p.seed, t);
            if let Lookup::Valid(record) = store.lookup(&k) {
                entries.push(Entry {
                    point: p.meta(),
                    record: *record,
                });
            }
        }
    }
    report.present = entries.len();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(Driven {
        report,
        store,
        entries,
    })
}

/// The `sweep` section of a folder's `results.json`: what this run did, with the kind's own
/// entries `first` (before the counts) and `settings` (after them, before the time).
pub fn sweep_section(
    report: &SweepReport,
    (points, tasks): (usize, usize),
    shard: Shard,
    first: &[(&str, Value)],
    settings: &[(&str, Value)],
) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    for (k, v) in first {
        put(k, v.clone());
    }
    put("points", json!(points));
    put("results_expected", json!(points * tasks));
    put("results_present", json!(report.present));
    put("shard", json!(format!("{}/{}", shard.index, shard.count)));
    put("owned", json!(report.owned));
    put("computed", json!(report.computed));
    put("skipped", json!(report.skipped));
    put("redone", json!(report.redone));
    put("not_reused", json!(report.not_reused));
    for (k, v) in settings {
        put(k, v.clone());
    }
    put("seconds", json!(report.seconds));
    Value::Object(m)
}

struct Sink<'a> {
    store: &'a Store,
    pb: &'a Progress,
    ctl: Control<'a>,
    computed: usize,
    stopped: bool,
    /// The result under way.
    label: String,
}

impl ResultSink for Sink<'_> {
    fn starting(&mut self, label: &str) {
        self.label = label.to_string();
        self.pb.set_message(label.to_string());
    }

    fn step(&mut self, done: usize, total: usize, unit: &str) {
        self.pb
            .set_message(format!("{}: {done}/{total} {unit}", self.label));
    }

    fn finished(
        &mut self,
        record: Record,
        label: &str,
        seconds: f64,
    ) -> Result<ControlFlow<()>, SweepError> {
        self.store.write(&record)?;
        self.computed += 1;
        self.pb.inc(1);
        if self.ctl.verbose {
            self.pb.println(&format!("{label}: {seconds:.1} s"));
        }
        if self.ctl.stop_after.is_some_and(|k| self.computed >= k) {
            self.stopped = true;
            return Ok(ControlFlow::Break(()));
        }
        Ok(ControlFlow::Continue(()))
    }
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
            let want = item.metas(points);
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

/// Stored results of the `missing` results' schedules and tasks under other keys, and result
/// files of an older format: never reused. Says so on stderr (how many, and which parts of the
/// key differ), and returns how many there are.
fn not_reused(
    store: &Store,
    missing: &BTreeMap<(String, String, Option<i64>), ResultKey>,
) -> Result<usize, SweepError> {
    if missing.is_empty() {
        return Ok(0);
    }
    let (mut other, mut old) = (0, 0);
    let mut fields = std::collections::BTreeSet::new();
    for (_, rec) in store.scan()? {
        match rec {
            Ok(r) => {
                let at = (r.key.schedule.clone(), r.key.task.clone(), r.key.seed);
                if let Some(want) = missing.get(&at) {
                    other += 1;
                    fields.extend(want.differences(&r.key));
                }
            }
            Err(why) if why.contains(OLD_RECORD_FORMAT) => old += 1,
            Err(_) => {}
        }
    }
    if other > 0 {
        let fields: Vec<&str> = fields.into_iter().collect();
        eprintln!(
            "note: {other} stored results of these schedules and tasks were computed with other {} \
             than this run's; they are kept, not reused: this run computes its own",
            fields.join(", ")
        );
    }
    if old > 0 {
        eprintln!(
            "note: {old} result files in {} were written by an older painters ({OLD_RECORD_FORMAT}) \
             and are not reused; delete them once this sweep is done",
            store.dir().display()
        );
    }
    Ok(other + old)
}
