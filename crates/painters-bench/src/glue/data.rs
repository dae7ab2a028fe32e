//! The seven GLUE tasks of the paper (CoLA, MRPC, QNLI, RTE, SST-2, STS-B, WNLI) from normalized
//! JSONL files (`data/glue-<task>/{train,dev}.jsonl[.gz]`, one JSON object a line, HF `glue` field
//! names and label conventions), and their GLUE metrics on a fine-tuned model's predictions.
//!
//! | task | text fields | label |
//! |---|---|---|
//! | CoLA | `sentence` | 0/1, 1 = acceptable |
//! | SST-2 | `sentence` | 0/1, 1 = positive |
//! | MRPC | `sentence1`, `sentence2` | 0/1, 1 = equivalent |
//! | QNLI | `question`, `sentence` | 0/1, 0 = entailment |
//! | RTE | `sentence1`, `sentence2` | 0/1, 0 = entailment |
//! | WNLI | `sentence1`, `sentence2` | 0/1, 1 = entailment |
//! | STS-B | `sentence1`, `sentence2` | similarity 0.0..=5.0 (regression) |
//!
//! Gzip is recognised by its magic bytes, so `.jsonl.gz` and `.jsonl` read alike. Every error
//! names the file and the 1-based line.
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use painters_bert::{BertError, BertTokenizer};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Value;

use crate::glue::dataset::Dataset;
use crate::glue::error::GlueDataError;
use crate::glue::task::GlueTask;

/// One example as read: the texts and the label (class index as a float, or the STS-B score).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GlueRecord {
    pub text_a: String,
    pub text_b: Option<String>,
    pub label: f32,
    /// 1-based line in the file.
    pub line: usize,
}

/// Which training examples to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subset {
    #[default]
    All,
    /// The first `n` in file order.
    First(usize),
    /// `n` drawn without replacement with a ChaCha8 stream seeded by `seed`, kept in file order.
    Sample { n: usize, seed: u64 },
}

impl Subset {
    /// As result files record it: `"all"`, `{"first": n}` or `{"sample": n, "seed": s}`.
    pub fn to_json(self) -> Value {
        match self {
            Subset::All => serde_json::json!("all"),
            Subset::First(n) => serde_json::json!({"first": n}),
            Subset::Sample { n, seed } => serde_json::json!({"sample": n, "seed": seed}),
        }
    }

    /// Apply to `records`; a limit at or above the size keeps everything.
    pub fn apply<T>(self, records: Vec<T>) -> Vec<T> {
        match self {
            Subset::All => records,
            Subset::First(n) => records.into_iter().take(n).collect(),
            Subset::Sample { n, .. } if n >= records.len() => records,
            Subset::Sample { n, seed } => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut idx: Vec<usize> = (0..records.len()).collect();
                // Partial Fisher–Yates: the first n slots end up a uniform sample.
                for i in 0..n {
                    let j = i + (rng.next_u64() % (idx.len() - i) as u64) as usize;
                    idx.swap(i, j);
                }
                let mut keep = vec![false; records.len()];
                for &i in &idx[..n] {
                    keep[i] = true;
                }
                records
                    .into_iter()
                    .zip(keep)
                    .filter_map(|(r, k)| k.then_some(r))
                    .collect()
            }
        }
    }
}

/// The file of `split` (`train`, `dev`) of `task` under `data_dir`: `glue-<task>/<split>.jsonl`,
/// else `<split>.jsonl.gz`.
pub fn split_path(data_dir: &Path, task: GlueTask, split: &str) -> Result<PathBuf, GlueDataError> {
    task.jsonl_fields()?;
    let dir = data_dir.join(task.dir_name());
    for name in [format!("{split}.jsonl"), format!("{split}.jsonl.gz")] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(GlueDataError::NoSplit {
        dir,
        task: task.name(),
        split: split.to_string(),
    })
}

fn open(path: &Path) -> Result<Box<dyn BufRead>, GlueDataError> {
    let io = |source| GlueDataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = BufReader::new(File::open(path).map_err(io)?);
    let gz = file.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    Ok(match gz {
        true => Box::new(BufReader::new(Capped {
            inner: flate2::read::MultiGzDecoder::new(file),
            left: MAX_DECOMPRESSED,
        })),
        false => Box::new(file),
    })
}

/// The most a gzip GLUE file may inflate to (the largest GLUE split is ~50 MiB).
const MAX_DECOMPRESSED: u64 = 1 << 30;

/// A reader that fails, rather than silently stopping, after `left` bytes: a gzip bomb becomes an
/// error instead of an out-of-memory kill.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "decompresses to more than {} MiB",
                    MAX_DECOMPRESSED >> 20
                ))),
            };
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// Parse one label value of `task`.
fn parse_label(task: GlueTask, v: &Value) -> Result<f32, &'static str> {
    match task {
        GlueTask::Stsb => {
            const EXPECTED: &str = "a number in 0.0..=5.0";
            let x = v.as_f64().ok_or(EXPECTED)?;
            match (0.0..=5.0).contains(&x) {
                true => Ok(x as f32),
                false => Err(EXPECTED),
            }
        }
        _ => match v.as_u64() {
            Some(0) => Ok(0.0),
            Some(1) => Ok(1.0),
            _ => Err("the integer 0 or 1"),
        },
    }
}

/// Parse GLUE JSONL text of `task` read from `path` (used for error messages only).
pub fn parse_glue_jsonl(
    reader: impl BufRead,
    path: &Path,
    task: GlueTask,
) -> Result<Vec<GlueRecord>, GlueDataError> {
    let (fa, fb) = task.jsonl_fields()?;
    let needs = match fb {
        Some(b) => format!("`{fa}`, `{b}`, `label`"),
        None => format!("`{fa}`, `label`"),
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let line = line.map_err(|source| GlueDataError::Read {
            path: path.to_path_buf(),
            line: line_no,
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| GlueDataError::Json {
            path: path.to_path_buf(),
            line: line_no,
            message: e.to_string(),
        })?;
        let Some(obj) = v.as_object() else {
            return Err(GlueDataError::Json {
                path: path.to_path_buf(),
                line: line_no,
                message: "the line is JSON but not an object".into(),
            });
        };
        let field = |name: &'static str| {
            obj.get(name).ok_or_else(|| GlueDataError::MissingField {
                path: path.to_path_buf(),
                line: line_no,
                field: name,
                task: task.name(),
                needs: needs.clone(),
            })
        };
        let text = |name: &'static str| -> Result<String, GlueDataError> {
            field(name)?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| GlueDataError::NotText {
                    path: path.to_path_buf(),
                    line: line_no,
                    field: name,
                })
        };
        let text_a = text(fa)?;
        let text_b = fb.map(text).transpose()?;
        let raw = field("label")?;
        let label = parse_label(task, raw).map_err(|expected| GlueDataError::BadLabel {
            path: path.to_path_buf(),
            line: line_no,
            value: raw.to_string(),
            task: task.name(),
            expected,
        })?;
        out.push(GlueRecord {
            text_a,
            text_b,
            label,
            line: line_no,
        });
    }
    Ok(out)
}

/// Read a GLUE JSONL file (plain or gzip) of `task`.
pub fn read_glue_jsonl(
    path: impl AsRef<Path>,
    task: GlueTask,
) -> Result<Vec<GlueRecord>, GlueDataError> {
    let path = path.as_ref();
    parse_glue_jsonl(open(path)?, path, task)
}

/// Tokenize records (pairs as `[CLS] a [SEP] b [SEP]`), truncating to `max_length` tokens.
pub fn tokenize_records(
    records: &[GlueRecord],
    tokenizer: &BertTokenizer,
    max_length: usize,
) -> Result<Dataset, BertError> {
    let items: Vec<(&str, Option<&str>, f32)> = records
        .iter()
        .map(|r| (r.text_a.as_str(), r.text_b.as_deref(), r.label))
        .collect();
    Dataset::tokenize(tokenizer, &items, max_length)
}

/// Read, subset and tokenize one split file.
pub fn load_glue_jsonl(
    path: impl AsRef<Path>,
    task: GlueTask,
    subset: Subset,
    tokenizer: &BertTokenizer,
    max_length: usize,
) -> Result<Dataset, BertError> {
    let records = subset.apply(read_glue_jsonl(path, task)?);
    tokenize_records(&records, tokenizer, max_length)
}

/// Decompress gzip bytes (test helper).
#[cfg(test)]
fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read;
    let mut s = String::new();
    let _ = flate2::read::GzDecoder::new(bytes).read_to_string(&mut s);
    s
}
#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn parse(task: GlueTask, text: &str) -> Result<Vec<GlueRecord>, GlueDataError> {
        parse_glue_jsonl(text.as_bytes(), Path::new("t.jsonl"), task)
    }

    #[test]
    fn reads_single_and_pair_tasks() {
        let r = parse(
            GlueTask::Sst2,
            "{\"sentence\": \"good .\", \"label\": 1, \"idx\": 0}\n\n{\"sentence\": \"bad\", \"label\": 0, \"idx\": 1}\n",
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].text_a, "good .");
        assert_eq!(r[1].label, 0.0);
        assert_eq!(r[1].line, 3);
        let q = parse(
            GlueTask::Qnli,
            r#"{"idx": 0, "question": "Q?", "sentence": "S.", "label": 1}"#,
        )
        .unwrap();
        assert_eq!(q[0].text_a, "Q?");
        assert_eq!(q[0].text_b.as_deref(), Some("S."));
        let s = parse(
            GlueTask::Stsb,
            r#"{"idx": 0, "sentence1": "a", "sentence2": "b", "label": 3.8}"#,
        )
        .unwrap();
        assert!((s[0].label - 3.8).abs() < 1e-6);
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let e = parse(
            GlueTask::Cola,
            "{\"sentence\": \"ok\", \"label\": 1}\n{\"sentence\": \"ok\", \"label\"\n",
        )
        .unwrap_err();
        assert!(matches!(e, GlueDataError::Json { line: 2, .. }), "{e:?}");
        assert!(e.to_string().starts_with("t.jsonl:2: "), "{e}");
        let e = parse(GlueTask::Cola, "[1, 2]\n").unwrap_err();
        assert!(matches!(e, GlueDataError::Json { line: 1, .. }));
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse(
            GlueTask::Rte,
            "{\"sentence1\": \"a\", \"sentence2\": \"b\", \"label\": 0}\n{\"sentence1\": \"a\", \"label\": 0}\n",
        )
        .unwrap_err();
        match &e {
            GlueDataError::MissingField { line, field, .. } => {
                assert_eq!((*line, *field), (2, "sentence2"))
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("t.jsonl:2"));
        let e = parse(GlueTask::Sst2, r#"{"sentence": "x"}"#).unwrap_err();
        assert!(matches!(
            e,
            GlueDataError::MissingField { field: "label", .. }
        ));
        let e = parse(GlueTask::Sst2, r#"{"sentence": 3, "label": 1}"#).unwrap_err();
        assert!(matches!(
            e,
            GlueDataError::NotText {
                field: "sentence",
                ..
            }
        ));
    }

    #[test]
    fn bad_labels_are_rejected() {
        for bad in ["2", "-1", "0.5", "\"1\"", "null"] {
            let e = parse(
                GlueTask::Mrpc,
                &format!("{{\"sentence1\": \"a\", \"sentence2\": \"b\", \"label\": {bad}}}"),
            )
            .unwrap_err();
            assert!(
                matches!(&e, GlueDataError::BadLabel { line: 1, value, .. } if value == bad),
                "{bad}: {e:?}"
            );
        }
        let e = parse(
            GlueTask::Stsb,
            r#"{"sentence1": "a", "sentence2": "b", "label": 5.5}"#,
        )
        .unwrap_err();
        assert!(matches!(e, GlueDataError::BadLabel { .. }));
        let e: BertError = e.into();
        assert!(matches!(e, BertError::Data { line: 1, .. }));
    }

    #[test]
    fn reads_gzip_files_and_finds_splits() {
        let dir = std::env::temp_dir().join(format!("painters-glue-{}", std::process::id()));
        let task_dir = dir.join("glue-sst2");
        std::fs::create_dir_all(&task_dir).unwrap();
        let text = "{\"sentence\": \"a\", \"label\": 1}\n{\"sentence\": \"b\", \"label\": 0}\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(gunzip(&bytes), text);
        std::fs::write(task_dir.join("train.jsonl.gz"), &bytes).unwrap();
        let p = split_path(&dir, GlueTask::Sst2, "train").unwrap();
        assert!(p.ends_with("train.jsonl.gz"));
        let r = read_glue_jsonl(&p, GlueTask::Sst2).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].text_a, "b");
        let e = split_path(&dir, GlueTask::Sst2, "dev").unwrap_err();
        assert!(matches!(e, GlueDataError::NoSplit { .. }));
        let e = read_glue_jsonl(dir.join("nope.jsonl"), GlueTask::Sst2).unwrap_err();
        assert!(matches!(e, GlueDataError::Io { .. }));
        assert!(matches!(
            split_path(&dir, GlueTask::Mnli, "train"),
            Err(GlueDataError::Unsupported { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn subsets() {
        let v: Vec<usize> = (0..100).collect();
        assert_eq!(Subset::All.apply(v.clone()), v);
        assert_eq!(Subset::First(3).apply(v.clone()), vec![0, 1, 2]);
        assert_eq!(Subset::First(1000).apply(v.clone()).len(), 100);
        let a = Subset::Sample { n: 10, seed: 7 }.apply(v.clone());
        let b = Subset::Sample { n: 10, seed: 7 }.apply(v.clone());
        let c = Subset::Sample { n: 10, seed: 8 }.apply(v.clone());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "file order kept");
        assert_ne!(a, (0..10).collect::<Vec<_>>());
    }
}
