//! [`EvalRun`] through the library, as `examples/eval_task.rs` uses it: a run stopped after k
//! documents is rerun, the rerun asks the model only about the documents still missing, and the
//! results equal an uninterrupted run's. On the real SmolLM2 (never skipped: a missing model
//! fails, run `scripts/fetch-models.sh`).

use std::ops::ControlFlow;
use std::path::PathBuf;

use painters_bench::eval::{EvalError, EvalEvent, EvalRun, EvalRunError, checkpoint_dir};
use painters_bench::schedules::ScheduleSpec;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn smollm2() -> PathBuf {
    let p = root().join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.is_file(),
        "{} missing; run scripts/fetch-models.sh",
        p.display()
    );
    p
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("painters-eval-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Eight ARC-Easy questions under the paper's skip preset (N = 10 of SmolLM2's 30 blocks).
fn run(out: PathBuf) -> EvalRun {
    let mut run = EvalRun::new(smollm2(), &["arc_easy"], out);
    run.schedule = ScheduleSpec::preset("skip", 10);
    run.limit = Some(8);
    run.data_dir = root().join("data");
    run
}

/// Run `run`, stopping after `stop_after` newly answered documents if given; returns the
/// result and the ids of the documents the model answered.
fn execute(
    run: &EvalRun,
    stop_after: Option<usize>,
) -> (
    Result<painters_bench::eval::EvalOutcome, EvalRunError>,
    Vec<usize>,
) {
    let mut answered = Vec::new();
    let result = run.execute_with(&mut |e| {
        if let EvalEvent::Document { doc_id, .. } = e {
            answered.push(*doc_id);
            if stop_after.is_some_and(|k| answered.len() >= k) {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    (result, answered)
}

fn metrics(v: &Value) -> &Value {
    &v["results"]["arc_easy"]
}

#[test]
fn an_interrupted_run_resumes_with_only_the_remaining_documents() {
    let dir = scratch("resume");
    let whole = run(dir.join("whole.json"));
    let (done, answered) = execute(&whole, None);
    let whole_json = done.unwrap().json;
    assert_eq!(
        answered.len(),
        8,
        "an uninterrupted run answers every document"
    );

    // Stopped after 3 documents: no results file, the 3 documents in the task's journal.
    let cut = run(dir.join("cut.json"));
    let (stopped, first) = execute(&cut, Some(3));
    match stopped {
        Err(EvalRunError::Eval(EvalError::Stopped { task, done })) => {
            assert_eq!((task.as_str(), done), ("arc_easy", 3));
        }
        other => panic!("expected a stop after 3 documents: {other:?}"),
    }
    assert_eq!(first.len(), 3);
    assert!(!cut.out.exists());
    let journal = checkpoint_dir(&cut.out).join("arc_easy.docs.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(text.lines().count(), 1 + 3, "a key line and three records");

    // The rerun answers the other 5 documents only, and the results are the uninterrupted ones.
    let (resumed, rest) = execute(&cut, None);
    let resumed = resumed.unwrap();
    assert_eq!(rest.len(), 5, "only the remaining documents are computed");
    assert!(
        rest.iter().all(|d| !first.contains(d)),
        "{first:?} then {rest:?}"
    );
    assert_eq!(resumed.results[0].resumed_docs, 3);
    assert_eq!(metrics(&resumed.json), metrics(&whole_json));
    assert_eq!(resumed.json["n-samples"], whole_json["n-samples"]);
    assert!(cut.out.is_file());
    assert!(
        !checkpoint_dir(&cut.out).exists(),
        "the checkpoints go once the results file is written"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
