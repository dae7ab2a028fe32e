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
    // arc_easy has no data yet: the run fails after winogrande is done.
    let (ok, _, err) = run("winogrande,arc_easy", &out);
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
