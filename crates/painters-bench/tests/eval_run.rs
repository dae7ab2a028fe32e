//! [`EvalRun`] through the library (as `examples/eval_task.rs` uses it): a run stopped after k
//! documents is rerun, the rerun asks the model only about the documents still missing (its calls
//! are counted), and the results equal an uninterrupted run's. On the real SmolLM2 (never
//! skipped: a missing model fails, run `scripts/fetch-models.sh`), loaded once.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::Device;
use painters::{KvMode, Plan};
use painters_bench::eval::{EvalError, EvalEvent, EvalRun, EvalRunError, checkpoint_dir};
use painters_bench::lm::{LanguageModel, LlamaLm, LmError, Scored, TokenRequest};
use painters_bench::schedules::ScheduleSpec;
use painters_bench::tasks::{self, Task};
use painters_llama::{LlamaModel, load_tokenizer};
use serde_json::json;

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

/// A model that counts the continuations it is asked to score.
struct Counting<'a> {
    inner: &'a dyn LanguageModel,
    scored: AtomicUsize,
}

impl Counting<'_> {
    fn count(&self, n: usize) {
        self.scored.fetch_add(n, Ordering::Relaxed);
    }
    fn take(&self) -> usize {
        self.scored.swap(0, Ordering::Relaxed)
    }
}

impl LanguageModel for Counting<'_> {
    fn max_length(&self) -> usize {
        self.inner.max_length()
    }
    fn prefix_token(&self) -> u32 {
        self.inner.prefix_token()
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        self.inner.encode(text)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        self.inner.decode(ids)
    }
    fn score_batch(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        self.count(reqs.len());
        self.inner.score_batch(reqs)
    }
    fn score_shared(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        self.count(reqs.len());
        self.inner.score_shared(reqs)
    }
    fn score_shared_many(&self, groups: &[Vec<TokenRequest>]) -> Vec<Result<Vec<Scored>, LmError>> {
        self.count(groups.iter().map(Vec::len).sum());
        self.inner.score_shared_many(groups)
    }
    fn generate(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        stop: &mut dyn FnMut(&[u32]) -> bool,
    ) -> Result<Vec<u32>, LmError> {
        self.inner.generate(prompt, max_new_tokens, stop)
    }
}

/// Evaluate with `run`'s checkpoints, stopping after `stop_after` newly answered documents if
/// given; returns the result and the ids of the documents answered now.
fn evaluate(
    run: &EvalRun,
    lm: &dyn LanguageModel,
    stop_after: Option<usize>,
) -> (
    Result<Vec<painters_bench::eval::TaskResult>, EvalRunError>,
    Vec<usize>,
) {
    let task_list: Vec<Box<dyn Task>> = vec![tasks::by_name("arc_easy").unwrap()];
    let key = json!({"test": "eval_run", "schedule": "skip N=10"});
    let mut answered = Vec::new();
    let result = run.evaluate(lm, &task_list, &key, &mut |e| {
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

#[test]
fn an_interrupted_run_resumes_with_only_the_remaining_documents() {
    let dir = scratch("resume");
    let model = LlamaModel::load(smollm2(), &Device::flex()).unwrap();
    let tokenizer = load_tokenizer(smollm2()).unwrap();
    let layers = model.num_blocks();
    // The paper's skip preset at N = 10 of SmolLM2's 30 blocks, as `examples/eval_task.rs` names it.
    let schedule = ScheduleSpec::preset("skip", 10).resolve(layers).unwrap();
    let plan = Plan::compile(&schedule, layers, KvMode::Exact).unwrap();
    let llama = LlamaLm::new(&model, &plan, &tokenizer);
    let lm = Counting {
        inner: &llama,
        scored: AtomicUsize::new(0),
    };
    let run_at = |name: &str| {
        let mut run = EvalRun::new(smollm2(), &["arc_easy"], dir.join(name));
        run.limit = Some(8);
        run.data_dir = root().join("data");
        run
    };
    // Every document's number of continuations (one request per answer choice).
    let docs = tasks::by_name("arc_easy")
        .unwrap()
        .load(&root().join("data"), Some(8))
        .unwrap()
        .docs;
    let choices = |ids: &[usize]| -> usize {
        docs.iter()
            .filter(|d| ids.contains(&d.id))
            .map(|d| d.requests.len())
            .sum()
    };

    let whole = run_at("whole.json");
    let (done, answered) = evaluate(&whole, &lm, None);
    let whole_results = done.unwrap();
    assert_eq!(
        answered.len(),
        8,
        "an uninterrupted run answers every document"
    );
    assert_eq!(lm.take(), choices(&answered));

    // Stopped after 3 documents: the 3 documents are in the task's journal.
    let cut = run_at("cut.json");
    let (stopped, first) = evaluate(&cut, &lm, Some(3));
    match stopped {
        Err(EvalRunError::Eval(EvalError::Stopped { task, done })) => {
            assert_eq!((task.as_str(), done), ("arc_easy", 3));
        }
        other => panic!("expected a stop after 3 documents: {other:?}"),
    }
    assert_eq!(first.len(), 3);
    lm.take();
    let journal = checkpoint_dir(&cut.out).join("arc_easy.docs.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(text.lines().count(), 1 + 3, "a key line and three records");

    // The rerun asks the model about the other 5 documents only, and its metrics are the
    // uninterrupted run's.
    let (resumed, rest) = evaluate(&cut, &lm, None);
    let resumed = resumed.unwrap();
    assert_eq!(rest.len(), 5, "only the remaining documents are computed");
    assert!(
        rest.iter().all(|d| !first.contains(d)),
        "{first:?} then {rest:?}"
    );
    assert_eq!(
        lm.take(),
        choices(&rest),
        "model calls of the remaining documents only"
    );
    assert_eq!(resumed[0].resumed_docs, 3);
    assert_eq!(resumed[0].metrics, whole_results[0].metrics);
    assert_eq!(resumed[0].n_effective, 8);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 23: checkpoints and journals are keyed by the documents as read. A run stopped after 2
/// documents, rerun after the data changed, answers every document again (the journal's records
/// are of other documents); a finished task's checkpoint is not resumed once its data changed; an
/// unchanged rerun resumes it.
#[test]
fn checkpoints_and_journals_of_other_data_are_never_used() {
    let dir = scratch("stale");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("arc_easy")).unwrap();
    let real = std::fs::read_to_string(root().join("data/arc_easy/test.jsonl")).unwrap();
    let first4: Vec<&str> = real.lines().take(4).collect();
    let write = |lines: &[String]| {
        std::fs::write(data.join("arc_easy/test.jsonl"), lines.join("\n") + "\n").unwrap();
    };
    let mut lines: Vec<String> = first4.iter().map(|l| l.to_string()).collect();
    write(&lines);
    let model = LlamaModel::load(smollm2(), &Device::flex()).unwrap();
    let tokenizer = load_tokenizer(smollm2()).unwrap();
    let layers = model.num_blocks();
    let plan = Plan::compile(
        &ScheduleSpec::full().resolve(layers).unwrap(),
        layers,
        KvMode::Exact,
    )
    .unwrap();
    let llama = LlamaLm::new(&model, &plan, &tokenizer);
    let lm = Counting {
        inner: &llama,
        scored: AtomicUsize::new(0),
    };
    let mut run = EvalRun::new(smollm2(), &["arc_easy"], dir.join("r.json"));
    run.data_dir = data.clone();
    let all_choices = |lines: &[String]| -> usize {
        let _ = lines;
        tasks::by_name("arc_easy")
            .unwrap()
            .load(&data, None)
            .unwrap()
            .docs
            .iter()
            .map(|d| d.requests.len())
            .sum()
    };

    let (stopped, first) = evaluate(&run, &lm, Some(2));
    assert!(stopped.is_err());
    assert_eq!(first.len(), 2);
    lm.take();
    // The first document's question is edited: its journaled responses answer another question.
    lines[0] = lines[0].replacen("\"question\": \"", "\"question\": \"Honestly, ", 1);
    assert_ne!(lines[0], first4[0]);
    write(&lines);
    let (done, answered) = evaluate(&run, &lm, None);
    let done = done.unwrap();
    assert_eq!(answered.len(), 4, "every document is answered again");
    assert_eq!(done[0].resumed_docs, 0);
    assert_eq!(lm.take(), all_choices(&lines));

    // The task's checkpoint now exists; the data changes again: it is not resumed.
    lines[1] = lines[1].replacen("\"question\": \"", "\"question\": \"Now, ", 1);
    write(&lines);
    let (_, answered) = evaluate(&run, &lm, None);
    assert_eq!(
        answered.len(),
        4,
        "a checkpoint of other data is not resumed"
    );
    assert_eq!(lm.take(), all_choices(&lines));
    // Unchanged, it is.
    let (_, answered) = evaluate(&run, &lm, None);
    assert!(answered.is_empty(), "{answered:?}");
    assert_eq!(lm.take(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
