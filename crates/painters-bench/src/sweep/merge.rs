//! Joining the result folders of a sweep's shards (`painters merge`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, json};

use crate::io::check_folder_writable;
use crate::sweep::error::SweepError;
use crate::sweep::store::{Merged, Store, merge_stores};
use crate::sweep::summary::NormConfig;
use crate::sweep::table::{self, Entry, write_combined};

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
    check_folder_writable(out)?;
    check_folder_writable(&out.join("results"))?;
    let merged = merge_stores(inputs)?;
    mixed(&merged)?;
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

/// Refuse results that are not one sweep's: every result must share the model, weights and
/// other settings, limit, fine-tuning settings and scoring version, and the results of one task
/// its data. The error names every combination found.
fn mixed(merged: &Merged) -> Result<(), SweepError> {
    let shapes: BTreeSet<_> = merged
        .records
        .values()
        .map(|(_, r)| r.key.sweep_shape())
        .collect();
    if shapes.len() > 1 {
        let list: Vec<String> = shapes
            .iter()
            .map(|(m, l, f, settings, scoring)| {
                let mut s = format!(
                    "model {} with limit {l:?}, {settings}, scoring version {scoring}",
                    &m[..m.len().min(12)]
                );
                if let Some(f) = f {
                    s.push_str(&format!(", fine-tuned with {f}"));
                }
                s
            })
            .collect();
        return Err(SweepError::Mixed(list.join(" and ")));
    }
    let mut data: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (_, r) in merged.records.values() {
        data.entry(&r.key.task).or_default().insert(&r.key.data);
    }
    let differing: Vec<String> = data
        .iter()
        .filter(|(_, d)| d.len() > 1)
        .map(|(task, d)| {
            let digests: Vec<&str> = d.iter().map(|x| &x[..x.len().min(12)]).collect();
            format!("{task} results of different data ({})", digests.join(", "))
        })
        .collect();
    if !differing.is_empty() {
        return Err(SweepError::Mixed(differing.join("; ")));
    }
    Ok(())
}
