//! Per-document checkpoints of one task's model responses.
//!
//! A full-dataset task can take hours on a CPU (hellaswag on SmolLM2-135M: about two), longer than
//! a cluster job's time limit or a laptop's battery. The task-level checkpoints of `painters eval`
//! keep finished tasks, but a task killed at 90 % would start again from its first document. The
//! journal keeps each document's raw responses (log-likelihoods, greedy flags, generated text) as
//! soon as all of its requests are answered, one JSON line per document, so a rerun answers only
//! the documents that are missing.
//!
//! Only model responses are kept: metrics, filters and sample records are recomputed from them on
//! every run, so a resumed task goes through exactly the scoring code of an uninterrupted one.
//! Floats go through JSON unchanged (shortest round-trip form), so a journaled document scores
//! bit for bit as it did when it was computed. The journal stores each document's responses as
//! the JSON its caller gives (the evaluation layer reads them back as typed responses,
//! [`Response::from_json`](crate::requests::Response::from_json)); it knows nothing of models or
//! tasks.
//!
//! The file starts with a key line (model hash, schedule, task version, settings…); records written
//! under another key are discarded, never mixed in. A run killed mid-write leaves a torn last line,
//! which is dropped.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use crate::io::atomic::write_atomic;

/// Why a journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}:{line}: {what}; the file is damaged: delete it to recompute those documents",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        what: String,
    },
}

/// The finished documents of one task, on disk, appended to as documents finish.
pub struct DocJournal {
    path: PathBuf,
    file: Option<File>,
    done: HashMap<usize, (usize, Value)>,
    /// Task time spent in earlier runs, up to their last recorded document.
    prior_seconds: f64,
    opened: Instant,
    write_error: Option<std::io::Error>,
}

impl DocJournal {
    /// Open (or start) the journal at `path` for a run identified by `key`. Records made under
    /// another key are discarded and the file starts over.
    pub fn open(path: &Path, key: &Value) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        // Lossy: a write torn inside a character leaves a last line that is simply not JSON.
        let text = String::from_utf8_lossy(&bytes);
        let mut lines = text.lines();
        let header = lines
            .next()
            .and_then(|l| serde_json::from_str::<Value>(l).ok());
        let rest: Vec<&str> = if header == Some(json!({ "journal": key })) {
            lines.collect()
        } else {
            Vec::new()
        };
        let mut done = HashMap::new();
        let mut kept = Vec::new();
        let mut prior_seconds = 0.0_f64;
        for (k, record) in rest.iter().enumerate() {
            let line = k + 2;
            let parsed = serde_json::from_str::<Value>(record).ok().and_then(|v| {
                let id = usize::try_from(v.get("doc_id")?.as_u64()?).ok()?;
                let seconds = v.get("task_seconds")?.as_f64()?;
                Some((id, v.get("resps")?.clone(), seconds))
            });
            match parsed {
                Some((id, resps, seconds)) => {
                    prior_seconds = prior_seconds.max(seconds);
                    done.insert(id, (line, resps));
                    kept.push(*record);
                }
                // A kill mid-write tears the last line only.
                None if k + 1 == rest.len() => {}
                None => {
                    return Err(JournalError::Corrupt {
                        path: path.to_path_buf(),
                        line,
                        what: "not a document record".into(),
                    });
                }
            }
        }
        // Rewrite without a torn tail (or under the new key), then append from there.
        let mut text = format!("{}\n", json!({ "journal": key }));
        for l in &kept {
            text.push_str(l);
            text.push('\n');
        }
        write_atomic(path, text.as_bytes()).map_err(|e| io(e.source))?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(DocJournal {
            path: path.to_path_buf(),
            file: Some(file),
            done,
            prior_seconds,
            opened: Instant::now(),
            write_error: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Documents on record.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Task time of the earlier runs, up to the last document each of them recorded (time spent
    /// after that was lost with the run and is not counted).
    pub fn prior_seconds(&self) -> f64 {
        self.prior_seconds
    }

    /// The recorded responses of document `doc_id`, if it is on record.
    pub fn get(&self, doc_id: usize) -> Option<&Value> {
        self.done.get(&doc_id).map(|(_, v)| v)
    }

    /// The error for a record of `doc_id` that its reader cannot use (`what` says why): the file
    /// is damaged at that record's line.
    pub fn damaged(&self, doc_id: usize, what: String) -> JournalError {
        JournalError::Corrupt {
            path: self.path.clone(),
            line: self.done.get(&doc_id).map_or(0, |(line, _)| *line),
            what,
        }
    }

    /// Append `doc`'s responses. A failed write stops the journal (the run goes on; its results
    /// are still written at the end) and is reported by [`DocJournal::write_error`].
    pub fn record<T: Serialize + ?Sized>(&mut self, doc_id: usize, responses: &T) {
        let Some(f) = self.file.as_mut() else {
            return;
        };
        let seconds = self.prior_seconds + self.opened.elapsed().as_secs_f64();
        let line = format!(
            "{}\n",
            json!({"doc_id": doc_id, "task_seconds": seconds, "resps": responses})
        );
        if let Err(e) = f.write_all(line.as_bytes()) {
            self.write_error = Some(e);
            self.file = None;
        }
    }

    /// Why the journal stopped recording, if it did.
    pub fn write_error(&self) -> Option<&std::io::Error> {
        self.write_error.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("painters-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("task.docs.jsonl")
    }

    #[test]
    fn records_come_back_bit_for_bit_and_a_torn_tail_is_dropped() {
        let path = scratch("roundtrip");
        let key = json!({"model": "m", "schedule": "0..=3"});
        let r0 = json!([[-0.1 - 0.2, true], [-1.0e-300 / 3.0, false]]);
        let r1 = json!([-12_345.678_901_234_567, "x \"y\"\n"]);
        let mut j = DocJournal::open(&path, &key).unwrap();
        assert!(j.is_empty());
        j.record(0, &r0);
        j.record(1, &r1);
        drop(j);
        // A kill in the middle of a third record.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"doc_id":2,"task_se"#).unwrap();
        drop(f);

        let j = DocJournal::open(&path, &key).unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(j.get(0), Some(&r0));
        assert_eq!(j.get(1), Some(&r1));
        assert_eq!(j.get(0).and_then(|v| v[0][0].as_f64()), Some(-0.1 - 0.2));
        assert_eq!(j.get(2), None);
        assert!(j.prior_seconds() >= 0.0);
        // The torn line is gone from the file, so new records append after whole lines.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn records_under_another_key_are_discarded() {
        let path = scratch("key");
        let mut j = DocJournal::open(&path, &json!({"schedule": "0..=3"})).unwrap();
        j.record(0, &json!([-1.0]));
        drop(j);
        let j = DocJournal::open(&path, &json!({"schedule": "0, 2..=3"})).unwrap();
        assert!(j.is_empty());
        let again = DocJournal::open(&path, &json!({"schedule": "0..=3"})).unwrap();
        assert!(
            again.is_empty(),
            "the old records were dropped with the old key"
        );
    }

    #[test]
    fn damage_is_an_error_naming_the_line() {
        let path = scratch("damage");
        let key = json!({"k": 1});
        let mut j = DocJournal::open(&path, &key).unwrap();
        j.record(0, &json!([-1.0]));
        j.record(1, &json!([-2.0]));
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(2, "garbage");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = DocJournal::open(&path, &key).err().unwrap().to_string();
        assert!(err.contains("task.docs.jsonl:3:"), "{err}");
        assert!(err.contains("delete it"), "{err}");

        // A record its reader cannot use names its own line.
        std::fs::remove_file(&path).unwrap();
        let mut j = DocJournal::open(&path, &key).unwrap();
        j.record(0, &json!([-1.0]));
        j.record(1, &json!([-1.0, -1.0]));
        drop(j);
        let j = DocJournal::open(&path, &key).unwrap();
        let err = j
            .damaged(1, "doc_id 1 needs 1 responses".into())
            .to_string();
        assert!(err.contains(":3: doc_id 1 needs 1 responses"), "{err}");
    }

    #[test]
    fn prior_time_accumulates_across_runs() {
        let path = scratch("time");
        let key = json!({"k": 1});
        let mut j = DocJournal::open(&path, &key).unwrap();
        j.record(0, &json!([-1.0]));
        drop(j);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut rec: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        rec["task_seconds"] = json!(100.5);
        std::fs::write(&path, format!("{}\n{rec}\n", text.lines().next().unwrap())).unwrap();
        let mut j = DocJournal::open(&path, &key).unwrap();
        assert_eq!(j.prior_seconds(), 100.5);
        j.record(1, &json!([-1.0]));
        drop(j);
        let j = DocJournal::open(&path, &key).unwrap();
        assert!(j.prior_seconds() >= 100.5);
        assert_eq!(j.len(), 2);
    }
}
