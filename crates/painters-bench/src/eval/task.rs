//! Running one task on a model: its documents' requests answered (only those a journal does not
//! hold yet), every document scored, the metrics aggregated.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::batching::{BatchOptions, run_requests_until};
use crate::eval::results::{MetricResult, TaskResult};
use crate::io::{DocJournal, IoError, JournalError};
use crate::lm::LanguageModel;
use crate::lm::LmError;
use crate::progress::Progress;
use crate::requests::Response;
use crate::score::{Item, aggregate};
use crate::tasks::{DataError, Doc, Loaded, Outcome, Task};

/// Options of an evaluation run.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// Evaluate only the first `limit` documents of each task.
    pub limit: Option<usize>,
    pub batch: BatchOptions,
    /// Keep per-document records for `--log-samples`.
    pub log_samples: bool,
    /// Show progress on stderr: a bar on a terminal, else a line at a steady interval
    /// ([`Progress`]).
    pub progress: bool,
}

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{task}: {}:{line} (doc_id {doc}): {source}", path.display())]
    Request {
        task: String,
        path: PathBuf,
        line: usize,
        doc: usize,
        #[source]
        source: Box<LmError>,
    },
    #[error(transparent)]
    Io(#[from] IoError),
    /// The caller's `on_doc` asked to stop after `done` newly answered documents (they are in the
    /// journal, if one was given).
    #[error("{task}: stopped after {done} newly answered documents (as asked)")]
    Stopped { task: String, done: usize },
}

fn sample_record(doc: &Doc, responses: &[Response], outcome: &Outcome) -> Value {
    let mut rec = json!({
        "doc_id": doc.id,
        "doc": doc.fields,
        "target": doc.gold.to_json(),
        "arguments": doc.requests,
        "resps": responses,
        "filtered_resps": outcome.filtered,
    });
    for (filter, metric, item) in &outcome.metrics {
        let key = if *filter == "none" {
            metric.to_string()
        } else {
            format!("{metric},{filter}")
        };
        rec[key] = json!(item.value);
    }
    rec
}

/// Run one task.
pub fn evaluate_task(
    lm: &dyn LanguageModel,
    task: &dyn Task,
    data_dir: &Path,
    opts: &EvalOptions,
) -> Result<TaskResult, EvalError> {
    evaluate_task_resuming(lm, task, data_dir, opts, None, &mut |_| {
        ControlFlow::Continue(())
    })
}

/// The responses `journal` holds for `doc`, if it holds them. A record whose responses do not fit
/// the document's requests (another data file under the same name) is an error naming its line.
pub fn journaled_responses(
    journal: &DocJournal,
    doc: &Doc,
) -> Result<Option<Vec<Response>>, JournalError> {
    let Some(resps) = journal.get(doc.id) else {
        return Ok(None);
    };
    let list = resps
        .as_array()
        .filter(|l| l.len() == doc.requests.len())
        .ok_or_else(|| {
            journal.damaged(
                doc.id,
                format!("doc_id {} needs {} responses", doc.id, doc.requests.len()),
            )
        })?;
    doc.requests
        .iter()
        .zip(list)
        .map(|(r, v)| {
            Response::from_json(r, v).ok_or_else(|| {
                journal.damaged(
                    doc.id,
                    format!("doc_id {}: `{v}` does not answer {r:?}", doc.id),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Run one task, asking the model only about the documents `journal` does not hold yet and
/// recording each newly answered document in it as soon as it is done. Scoring always covers every
/// document, so the result is that of an uninterrupted run.
///
/// `on_doc(doc_id)` is told of every newly answered document (after the journal has it); when it
/// returns [`ControlFlow::Break`], the run stops there with [`EvalError::Stopped`], and a rerun
/// with the same journal answers only the documents still missing.
pub fn evaluate_task_resuming(
    lm: &dyn LanguageModel,
    task: &dyn Task,
    data_dir: &Path,
    opts: &EvalOptions,
    journal: Option<&mut DocJournal>,
    on_doc: &mut dyn FnMut(usize) -> ControlFlow<()>,
) -> Result<TaskResult, EvalError> {
    let loaded = task.load(data_dir, opts.limit)?;
    evaluate_loaded(lm, task, &loaded, opts, journal, on_doc)
}

/// [`evaluate_task_resuming`] of documents already read (`loaded`, e.g. to key a journal by their
/// [`digest`](Loaded::digest) first); `opts.limit` was applied when they were read.
pub fn evaluate_loaded(
    lm: &dyn LanguageModel,
    task: &dyn Task,
    loaded: &Loaded,
    opts: &EvalOptions,
    mut journal: Option<&mut DocJournal>,
    on_doc: &mut dyn FnMut(usize) -> ControlFlow<()>,
) -> Result<TaskResult, EvalError> {
    let info = task.info();
    let start = Instant::now();
    let mut answered: Vec<Option<Vec<Response>>> = match journal.as_deref() {
        Some(j) => loaded
            .docs
            .iter()
            .map(|d| journaled_responses(j, d))
            .collect::<Result<_, _>>()?,
        None => vec![None; loaded.docs.len()],
    };
    let todo: Vec<usize> = (0..answered.len())
        .filter(|&i| answered[i].is_none())
        .collect();
    let resumed_docs = answered.len() - todo.len();
    let prior_seconds = journal.as_deref().map_or(0.0, DocJournal::prior_seconds);
    let pb = Progress::new(info.name, loaded.docs.len(), "docs", opts.progress);
    pb.skip(resumed_docs);
    let reqs: Vec<&[_]> = todo
        .iter()
        .map(|&i| loaded.docs[i].requests.as_slice())
        .collect();
    let mut done = 0;
    let fresh = run_requests_until(lm, &reqs, opts.batch, &mut |k, r| {
        pb.inc(1);
        let id = loaded.docs[todo[k]].id;
        if let Some(j) = journal.as_deref_mut() {
            j.record(id, r);
        }
        done += 1;
        on_doc(id)
    })
    .map_err(|f| {
        let doc = todo.get(f.doc).and_then(|&i| loaded.docs.get(i));
        EvalError::Request {
            task: info.name.to_string(),
            path: loaded.path.clone(),
            line: doc.map_or(0, |d| d.line),
            doc: doc.map_or(f.doc, |d| d.id),
            source: Box::new(f.source),
        }
    })?;
    drop(pb);
    let Some(fresh) = fresh else {
        return Err(EvalError::Stopped {
            task: info.name.to_string(),
            done,
        });
    };
    for (&i, r) in todo.iter().zip(fresh) {
        answered[i] = Some(r);
    }
    let responses: Vec<Vec<Response>> = answered
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let outcomes: Vec<Outcome> = loaded
        .docs
        .iter()
        .zip(&responses)
        .map(|(d, r)| task.process(d, r))
        .collect();
    let mut metrics = Vec::new();
    for &filter in &info.filters {
        for spec in &info.metrics {
            let items: Vec<Item> = outcomes
                .iter()
                .flat_map(|o| &o.metrics)
                .filter(|(f, m, _)| *f == filter && *m == spec.name)
                .map(|(_, _, i)| *i)
                .collect();
            if items.is_empty() {
                continue;
            }
            let a = aggregate(spec.aggregation, &items);
            metrics.push(MetricResult {
                filter,
                metric: spec.name,
                value: a.value,
                stderr: a.stderr,
            });
        }
    }
    let samples = if opts.log_samples {
        loaded
            .docs
            .iter()
            .zip(&responses)
            .zip(&outcomes)
            .map(|((d, r), o)| sample_record(d, r, o))
            .collect()
    } else {
        Vec::new()
    };
    Ok(TaskResult {
        data_sha256: loaded.digest(&info),
        info,
        data_path: loaded.path.clone(),
        n_original: loaded.total,
        n_effective: loaded.docs.len(),
        metrics,
        seconds: prior_seconds + start.elapsed().as_secs_f64(),
        resumed_docs,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::json;

    use super::*;
    use crate::lm::Scored;
    use crate::requests::Request;
    use crate::tasks::Gold;

    fn doc(id: usize, requests: Vec<Request>) -> Doc {
        Doc {
            id,
            line: id + 1,
            requests,
            gold: Gold::Continuation,
            fields: Value::Null,
        }
    }

    fn ll() -> Request {
        Request::Loglikelihood {
            context: "a".into(),
            continuation: " b".into(),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "painters-eval-journal-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("task.docs.jsonl")
    }

    #[test]
    fn journaled_responses_come_back_bit_for_bit() {
        let path = scratch("roundtrip");
        let key = json!({"model": "m", "schedule": "0..=3"});
        let d0 = doc(0, vec![ll(), ll()]);
        let d1 = doc(
            1,
            vec![
                Request::LoglikelihoodRolling { text: "t".into() },
                Request::GenerateUntil {
                    context: "c".into(),
                    until: vec!["\n".into()],
                    max_gen_toks: 4,
                },
            ],
        );
        let r0 = vec![
            Response::Loglikelihood(Scored {
                logprob: -0.1 - 0.2,
                greedy: true,
            }),
            Response::Loglikelihood(Scored {
                logprob: -1.0e-300 / 3.0,
                greedy: false,
            }),
        ];
        let r1 = vec![
            Response::Rolling(-12_345.678_901_234_567),
            Response::Generated("x \"y\"\n".into()),
        ];
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
        assert_eq!(journaled_responses(&j, &d0).unwrap(), Some(r0));
        assert_eq!(journaled_responses(&j, &d1).unwrap(), Some(r1));
        assert_eq!(journaled_responses(&j, &doc(2, vec![ll()])).unwrap(), None);
        assert!(j.prior_seconds() >= 0.0);
    }

    #[test]
    fn a_record_that_does_not_answer_the_document_names_its_line() {
        let path = scratch("damage");
        let key = json!({"k": 1});
        let mut j = DocJournal::open(&path, &key).unwrap();
        j.record(0, &[Response::Rolling(-1.0)]);
        j.record(1, &[Response::Rolling(-1.0), Response::Rolling(-1.0)]);
        drop(j);
        let j = DocJournal::open(&path, &key).unwrap();
        let err = journaled_responses(&j, &doc(0, vec![ll()]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(":2: doc_id 0"), "{err}");
        let err = journaled_responses(&j, &doc(1, vec![ll()]))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(":3: doc_id 1 needs 1 responses"), "{err}");
    }
}
