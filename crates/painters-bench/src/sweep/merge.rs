//! Joining the result folders of a sweep's shards (`painters merge`).

use std::path::{Path, PathBuf};

use serde_json::{Map, json};

use crate::io::check_folder_writable;
use crate::sweep::error::SweepError;
use crate::sweep::store::{Store, merge_stores};
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
