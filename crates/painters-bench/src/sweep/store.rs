//! The results store: one JSON file per key — everything that can change a result: the model file
//! and how its weights are stored, the schedule, the task and its documents as read, the limit,
//! the seed, the batching (or fine-tuning) settings and the scoring code's version — named by a
//! hash of that key, written atomically as soon as the result exists.
//!
//! A sweep that is stopped (killed, crashed, out of time) and started again skips every key whose
//! file is present *and valid*; a file that does not parse, names another key, or lacks its metrics is
//! redone, never trusted. A result of the same schedule and task under another key (other data,
//! settings or scoring code) is never found by a lookup, so it is recomputed; the sweep says how
//! many such results it set aside. Temporary files of interrupted writes (`.NAME.PID.tmp`) are
//! ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::SweepError;
use crate::io::write_atomic;

/// `format` of a result file.
pub const RECORD_FORMAT: &str = "painters-sweep-result/2";

/// The format of result files whose keys had no data digest, settings or scoring version; they
/// cannot be checked, so they are never reused.
pub const OLD_RECORD_FORMAT: &str = "painters-sweep-result/1";

/// What identifies one result.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResultKey {
    /// sha256 of the model's weight file.
    pub model_sha256: String,
    /// The schedule's canonical text (`LayerSchedule`'s `Display`).
    pub schedule: String,
    pub task: String,
    /// `--limit` (first N documents), `None` for the whole task.
    pub limit: Option<usize>,
    /// The point's seed (the random variant's), `None` otherwise.
    pub seed: Option<i64>,
    /// GLUE sweeps: every fine-tuning setting that changes the result, as the canonical text of
    /// [`FinetuneSettings::fingerprint`](super::glue::FinetuneSettings::fingerprint) (epochs,
    /// learning rate, batch size, max length, warmup, optimiser constants, mode, seed, train subset);
    /// `None` for lm-eval results, which are not trained.
    ///
    /// It is part of the key, so of the hash and the file name: a result fine-tuned one way is
    /// never found by a lookup for another (a changed `--epochs` is a different key, hence a new
    /// computation), and [`Store::lookup`] still compares the whole key read back from the file.
    /// Absent (`None`) it is left out of the key's JSON and of [`Self::canonical`], so lm-eval keys
    /// and the hashes of every result stored before this field existed are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune: Option<String>,
    /// The sha256 of the task's documents as read ([`Loaded::digest`](crate::tasks::Loaded::digest)
    /// for lm-eval tasks; the training and dev examples used for GLUE): a changed data file or
    /// data folder is a new key.
    pub data: String,
    /// Every other setting that can change a number, as canonical text: the weight mode, batch
    /// size, batch token budget, shared-prefix threshold and KV mode of lm-eval scoring
    /// (`weights=f32 batch=16 max_batch_tokens=8192 shared_prefix=32 kv=exact`); the weight mode
    /// of a GLUE result (its fine-tuning settings are [`Self::finetune`]).
    pub settings: String,
    /// [`SCORING_VERSION`](crate::score::SCORING_VERSION) of the code that computed the result.
    pub scoring: u32,
}

impl ResultKey {
    /// The key as compact JSON with a fixed field order: the text that is hashed.
    pub fn canonical(&self) -> String {
        let mut key = json!({
            "model_sha256": self.model_sha256,
            "schedule": self.schedule,
            "task": self.task,
            "limit": self.limit,
            "seed": self.seed,
        });
        if let Some(f) = &self.finetune {
            key["finetune"] = json!(f);
        }
        key["data"] = json!(self.data);
        key["settings"] = json!(self.settings);
        key["scoring"] = json!(self.scoring);
        key.to_string()
    }

    /// The parts of the key that differ from `other`'s, by field name (to say why a stored result
    /// of the same schedule and task is not reused).
    pub fn differences(&self, other: &ResultKey) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |differs: bool, name: &'static str| {
            if differs {
                out.push(name);
            }
        };
        check(self.model_sha256 != other.model_sha256, "model");
        check(self.schedule != other.schedule, "schedule");
        check(self.task != other.task, "task");
        check(self.limit != other.limit, "limit");
        check(self.seed != other.seed, "seed");
        check(self.finetune != other.finetune, "fine-tuning settings");
        check(self.data != other.data, "data");
        check(self.settings != other.settings, "settings");
        check(self.scoring != other.scoring, "scoring version");
        out
    }

    /// The key without what varies between the results of one sweep (schedule, seed, task, data):
    /// what the results of one sweep share.
    pub fn sweep_shape(&self) -> (String, Option<usize>, Option<String>, String, u32) {
        (
            self.model_sha256.clone(),
            self.limit,
            self.finetune.clone(),
            self.settings.clone(),
            self.scoring,
        )
    }

    /// The first 128 bits of the sha256 of [`Self::canonical`], as 32 lowercase hex digits. Stable
    /// across runs, machines and versions of this crate (changing it would orphan stored results).
    pub fn hash(&self) -> String {
        let d = Sha256::digest(self.canonical().as_bytes());
        d[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `<hash>.json`.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.hash())
    }
}

/// A schedule point as result files record it (a [`super::SchedulePoint`] without the schedule).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PointMeta {
    pub label: String,
    pub variant: String,
    pub n: Option<usize>,
    pub m: Option<usize>,
    pub seed: Option<i64>,
    pub loops: Option<usize>,
}

/// One metric of one task, read back from a result file.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricValue {
    pub metric: String,
    pub filter: String,
    pub value: f64,
    pub stderr: Option<f64>,
}

impl MetricValue {
    /// `"metric,filter"`, lm-eval's key.
    pub fn key(&self) -> String {
        format!("{},{}", self.metric, self.filter)
    }
}

/// A stored result, validated.
#[derive(Clone, Debug)]
pub struct Record {
    pub key: ResultKey,
    /// Every schedule point of the sweeps that produced or reused this result.
    pub points: Vec<PointMeta>,
    /// The model's block count.
    pub layers: usize,
    pub metrics: Vec<MetricValue>,
    /// The whole file.
    pub json: Value,
}

impl Record {
    /// Build the file's JSON. `evaluation` is the lm-eval-shaped results object of the one task.
    pub fn new(
        key: ResultKey,
        points: Vec<PointMeta>,
        layers: usize,
        steps: Value,
        plan: Value,
        evaluation: Value,
        computed: Value,
    ) -> Result<Self, String> {
        let json = json!({
            "format": RECORD_FORMAT,
            "key": key,
            "key_hash": key.hash(),
            "points": points,
            "layers": layers,
            "steps": steps,
            "plan": plan,
            "evaluation": evaluation,
            "computed": computed,
        });
        Self::from_json(json)
    }

    /// Validate a parsed file.
    pub fn from_json(json: Value) -> Result<Self, String> {
        if json["format"] == OLD_RECORD_FORMAT {
            return Err(format!(
                "written by an older painters ({OLD_RECORD_FORMAT}), whose keys did not cover the \
                 data, settings and scoring code; it cannot be checked, so it is not reused \
                 (a sweep recomputes it; delete the file)"
            ));
        }
        if json["format"] != RECORD_FORMAT {
            return Err(format!(
                "format is {}, expected \"{RECORD_FORMAT}\"",
                json["format"]
            ));
        }
        let key: ResultKey =
            serde_json::from_value(json["key"].clone()).map_err(|e| format!("key: {e}"))?;
        if json["key_hash"] != key.hash() {
            return Err(format!(
                "key_hash {} is not the hash of its key ({})",
                json["key_hash"],
                key.hash()
            ));
        }
        let points: Vec<PointMeta> =
            serde_json::from_value(json["points"].clone()).map_err(|e| format!("points: {e}"))?;
        let layers = json["layers"]
            .as_u64()
            .ok_or("layers is missing or not a count")? as usize;
        let metrics = parse_metrics(&json["evaluation"]["results"][&key.task])
            .map_err(|e| format!("evaluation.results.{}: {e}", key.task))?;
        Ok(Record {
            key,
            points,
            layers,
            metrics,
            json,
        })
    }

    /// The value of `"metric,filter"`.
    pub fn metric(&self, key: &str) -> Option<&MetricValue> {
        self.metrics.iter().find(|m| m.key() == key)
    }

    /// Whether two results of the same key agree: the same metrics, each value and standard error
    /// within 1e-6 relative (1e-6 absolute below 1). Shards computed on different machines may
    /// differ by float rounding; anything larger is a conflict.
    pub fn agrees_with(&self, other: &Record) -> Result<(), String> {
        if self.key != other.key {
            return Err("different keys".into());
        }
        let close = |a: f64, b: f64| {
            (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
                || (!a.is_finite() && !b.is_finite())
        };
        if self.metrics.len() != other.metrics.len() {
            return Err(format!(
                "{} metrics vs {}",
                self.metrics.len(),
                other.metrics.len()
            ));
        }
        for a in &self.metrics {
            let b = other
                .metric(&a.key())
                .ok_or_else(|| format!("{} missing in one of them", a.key()))?;
            let se = match (a.stderr, b.stderr) {
                (Some(x), Some(y)) => close(x, y),
                (None, None) => true,
                _ => false,
            };
            if !close(a.value, b.value) || !se {
                return Err(format!(
                    "{}: {} ± {:?} vs {} ± {:?}",
                    a.key(),
                    a.value,
                    a.stderr,
                    b.value,
                    b.stderr
                ));
            }
        }
        Ok(())
    }

    /// The record with `more` points added (kept sorted and unique).
    pub fn with_points(mut self, more: &[PointMeta]) -> Self {
        let mut all: Vec<PointMeta> = self.points.iter().chain(more).cloned().collect();
        all.sort();
        all.dedup();
        self.json["points"] = json!(all);
        self.points = all;
        self
    }
}

/// Metrics of one task's section of lm-eval's `results`: `"metric,filter"` numbers with their
/// `"metric_stderr,filter"` (a number or `"N/A"`).
fn parse_metrics(section: &Value) -> Result<Vec<MetricValue>, String> {
    let obj = section.as_object().ok_or("missing or not an object")?;
    let mut out = Vec::new();
    for (k, v) in obj {
        let Some((metric, filter)) = k.split_once(',') else {
            continue;
        };
        if metric.ends_with("_stderr") {
            continue;
        }
        // JSON has no infinity: an overflowing perplexity is written as null.
        let value = match v {
            Value::Null => f64::NAN,
            v => v
                .as_f64()
                .ok_or_else(|| format!("{k} is not a number: {v}"))?,
        };
        let stderr = obj
            .get(&format!("{metric}_stderr,{filter}"))
            .and_then(Value::as_f64);
        out.push(MetricValue {
            metric: metric.into(),
            filter: filter.into(),
            value,
            stderr,
        });
    }
    if out.is_empty() {
        return Err("no metrics".into());
    }
    Ok(out)
}

/// What [`Store::lookup`] found for a key.
#[derive(Debug)]
pub enum Lookup {
    Missing,
    Valid(Box<Record>),
    /// Present but unusable (why); the result is redone.
    Invalid(String),
}

/// A file found by [`Store::scan`] and its record, or why it is unusable.
pub type Scanned = (PathBuf, Result<Record, String>);

/// A folder of result files: `<out>/results/<hash>.json`.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store under the sweep folder `out` (created when missing).
    pub fn open(out: &Path) -> Result<Self, SweepError> {
        let dir = out.join("results");
        std::fs::create_dir_all(&dir).map_err(|source| SweepError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Store { dir })
    }

    /// The store under `out` without creating anything (for reading shards).
    pub fn at(out: &Path) -> Self {
        Store {
            dir: out.join("results"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, key: &ResultKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    /// The stored result of `key`, validated against that key.
    pub fn lookup(&self, key: &ResultKey) -> Lookup {
        let path = self.path(key);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
            Err(e) => return Lookup::Invalid(e.to_string()),
        };
        match read_record(&text) {
            Ok(r) if &r.key == key => Lookup::Valid(Box::new(r)),
            Ok(r) => Lookup::Invalid(format!("holds the result of another key: {:?}", r.key)),
            Err(e) => Lookup::Invalid(e),
        }
    }

    /// Write `record` atomically (temporary file, fsync, rename).
    pub fn write(&self, record: &Record) -> Result<PathBuf, SweepError> {
        let path = self.path(&record.key);
        let text = serde_json::to_string_pretty(&record.json).map_err(|e| SweepError::Io {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Every result file of the folder (`*.json`, not hidden), each validated (file name = key
    /// hash), sorted by path.
    pub fn scan(&self) -> Result<Vec<Scanned>, SweepError> {
        let io = |source| SweepError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') || !name.ends_with(".json") || !path.is_file() {
                continue;
            }
            let rec = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| read_record(&t))
                .and_then(|r| {
                    if name == r.key.file_name() {
                        Ok(r)
                    } else {
                        Err(format!(
                            "file name is not its key's hash ({})",
                            r.key.file_name()
                        ))
                    }
                });
            out.push((path, rec));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

fn read_record(text: &str) -> Result<Record, String> {
    let json: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    Record::from_json(json)
}

/// Results joined by key: what `painters merge` builds from several sweep folders.
#[derive(Debug, Default)]
pub struct Merged {
    /// By key hash: the record and the file it was first read from.
    pub records: BTreeMap<String, (PathBuf, Record)>,
    /// Files that duplicated an equal result.
    pub duplicates: usize,
}

/// Read every result of the sweep folders `inputs` (their `results/` folders). Any unusable file is
/// an error naming it; two files of one key must [agree](Record::agrees_with), else the error names
/// both. Their points are joined.
pub fn merge_stores(inputs: &[PathBuf]) -> Result<Merged, SweepError> {
    let mut merged = Merged::default();
    for input in inputs {
        let store = Store::at(input);
        if !store.dir().is_dir() {
            return Err(SweepError::NotASweep(input.clone()));
        }
        for (path, rec) in store.scan()? {
            let rec = rec.map_err(|reason| SweepError::InvalidRecord {
                path: path.clone(),
                reason,
            })?;
            let hash = rec.key.hash();
            match merged.records.remove(&hash) {
                None => {
                    merged.records.insert(hash, (path, rec));
                }
                Some((first, have)) => {
                    have.agrees_with(&rec)
                        .map_err(|detail| SweepError::Conflict {
                            a: first.clone(),
                            b: path.clone(),
                            detail,
                        })?;
                    merged.duplicates += 1;
                    let joined = have.with_points(&rec.points);
                    merged.records.insert(hash, (first, joined));
                }
            }
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ResultKey {
        ResultKey {
            model_sha256: "m".into(),
            schedule: "0..=3".into(),
            task: "arc_easy".into(),
            limit: Some(10),
            seed: None,
            finetune: None,
            data: "d".into(),
            settings: "weights=f32 batch=16".into(),
            scoring: 2,
        }
    }

    #[test]
    fn every_part_of_the_key_is_in_its_hash() {
        let k = key();
        let variants = [
            ResultKey {
                data: "e".into(),
                ..k.clone()
            },
            ResultKey {
                settings: "weights=bf16 batch=16".into(),
                ..k.clone()
            },
            ResultKey {
                scoring: 3,
                ..k.clone()
            },
            ResultKey {
                limit: None,
                ..k.clone()
            },
        ];
        for v in &variants {
            assert_ne!(v.hash(), k.hash(), "{v:?}");
            assert_eq!(v.differences(&k).len(), 1, "{v:?}");
        }
        assert_eq!(variants[0].differences(&k), ["data"]);
    }

    #[test]
    fn files_of_the_older_format_are_not_reused() {
        let mut json = Record::new(
            key(),
            Vec::new(),
            4,
            json!([]),
            json!({}),
            json!({"results": {"arc_easy": {"acc,none": 0.5}}}),
            json!({}),
        )
        .unwrap()
        .json;
        json["format"] = json!(OLD_RECORD_FORMAT);
        let e = Record::from_json(json).unwrap_err();
        assert!(e.contains("older painters"), "{e}");
        assert!(e.contains("not reused"), "{e}");
    }
}
