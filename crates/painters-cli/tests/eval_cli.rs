//! `painters eval` end to end on the real SmolLM2 (never skipped: a missing model fails, run
//! `scripts/fetch-models.sh`), checking the results file has lm-eval's shape plus our additions.

use serde_json::Value;

mod common;
use common::{painters, root, scratch, smollm2};

#[test]
fn eval_writes_lm_eval_shaped_results_and_samples() {
    let dir = scratch("e2e");
    let out = dir.join("results.json");
    let model = smollm2();
    let (ok, stdout, err) = painters(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--tasks",
        "arc_easy,lambada_openai",
        "--limit",
        "5",
        "--log-samples",
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("|arc_easy|1|none|0|acc|"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let arc = &v["results"]["arc_easy"];
    for key in [
        "acc,none",
        "acc_stderr,none",
        "acc_norm,none",
        "acc_norm_stderr,none",
    ] {
        let x = arc[key].as_f64().unwrap_or_else(|| panic!("{key}: {arc}"));
        assert!((0.0..=1.0).contains(&x), "{key} = {x}");
    }
    let lam = &v["results"]["lambada_openai"];
    assert!(lam["perplexity,none"].as_f64().unwrap() > 1.0, "{lam}");
    assert!(lam["perplexity_stderr,none"].as_f64().is_some(), "{lam}");
    assert!(lam["acc,none"].as_f64().is_some(), "{lam}");
    assert_eq!(v["n-samples"]["arc_easy"]["effective"], 5);
    assert_eq!(v["n-samples"]["arc_easy"]["original"], 2376);
    assert_eq!(v["versions"]["lambada_openai"], 1.0);
    assert_eq!(v["n-shot"]["arc_easy"], 0);
    assert_eq!(v["higher_is_better"]["lambada_openai"]["perplexity"], false);
    assert_eq!(v["configs"]["arc_easy"]["output_type"], "multiple_choice");
    assert_eq!(v["configs"]["arc_easy"]["metadata"]["version"], 1.0);
    assert_eq!(v["config"]["limit"], 5);
    assert_eq!(v["schedule"]["layers"], 30);
    assert_eq!(v["schedule"]["steps"].as_array().unwrap().len(), 30);
    assert_eq!(v["plan"]["block_applications"], 30);
    let sha = v["model_sha256"].as_str().unwrap();
    assert_eq!(
        sha,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    assert!(v["total_evaluation_time_seconds"].is_string());
    // One JSONL record per document, with the per-choice log-likelihoods and the metrics.
    let samples = std::fs::read_to_string(dir.join("results_samples_arc_easy.jsonl")).unwrap();
    let recs: Vec<Value> = samples
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 5);
    let r = &recs[0];
    assert_eq!(r["doc_id"], 0);
    assert_eq!(r["arguments"].as_array().unwrap().len(), 4);
    assert_eq!(r["resps"].as_array().unwrap().len(), 4);
    assert!(r["resps"][0][0].as_f64().unwrap() < 0.0, "{r}");
    assert!(r["acc"].is_number() && r["acc_norm"].is_number(), "{r}");
    assert!(
        r["arguments"][0]["context"]
            .as_str()
            .unwrap()
            .starts_with("Question: ")
    );
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn eval_records_the_schedule_of_a_preset() {
    let dir = scratch("preset");
    let out = dir.join("skip.json");
    let model = smollm2();
    let (ok, _, err) = painters(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--preset",
        "skip",
        "--m",
        "5",
        "--tasks",
        "winogrande",
        "--limit",
        "2",
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["plan"]["block_applications"], 25);
    assert_eq!(v["schedule"]["steps"].as_array().unwrap().len(), 25);
    assert!(v["results"]["winogrande"]["acc,none"].is_number());
    assert_eq!(v["results"]["winogrande"]["alias"], "winogrande");
}

#[test]
fn eval_refuses_unknown_tasks_and_missing_data() {
    let dir = scratch("errors");
    let out = dir.join("r.json");
    let (ok, _, err) = painters(&[
        "eval",
        "--model",
        "nowhere.gguf",
        "--tasks",
        "arc_easy,mmlu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("unknown task `mmlu`"), "{err}");
    assert!(err.contains("known tasks: lambada_openai"), "{err}");
    let model = smollm2();
    let (ok, _, err) = painters(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--tasks",
        "hellaswag",
        "--data-dir",
        dir.to_str().unwrap(),
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("no data for task `hellaswag`"), "{err}");
    assert!(!out.exists(), "no results file after a failure");
}

/// A run that dies after its first task keeps that task; the rerun resumes it instead of
/// recomputing, and ends with the same numbers as an uninterrupted run.
#[test]
fn eval_resumes_finished_tasks_after_a_failure() {
    let model = smollm2();
    let dir = scratch("resume");
    let data = dir.join("data");
    let copy = |task: &str, file: &str| {
        let text = std::fs::read_to_string(root().join("data").join(task).join(file)).unwrap();
        std::fs::create_dir_all(data.join(task)).unwrap();
        let head: Vec<&str> = text.lines().take(3).collect();
        std::fs::write(data.join(task).join(file), head.join("\n")).unwrap();
    };
    copy("winogrande", "dev.jsonl");
    let out = dir.join("r.json");
    let run = |tasks: &str, out: &std::path::Path| {
        painters(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--tasks",
            tasks,
            "--data-dir",
            data.to_str().unwrap(),
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    // arc_easy's one document has a choice longer than the model's window: the run fails when
    // it reaches arc_easy, after winogrande is done (missing data would fail before any work).
    std::fs::create_dir_all(data.join("arc_easy")).unwrap();
    let long = "word ".repeat(9000);
    std::fs::write(
        data.join("arc_easy/test.jsonl"),
        serde_json::json!({"id": "x", "question": "Which?",
            "choices": {"label": ["A", "B"], "text": ["yes", long]}, "answerKey": "A"})
        .to_string(),
    )
    .unwrap();
    let (ok, _, err) = run("winogrande,arc_easy", &out);
    assert!(err.contains("window"), "{err}");
    assert!(!ok, "{err}");
    assert!(!out.exists());
    let checkpoint = dir.join(".r.json.tasks/winogrande.json");
    assert!(checkpoint.is_file(), "{err}");
    copy("arc_easy", "test.jsonl");
    let (ok, _, err) = run("winogrande,arc_easy", &out);
    assert!(ok, "{err}");
    assert!(err.contains("winogrande: resumed from"), "{err}");
    assert!(!err.contains("winogrande: 3 docs"), "{err}");
    assert!(!dir.join(".r.json.tasks").exists(), "checkpoints removed");
    let resumed: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    // The same as computing winogrande now.
    let fresh_out = dir.join("fresh.json");
    let (ok, _, err) = run("winogrande", &fresh_out);
    assert!(ok, "{err}");
    let fresh: Value = serde_json::from_slice(&std::fs::read(&fresh_out).unwrap()).unwrap();
    assert_eq!(
        resumed["results"]["winogrande"],
        fresh["results"]["winogrande"]
    );
    assert_eq!(
        resumed["n-samples"]["winogrande"],
        fresh["n-samples"]["winogrande"]
    );
    assert!(resumed["results"]["arc_easy"]["acc,none"].is_number());
    // A checkpoint made under another schedule is not reused.
    std::fs::create_dir_all(dir.join(".other.json.tasks")).unwrap();
    let mut foreign: Value = serde_json::from_slice(&std::fs::read(&fresh_out).unwrap()).unwrap();
    foreign["checkpoint_key"] = serde_json::json!({"schedule": "0..=3"});
    std::fs::write(
        dir.join(".other.json.tasks/winogrande.json"),
        foreign.to_string(),
    )
    .unwrap();
    let (ok, _, err) = run("winogrande", &dir.join("other.json"));
    assert!(ok, "{err}");
    assert!(!err.contains("resumed"), "{err}");
}

/// A run killed in the middle of a task keeps the documents it finished: the rerun asks the model
/// only about the rest, no document is lost or counted twice, and the numbers equal those of an
/// uninterrupted run (batch size 1, so every document is computed alone either way).
#[test]
fn eval_killed_mid_task_resumes_from_its_last_document() {
    let model = smollm2();
    let dir = scratch("kill");
    let args = |out: &std::path::Path| -> Vec<String> {
        [
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--tasks",
            "lambada_openai",
            "--limit",
            "16",
            "--batch-size",
            "1",
            "--log-samples",
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let out = dir.join("r.json");
    let journal = dir.join(".r.json.tasks/lambada_openai.docs.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_painters"))
        .current_dir(root())
        .args(args(&out))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a few documents are on record (key line + 3 records).
    let start = std::time::Instant::now();
    loop {
        let lines = std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count());
        if lines >= 4 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(start.elapsed().as_secs() < 300, "no documents recorded");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "killed before the end");
    let recorded = std::fs::read_to_string(&journal).unwrap().lines().count() - 1;
    assert!((3..16).contains(&recorded), "{recorded}");

    let a: Vec<String> = args(&out);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (ok, _, err) = painters(&a);
    assert!(ok, "{err}");
    assert!(err.contains("documents on record"), "{err}");
    assert!(err.contains("of them from earlier runs"), "{err}");
    assert!(!journal.exists(), "checkpoints removed at the end");
    // Every document once, in order.
    let samples = std::fs::read_to_string(dir.join("r_samples_lambada_openai.jsonl")).unwrap();
    let ids: Vec<u64> = samples
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["doc_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (0..16).collect::<Vec<u64>>());

    let fresh = dir.join("fresh.json");
    let a: Vec<String> = args(&fresh);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (ok, _, err) = painters(&a);
    assert!(ok, "{err}");
    assert!(!err.contains("on record"), "{err}");
    let read = |p: &std::path::Path| -> Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let (resumed, fresh_v) = (read(&out), read(&fresh));
    assert_eq!(
        resumed["results"]["lambada_openai"],
        fresh_v["results"]["lambada_openai"]
    );
    let fresh_samples =
        std::fs::read_to_string(dir.join("fresh_samples_lambada_openai.jsonl")).unwrap();
    assert_eq!(samples, fresh_samples);
}

/// Issue 23: `--weights` is carried to the model loader, recorded in the results file beside the
/// scoring version and each task's data digest, and part of the checkpoints' key; BERT refuses
/// anything but f32 before loading.
#[test]
fn eval_records_the_weight_mode_scoring_version_and_data() {
    let dir = scratch("weights");
    let model = smollm2();
    let run = |weights: &str, name: &str| -> Value {
        let out = dir.join(name);
        let (ok, _, err) = painters(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--tasks",
            "arc_easy",
            "--limit",
            "3",
            "--weights",
            weights,
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
    };
    let exact = run("f32", "f32.json");
    let native = run("native", "native.json");
    assert_eq!(exact["config"]["weights"], "f32");
    assert_eq!(native["config"]["weights"], "native");
    assert_eq!(
        exact["config"]["scoring_version"],
        painters_bench::score::SCORING_VERSION
    );
    let data = exact["data_sha256"]["arc_easy"].as_str().unwrap();
    assert_eq!(data.len(), 64);
    assert_eq!(native["data_sha256"]["arc_easy"], data);

    let (ok, _, err) = painters(&[
        "glue",
        "--model",
        common::minilm().to_str().unwrap(),
        "--task",
        "rte",
        "--weights",
        "bf16",
    ]);
    assert!(!ok);
    assert!(err.contains("--weights bf16"), "{err}");
    assert!(err.contains("f32 only"), "{err}");
}

/// Issue 23, item 6: the binary finds its task data from any folder, without `--data-dir`: the
/// data built into it is unpacked once into the cache (`$PAINTERS_CACHE` here) and read from
/// there; the documents are the repository's (same digest), and `--help` says where they come
/// from.
#[test]
fn eval_runs_from_any_folder_with_the_data_built_in() {
    let dir = scratch("anywhere");
    let cache = dir.join("cache");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let model = smollm2();
    let out = elsewhere.join("r.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_painters"))
        .current_dir(&elsewhere)
        .env("PAINTERS_CACHE", &cache)
        .env_remove("PAINTERS_DATA_DIR")
        .args([
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--tasks",
            "arc_easy",
            "--limit",
            "2",
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let data_dir = v["config"]["data_dir"].as_str().unwrap();
    assert!(data_dir.starts_with(cache.to_str().unwrap()), "{data_dir}");
    let bundled = v["data_sha256"]["arc_easy"].as_str().unwrap().to_string();
    // The same documents as the repository's data/.
    let repo = dir.join("repo.json");
    let (ok, _, err) = painters(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--tasks",
        "arc_easy",
        "--limit",
        "2",
        "--no-progress",
        "--data-dir",
        root().join("data").to_str().unwrap(),
        "--out",
        repo.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&repo).unwrap()).unwrap();
    assert_eq!(v["data_sha256"]["arc_easy"], bundled.as_str());
    let (_, help, _) = painters(&["eval", "--help"]);
    assert!(help.contains("built into painters"), "{help}");
}
