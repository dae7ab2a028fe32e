//! Reading a sweep folder's results for a report: which results belong to the sweep reported,
//! which are set aside.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::report::sweep::error::SweepReportError;
use crate::sweep::{Entry, Record, Store};

/// Which results of a folder to report (a folder may hold several sweeps' results).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultFilter {
    /// Only this model's results.
    pub model_sha256: Option<String>,
    /// Only results with this `--limit` (`Some(None)`: whole tasks).
    pub limit: Option<Option<usize>>,
    /// Only these tasks (results of other tasks are set aside).
    pub tasks: Option<BTreeSet<String>>,
    /// Only results with these fine-tuning settings ([`ResultKey::finetune`](crate::sweep::ResultKey::finetune);
    /// `Some(None)`: lm-eval results only).
    pub finetune: Option<Option<String>>,
    /// Only results with these settings ([`ResultKey::settings`](crate::sweep::ResultKey::settings)).
    pub settings: Option<String>,
    /// Only results of this scoring version.
    pub scoring: Option<u32>,
    /// Only results of these documents, by task ([`ResultKey::data`](crate::sweep::ResultKey::data));
    /// a task not named here takes the data most of its results have.
    pub data: Option<BTreeMap<String, String>>,
}

/// The results of a sweep folder, ready to report.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// One per schedule point and task, the full model first.
    pub entries: Vec<Entry>,
    /// Files that could not be used, with why (reported, not fatal).
    pub unusable: Vec<(PathBuf, String)>,
    /// Valid results set aside: another model, `--limit` or task than the reported ones.
    pub set_aside: usize,
}

/// Read the results under `dir/results/` with the store's reader. Results of other models, limits,
/// tasks, settings or scoring versions than `filter` asks are set aside; without a filter, when the
/// folder mixes several (model, limit, fine-tuning settings, settings, scoring version), the one
/// with the most results is reported and the others are set aside. Within it, each task's results
/// of one data digest are reported (the filter's, else the one with the most results).
pub fn load_results(dir: &Path, filter: &ResultFilter) -> Result<Loaded, SweepReportError> {
    let store = Store::at(dir);
    if !store.dir().is_dir() {
        return Err(SweepReportError::NotASweep(dir.to_path_buf()));
    }
    let mut loaded = Loaded::default();
    let mut records: Vec<Record> = Vec::new();
    for (path, rec) in store.scan()? {
        match rec {
            Ok(r) => records.push(r),
            Err(why) => loaded.unusable.push((path, why)),
        }
    }
    let keep = |r: &Record| {
        filter
            .model_sha256
            .as_ref()
            .is_none_or(|m| *m == r.key.model_sha256)
            && filter.limit.is_none_or(|l| l == r.key.limit)
            && filter
                .tasks
                .as_ref()
                .is_none_or(|t| t.contains(&r.key.task))
            && filter
                .finetune
                .as_ref()
                .is_none_or(|f| *f == r.key.finetune)
            && filter
                .settings
                .as_ref()
                .is_none_or(|s| *s == r.key.settings)
            && filter.scoring.is_none_or(|v| v == r.key.scoring)
    };
    let mut groups: BTreeMap<_, usize> = BTreeMap::new();
    for r in records.iter().filter(|r| keep(r)) {
        *groups.entry(r.key.sweep_shape()).or_default() += 1;
    }
    let chosen = groups
        .iter()
        .max_by_key(|(k, n)| (**n, std::cmp::Reverse((*k).clone())))
        .map(|(k, _)| k.clone());
    let in_group =
        |r: &Record| keep(r) && chosen.as_ref().is_some_and(|g| *g == r.key.sweep_shape());
    // Each task's data: the filter's, else the digest most of the group's results of it have.
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in records.iter().filter(|r| in_group(r)) {
        *counts
            .entry((r.key.task.clone(), r.key.data.clone()))
            .or_default() += 1;
    }
    let mut data: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for ((task, digest), n) in counts {
        let slot = data.entry(task).or_insert((0, String::new()));
        if n > slot.0 {
            *slot = (n, digest);
        }
    }
    let data_of = |task: &str| -> Option<String> {
        filter
            .data
            .as_ref()
            .and_then(|d| d.get(task).cloned())
            .or_else(|| data.get(task).map(|(_, d)| d.clone()))
    };
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for r in records {
        let ours = in_group(&r) && data_of(&r.key.task).is_some_and(|d| d == r.key.data);
        if !ours {
            loaded.set_aside += 1;
            continue;
        }
        for p in &r.points {
            if seen.insert((p.label.clone(), r.key.task.clone())) {
                loaded.entries.push(Entry {
                    point: p.clone(),
                    record: r.clone(),
                });
            }
        }
    }
    crate::sweep::sort_entries(&mut loaded.entries);
    Ok(loaded)
}
