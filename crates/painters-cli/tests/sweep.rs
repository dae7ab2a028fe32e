//! Sweeps on the tiny fixture Llama (6 blocks, vocab 256, one token per byte) with small task files
//! written into a scratch folder: prefix reuse changes no number and saves the expected block
//! applications, an interrupted sweep resumes without losing or duplicating anything, shards merge
//! into the unsharded result, and the experiment lists have the paper's sizes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use burn::tensor::Device;
use painters::{KvMode, Plan};
use painters_bench::batching::BatchOptions;
use painters_bench::eval::{EvalOptions, evaluate_task};
use painters_bench::lm::{ByteTokenizer, LlamaLm};
use painters_bench::models;
use painters_bench::score::SCORING_VERSION;
use painters_bench::sweep::summary::{NormConfig, normalized_median};
use painters_bench::sweep::{
    Experiment, ExperimentOptions, ResultKey, SchedulePoint, Store, SweepError, SweepModel,
    SweepOptions, merge, run_sweep, scoring_settings, sweep_points,
};
use painters_bench::tasks;
use painters_llama::{LlamaModel, WeightMode};
use serde_json::Value;

fn tiny_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama")
}

fn tiny() -> LlamaModel {
    LlamaModel::load(tiny_dir(), &Device::flex()).unwrap()
}

fn sha() -> String {
    models::sha256_file(&models::weight_file(&tiny_dir())).unwrap()
}

/// A fresh scratch folder.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("painters-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const WORDS: &[&str] = &[
    "red", "cat", "sun", "map", "dog", "sea", "hat", "pen", "cup", "box", "sky", "ice",
];

/// `lambada_openai` (one scored word per document) and `arc_easy` (four choices sharing a question)
/// files with `docs` short documents each (every input fits the fixture's 128 positions).
fn write_data(dir: &Path, docs: usize) {
    let lam = dir.join("lambada_openai");
    let arc = dir.join("arc_easy");
    std::fs::create_dir_all(&lam).unwrap();
    std::fs::create_dir_all(&arc).unwrap();
    let mut l = String::new();
    let mut a = String::new();
    for i in 0..docs {
        let w = |k: usize| WORDS[(i * 5 + k * 7) % WORDS.len()];
        let text = format!("the {} saw a {} and a {} by the {}", w(0), w(1), w(2), w(3));
        l.push_str(&serde_json::json!({"idx": i, "text": text}).to_string());
        l.push('\n');
        let q = format!("Which one is a {} or a {}?", w(4), w(5));
        let choices: Vec<String> = (0..4).map(|k| format!("a {}", w(k + 6))).collect();
        let answer = ["A", "B", "C", "D"][i % 4];
        a.push_str(
            &serde_json::json!({
                "id": format!("q{i}"),
                "question": q,
                "choices": {"label": ["A", "B", "C", "D"], "text": choices},
                "answerKey": answer,
            })
            .to_string(),
        );
        a.push('\n');
    }
    std::fs::write(lam.join("test.jsonl"), l).unwrap();
    std::fs::write(arc.join("test.jsonl"), a).unwrap();
}

fn options(data: &Path, out: &Path, tasks: &[&str]) -> SweepOptions {
    let mut o = SweepOptions::new(
        tasks.iter().map(|t| t.to_string()).collect(),
        out.to_path_buf(),
    );
    o.data_dir = data.to_path_buf();
    o.batch = BatchOptions {
        batch_size: 2,
        ..BatchOptions::default()
    };
    o
}

fn points(exps: &[Experiment], seeds: usize, max_loops: usize) -> Vec<SchedulePoint> {
    let opts = ExperimentOptions {
        seeds,
        max_loops,
        loops: 3,
        ..ExperimentOptions::default()
    };
    sweep_points(exps, 6, &opts).unwrap()
}

/// Every stored result of a sweep folder: (key hash) → ("metric,filter" → value).
fn stored(out: &Path) -> BTreeMap<String, BTreeMap<String, f64>> {
    Store::at(out)
        .scan()
        .unwrap()
        .into_iter()
        .map(|(path, r)| {
            let r = r.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let m = r.metrics.iter().map(|m| (m.key(), m.value)).collect();
            (r.key.hash(), m)
        })
        .collect()
}

/// `results.csv` as (label, task, metric, filter) → value.
fn csv(out: &Path) -> BTreeMap<(String, String, String, String), String> {
    let text = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "label,variant,n,m,seed,loops,task,metric,filter,value,stderr,schedule,file"
    );
    lines
        .map(|l| {
            // The schedule column may be quoted (it has commas); the first ten cells never are.
            let c: Vec<&str> = l.splitn(11, ',').collect();
            (
                (c[0].into(), c[6].into(), c[7].into(), c[8].into()),
                c[9].to_string(),
            )
        })
        .collect()
}

fn assert_same_results(a: &Path, b: &Path) {
    let (x, y) = (stored(a), stored(b));
    assert_eq!(
        x.keys().collect::<Vec<_>>(),
        y.keys().collect::<Vec<_>>(),
        "different result keys"
    );
    for (k, m) in &x {
        for (metric, v) in m {
            let w = y[k][metric];
            assert!(
                (v - w).abs() <= 1e-9 * v.abs().max(1.0) || (v.is_nan() && w.is_nan()),
                "{k} {metric}: {v} vs {w}"
            );
        }
    }
    let (x, y) = (csv(a), csv(b));
    assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
    for (k, v) in &x {
        let (v, w): (f64, f64) = (v.parse().unwrap(), y[k].parse().unwrap());
        assert!(
            (v - w).abs() <= 1e-9 * v.abs().max(1.0) || (v.is_nan() && w.is_nan()),
            "{k:?}: {v} vs {w}"
        );
    }
}

#[test]
fn experiment_lists_for_smollm2_have_the_paper_sizes() {
    let opts = ExperimentOptions::default();
    let size = |e: Experiment| e.points(30, &opts).unwrap().len();
    // Every list has the full model; N = 0..=14 gives 15 middle sizes M = 29, 27, …, 1.
    assert_eq!(size(Experiment::SkipOne), 1 + 30);
    assert_eq!(size(Experiment::Switch), 1 + 29);
    for e in [
        Experiment::Skip,
        Experiment::MiddleRepeat,
        Experiment::Reverse,
        Experiment::Parallel,
        Experiment::LoopedParallel,
    ] {
        assert_eq!(size(e), 1 + 15, "{e}");
    }
    assert_eq!(size(Experiment::Random), 1 + 15 * 10);
    assert_eq!(size(Experiment::Grid), 1 + 15 * 28);
    assert_eq!(size(Experiment::Summary), 1 + 15 * 5 + 15 * 10);
    // all: the grid's K = 3 column is looped_parallel's.
    assert_eq!(
        size(Experiment::All),
        1 + 30 + 29 + 15 * 5 + 150 + 15 * 28 - 15
    );

    let pts = Experiment::Summary.points(30, &opts).unwrap();
    assert_eq!(pts[0].label, "full");
    let mut labels: Vec<&str> = pts.iter().map(|p| p.label.as_str()).collect();
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), pts.len(), "labels are unique");
    for p in &pts[1..] {
        let n = p.n.unwrap();
        assert_eq!(p.m, Some(30 - 2 * n - 1), "{}", p.label);
        assert!(Plan::compile(&p.schedule, 30, KvMode::Exact).is_ok());
    }
    let lp = pts
        .iter()
        .find(|p| p.label == "looped_parallel/n=14/loops=3")
        .unwrap();
    assert_eq!((lp.m, lp.loops), (Some(1), Some(3)));
    assert_eq!(lp.schedule, "0..=14, 15x3, 16..30".parse().unwrap());
    let r = pts.iter().find(|p| p.label == "random/n=8/seed=9").unwrap();
    assert_eq!(
        (r.variant.as_str(), r.seed, r.m),
        ("random", Some(9), Some(13))
    );
    let grid = Experiment::Grid
        .points(
            30,
            &ExperimentOptions {
                max_loops: 4,
                ..opts
            },
        )
        .unwrap();
    assert_eq!(grid.len(), 1 + 15 * 4);
    assert_eq!(
        "FIG10".parse::<Experiment>().unwrap(),
        Experiment::Grid,
        "aliases"
    );
    assert!(matches!(
        "nope".parse::<Experiment>(),
        Err(SweepError::UnknownExperiment(_))
    ));
}

#[test]
fn normalized_median_on_hand_computed_numbers() {
    let tasks = [
        "arc_challenge",
        "hellaswag",
        "winogrande",
        "lambada_openai",
        "gsm8k",
    ];
    let cfg = NormConfig::defaults_for(&tasks);
    assert_eq!(cfg.tasks["arc_challenge"].metric, "acc_norm,none");
    assert_eq!(cfg.tasks["gsm8k"].metric, "exact_match,strict-match");
    assert_eq!(cfg.tasks["winogrande"].floor, 0.5);
    let m = |kv: [f64; 5]| -> BTreeMap<String, f64> {
        tasks.iter().map(|t| t.to_string()).zip(kv).collect()
    };
    let full = m([0.45, 0.55, 0.70, 0.60, 0.20]);
    // Normalized: arc (0.35−0.25)/0.20 = 0.5, hellaswag (0.31−0.25)/0.30 = 0.2,
    // winogrande (0.66−0.5)/0.20 = 0.8, lambada 0.54/0.60 = 0.9, gsm8k 0.01/0.20 = 0.05.
    // Sorted 0.05, 0.2, 0.5, 0.8, 0.9: the median is 0.5.
    let s = m([0.35, 0.31, 0.66, 0.54, 0.01]);
    assert!((normalized_median(&s, &full, &cfg).unwrap() - 0.5).abs() < 1e-12);
    // A floor override moves it: arc floor 0.35 makes arc 0, then the median is 0.2.
    let mut cfg2 = cfg.clone();
    cfg2.set_floor("arc_challenge", 0.35).unwrap();
    assert!((normalized_median(&s, &full, &cfg2).unwrap() - 0.2).abs() < 1e-12);
    // Four tasks: the mean of the middle two (0.2 and 0.8 → 0.5 without arc's 0.5: 0.05, 0.2, 0.8,
    // 0.9 → 0.5).
    let mut s4 = s.clone();
    s4.remove("arc_challenge");
    assert!((normalized_median(&s4, &full, &cfg).unwrap() - 0.5).abs() < 1e-12);
}

#[test]
fn prefix_reuse_changes_no_number_and_saves_the_counted_blocks() {
    let model = tiny();
    let data = scratch("reuse-data");
    write_data(&data, 5);
    let sm = SweepModel {
        model: &model,
        tokenizer: &ByteTokenizer,
        sha256: sha(),
    };

    // Hand-checkable: the skip experiment on 6 blocks. full = 0..6; skip N=0: [0]; N=1: [0, 1, 5];
    // N=2: [0, 1, 2, 4, 5]. Trie edges: [0] | [1] | [5] | [2] | [3, 4, 5] | [4, 5] = 9 block
    // applications per pass instead of 6 + 1 + 3 + 5 = 15. lambada with 5 documents in batches of 2
    // is 3 passes: 27 instead of 45.
    let pts = points(&[Experiment::Skip], 0, 1);
    let out = scratch("reuse-skip");
    let report = run_sweep(&sm, &pts, &options(&data, &out, &["lambada_openai"])).unwrap();
    assert_eq!(report.computed, 4);
    assert_eq!(report.reuse.passes, 3);
    assert_eq!(report.reuse.block_applications, 27);
    assert_eq!(report.reuse.block_applications_scratch, 45);
    assert_eq!(report.reuse.saved(), 18);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["reuse"]["block_applications_saved"], 18);

    // Without reuse: every schedule alone, nothing saved, the same numbers.
    let alone = scratch("reuse-skip-alone");
    let mut o = options(&data, &alone, &["lambada_openai"]);
    o.prefix_reuse = false;
    let r2 = run_sweep(&sm, &pts, &o).unwrap();
    assert_eq!(r2.reuse.saved(), 0);
    assert_eq!(r2.reuse.block_applications, 45);
    assert_same_results(&out, &alone);

    // A richer sweep (every variant, shared-question arc batches too) against each schedule
    // evaluated on its own through the plain LlamaLm.
    let pts = points(&[Experiment::Summary, Experiment::Switch], 2, 3);
    let out = scratch("reuse-summary");
    let tasks_ = ["lambada_openai", "arc_easy"];
    let opts = options(&data, &out, &tasks_);
    let report = run_sweep(&sm, &pts, &opts).unwrap();
    assert!(report.reuse.saved() > 0, "{:?}", report.reuse);
    assert!(report.reuse.saved_fraction() > 0.2, "{:?}", report.reuse);
    let store = Store::at(&out);
    let eval_opts = EvalOptions {
        limit: None,
        batch: opts.batch,
        log_samples: false,
        progress: false,
    };
    for task in tasks_ {
        let t = tasks::by_name(task).unwrap();
        for p in &pts {
            let plan = Plan::compile(&p.schedule, 6, KvMode::Exact).unwrap();
            let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
            let want = evaluate_task(&lm, t.as_ref(), &data, &eval_opts).unwrap();
            let key = ResultKey {
                model_sha256: sm.sha256.clone(),
                schedule: p.schedule.to_string(),
                task: task.into(),
                limit: None,
                seed: p.seed,
                finetune: None,
                data: t.load(&data, None).unwrap().digest(&t.info()),
                settings: scoring_settings(WeightMode::F32, &opts.batch),
                scoring: SCORING_VERSION,
            };
            let painters_bench::sweep::Lookup::Valid(rec) = store.lookup(&key) else {
                panic!("{} on {task} missing", p.label)
            };
            assert!(rec.points.contains(&p.meta()), "{}", p.label);
            for m in &want.metrics {
                let got = rec.metric(&format!("{},{}", m.metric, m.filter)).unwrap();
                assert!(
                    (got.value - m.value).abs() <= 1e-5 * m.value.abs().max(1.0),
                    "{} {task} {}: reuse {} vs alone {}",
                    p.label,
                    m.metric,
                    got.value,
                    m.value
                );
            }
        }
    }
    // The combined file has every point and a normalized median for them.
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["points"].as_array().unwrap().len(), pts.len());
    assert_eq!(json["normalized"]["points"][0]["label"], "full");
    assert_eq!(json["normalized"]["points"][0]["median"], 1.0);
    assert_eq!(json["random"].as_array().unwrap().len(), 3);
    assert_eq!(json["random"][0]["seeds"], 2);
}

#[test]
fn a_stopped_sweep_resumes_without_losing_or_duplicating() {
    let model = tiny();
    let data = scratch("resume-data");
    write_data(&data, 4);
    let sm = SweepModel {
        model: &model,
        tokenizer: &ByteTokenizer,
        sha256: sha(),
    };
    let pts = points(&[Experiment::Reverse, Experiment::Parallel], 0, 1);
    let tasks_ = ["lambada_openai", "arc_easy"];

    let whole = scratch("resume-whole");
    let full = run_sweep(&sm, &pts, &options(&data, &whole, &tasks_)).unwrap();

    let out = scratch("resume-part");
    let mut o = options(&data, &out, &tasks_);
    o.group_size = 3;
    o.stop_after = Some(4);
    assert!(matches!(
        run_sweep(&sm, &pts, &o),
        Err(SweepError::Stopped(4))
    ));
    assert_eq!(stored(&out).len(), 4);
    // A corrupt file (a partial write from another tool) is redone, never trusted.
    let victim = Store::at(&out).scan().unwrap()[0].0.clone();
    std::fs::write(&victim, "{\"format\": \"painters-sweep-result/1\", \"key\"").unwrap();
    o.stop_after = None;
    let rest = run_sweep(&sm, &pts, &o).unwrap();
    assert_eq!(rest.skipped, 3);
    assert_eq!(rest.redone, 1);
    assert_eq!(rest.computed + rest.skipped, full.owned);
    assert_eq!(rest.present, full.present);
    assert_same_results(&out, &whole);
    // Nothing left to do.
    let again = run_sweep(&sm, &pts, &o).unwrap();
    assert_eq!((again.computed, again.skipped), (0, full.owned));
}

#[test]
fn shards_merge_into_the_unsharded_sweep_and_conflicts_are_errors() {
    let model = tiny();
    let data = scratch("shard-data");
    write_data(&data, 3);
    let sm = SweepModel {
        model: &model,
        tokenizer: &ByteTokenizer,
        sha256: sha(),
    };
    let pts = points(&[Experiment::Skip, Experiment::Random], 2, 1);
    let tasks_ = ["lambada_openai", "arc_easy"];
    let whole = scratch("shard-whole");
    let mut o = options(&data, &whole, &tasks_);
    o.group_size = 2;
    run_sweep(&sm, &pts, &o).unwrap();

    let parts: Vec<PathBuf> = (0..2)
        .map(|i| {
            let d = scratch(&format!("shard-{i}"));
            let mut o = options(&data, &d, &tasks_);
            o.group_size = 2;
            o.shard = format!("{i}/2").parse().unwrap();
            let r = run_sweep(&sm, &pts, &o).unwrap();
            assert!(r.computed > 0 && r.computed < 20, "{r:?}");
            d
        })
        .collect();
    let a = stored(&parts[0]);
    let b = stored(&parts[1]);
    assert!(a.keys().all(|k| !b.contains_key(k)), "shards are disjoint");
    assert_eq!(a.len() + b.len(), stored(&whole).len());

    let merged = scratch("shard-merged");
    let cfg = NormConfig::defaults_for(&tasks_);
    let rep = merge(&parts, &merged, &cfg).unwrap();
    assert_eq!(rep.results, a.len() + b.len());
    assert_eq!(rep.duplicates, 0);
    assert_same_results(&merged, &whole);

    // An equal duplicate is fine; a conflicting one names both files.
    let dup = scratch("shard-dup");
    let src = Store::at(&parts[0]).scan().unwrap()[0].0.clone();
    let name = src.file_name().unwrap().to_owned();
    std::fs::create_dir_all(dup.join("results")).unwrap();
    std::fs::copy(&src, dup.join("results").join(&name)).unwrap();
    let inputs = vec![parts[0].clone(), parts[1].clone(), dup.clone()];
    assert_eq!(merge(&inputs, &scratch("m2"), &cfg).unwrap().duplicates, 1);
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&src).unwrap()).unwrap();
    let task = v["key"]["task"].as_str().unwrap().to_string();
    let res = v["evaluation"]["results"][&task].as_object_mut().unwrap();
    let k = res
        .keys()
        .find(|k| k.starts_with("acc,"))
        .unwrap()
        .to_string();
    let x = res[&k].as_f64().unwrap();
    res[&k] = serde_json::json!(x + 0.25);
    std::fs::write(dup.join("results").join(&name), v.to_string()).unwrap();
    match merge(&inputs, &scratch("m3"), &cfg) {
        Err(SweepError::Conflict { a, b, .. }) => {
            assert_eq!(a, src);
            assert_eq!(b, dup.join("results").join(&name));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // A corrupt file in a shard is an error naming it.
    std::fs::write(dup.join("results").join(&name), "{").unwrap();
    match merge(&inputs, &scratch("m4"), &cfg) {
        Err(SweepError::InvalidRecord { path, .. }) => {
            assert_eq!(path, dup.join("results").join(&name))
        }
        other => panic!("expected an invalid record, got {other:?}"),
    }
}

fn painters(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_painters"))
        .args(args)
        .output()
        .unwrap()
}

fn result_files(out: &Path) -> usize {
    std::fs::read_dir(out.join("results")).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.ends_with(".json") && !n.starts_with('.')
            })
            .count()
    })
}

#[test]
fn a_killed_sweep_process_resumes_to_the_uninterrupted_result() {
    let data = scratch("kill-data");
    write_data(&data, 24);
    let model = tiny_dir();
    let args = |out: &Path| -> Vec<String> {
        [
            "sweep",
            "--model",
            model.to_str().unwrap(),
            "--byte-tokenizer",
            "--experiment",
            "random,grid",
            "--seeds",
            "6",
            "--max-loops",
            "6",
            "--tasks",
            "lambada_openai",
            "--batch-size",
            "1",
            "--group-size",
            "2",
            "--no-progress",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // 1 + 3 × 6 random + 3 × 6 grid points; the grid's parallel at M = 1 is the full model (one
    // key), the random ones at M = 1 are not (the seed is part of the key), and two random points
    // at different N happen to shuffle into the same schedule with the same seed (one key).
    let keys: std::collections::BTreeSet<(String, Option<i64>)> =
        points(&[Experiment::Random, Experiment::Grid], 6, 6)
            .iter()
            .map(|p| (p.schedule.to_string(), p.seed))
            .collect();
    let total = keys.len();
    assert_eq!(total, 1 + 18 + 18 - 2);

    let killed = scratch("kill-part");
    let mut child = Command::new(env!("CARGO_BIN_EXE_painters"))
        .args(args(&killed))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while result_files(&killed) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no result after 120 s"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sweep ended ({status}) before any result appeared");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = result_files(&killed);
    assert!(
        at_kill < total,
        "killed too late to test anything: {at_kill}"
    );
    assert!(!killed.join("results.json").exists());

    let resumed = painters(&args(&killed).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(err.contains("prefix reuse:"), "{err}");
    assert_eq!(result_files(&killed), total);

    let whole = scratch("kill-whole");
    let ok = painters(&args(&whole).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_same_results(&killed, &whole);

    // Merge through the CLI as well: the two folders are equal duplicates.
    let merged = scratch("kill-merged");
    let m = painters(&[
        "merge",
        killed.to_str().unwrap(),
        whole.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    assert_same_results(&merged, &whole);
}

/// Issue 23: a stored result is keyed by everything that can change it. The same documents read
/// from another folder reuse every result; a rerun after one document of one task changed
/// recomputes exactly that task's results; another batch size or prefix sharing recomputes all.
#[test]
fn results_of_other_data_or_settings_are_recomputed_never_reused() {
    let model = tiny();
    let dir = scratch("stale");
    let (data, out) = (dir.join("data"), dir.join("out"));
    write_data(&data, 3);
    let pts = points(&[Experiment::Skip], 1, 1);
    let sm = SweepModel {
        model: &model,
        tokenizer: &ByteTokenizer,
        sha256: sha(),
    };
    let tasks_ = ["lambada_openai", "arc_easy"];
    let mut opts = options(&data, &out, &tasks_);
    let per_task = pts.len();
    let first = run_sweep(&sm, &pts, &opts).unwrap();
    assert_eq!(first.computed, 2 * per_task);

    // The same documents from another folder: nothing to compute.
    let copy = dir.join("copy");
    write_data(&copy, 3);
    opts.data_dir = copy.clone();
    let again = run_sweep(&sm, &pts, &opts).unwrap();
    assert_eq!((again.computed, again.skipped), (0, 2 * per_task));

    // One lambada document changed: lambada's results are recomputed, arc_easy's reused.
    let lam = copy.join("lambada_openai/test.jsonl");
    let text = std::fs::read_to_string(&lam).unwrap();
    std::fs::write(&lam, text.replacen("the ", "a ", 1)).unwrap();
    let changed = run_sweep(&sm, &pts, &opts).unwrap();
    assert_eq!((changed.computed, changed.skipped), (per_task, per_task));
    assert_eq!(
        changed.not_reused, per_task,
        "the old lambada results are set aside, said so"
    );
    assert_ne!(changed.data["lambada_openai"], first.data["lambada_openai"]);
    assert_eq!(changed.data["arc_easy"], first.data["arc_easy"]);
    let rerun = run_sweep(&sm, &pts, &opts).unwrap();
    assert_eq!(rerun.computed, 0, "the recomputed results are found again");

    // Another batch size, then no shared prefixes: every result recomputed.
    opts.batch.batch_size = 3;
    assert_eq!(run_sweep(&sm, &pts, &opts).unwrap().computed, 2 * per_task);
    opts.batch.min_saved_tokens = None;
    assert_eq!(run_sweep(&sm, &pts, &opts).unwrap().computed, 2 * per_task);
}

/// Issue 23: `merge` refuses shards whose results were computed on different documents.
#[test]
fn merge_refuses_shards_of_different_data() {
    let model = tiny();
    let dir = scratch("merge-data");
    let (a, b) = (dir.join("data-a"), dir.join("data-b"));
    write_data(&a, 2);
    write_data(&b, 2);
    let lam = b.join("lambada_openai/test.jsonl");
    let text = std::fs::read_to_string(&lam).unwrap();
    std::fs::write(&lam, text.replacen("the ", "a ", 1)).unwrap();
    let pts = points(&[Experiment::Skip], 1, 1);
    let sm = SweepModel {
        model: &model,
        tokenizer: &ByteTokenizer,
        sha256: sha(),
    };
    let mut shards = Vec::new();
    for (i, data) in [&a, &b].into_iter().enumerate() {
        let out = dir.join(format!("shard{i}"));
        let mut opts = options(data, &out, &["lambada_openai"]);
        opts.shard = painters_bench::sweep::Shard { index: i, count: 2 };
        opts.group_size = 1;
        run_sweep(&sm, &pts, &opts).unwrap();
        shards.push(out);
    }
    let err = merge(&shards, &dir.join("merged"), &NormConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("data"), "{err}");
}

/// `--dry-run` counts what the sweep would do and writes nothing: its points are the ones the real
/// sweep then runs, and its tokens are the data's bytes (the fixture reads one token per byte; a
/// LAMBADA document is one request whose context and continuation together are its text).
#[test]
fn a_dry_run_counts_the_sweep_and_writes_nothing() {
    let dir = scratch("dry-run");
    write_data(&dir, 6);
    let out = dir.join("out");
    let args = |dry: bool| {
        let mut a = vec![
            "sweep",
            "--model",
            tiny_dir().to_str().unwrap(),
            "--experiment",
            "skip,random",
            "--seeds",
            "2",
            "--tasks",
            "lambada_openai",
            "--data-dir",
            dir.to_str().unwrap(),
            "--byte-tokenizer",
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if dry {
            a.push("--dry-run".into());
        }
        a
    };
    let dry = painters(&args(true).iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&dry.stdout).to_string();
    assert!(
        dry.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(!out.exists(), "a dry run writes nothing");
    let bytes: usize = std::fs::read_to_string(dir.join("lambada_openai/test.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .len()
        })
        .sum();
    assert!(
        text.contains(&format!("| lambada_openai | 6 | 6 | {bytes} | 0 |")),
        "{text}"
    );
    let points: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("| **all** | **"))
        .and_then(|r| r.split("**").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total row: {text}"));
    assert!(text.contains("CPU-hours"), "{text}");
    // One result file per distinct schedule and task.
    let distinct: usize = text
        .lines()
        .find_map(|l| l.split_once(" distinct schedules"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no schedule count: {text}"));

    let run = painters(&args(false).iter().map(String::as_str).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(run.status.success(), "{err}");
    assert!(
        err.contains(&format!("sweep: {points} schedule points × 1 tasks")),
        "{err}"
    );
    assert_eq!(result_files(&out), distinct);
    std::fs::remove_dir_all(&dir).ok();
}
