//! GLUE sweeps (`painters sweep` on a BERT folder) on the tiny fixture BERT (6 layers, with a
//! small WordPiece tokenizer written for it) and tiny SST-2 / MRPC files in a scratch folder:
//! one record per (schedule, task) with the GLUE average per point in results.json, resuming
//! computes nothing while a changed fine-tuning setting computes everything again, shards merge into
//! the unsharded result, and tasks of the other model kind are typed errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters_bench::models;
use painters_bench::sweep::{
    Experiment, ExperimentOptions, GlueSweepModel, GlueSweepOptions, SchedulePoint, Store,
    SweepError, lm_task, merge, run_glue_sweep, sweep_points,
};
use painters_bert::{BertModel, BertTokenizer};
use serde_json::{Value, json};

mod common;
use common::{TINY_BERT_WORDS, painters, root, scratch, tiny_bert_with_tokenizer};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `glue-sst2` and `glue-mrpc` with `train` and `dev` examples each (labels alternate).
fn write_glue(dir: &Path, train: usize, dev: usize) {
    let w = |i: usize, k: usize| TINY_BERT_WORDS[(i * 5 + k * 7) % 24];
    for (task, pair) in [("sst2", false), ("mrpc", true)] {
        let d = dir.join(format!("glue-{task}"));
        std::fs::create_dir_all(&d).unwrap();
        for (split, n, offset) in [("train", train, 0), ("dev", dev, 100)] {
            let mut text = String::new();
            for j in 0..n {
                let i = j + offset;
                let a = format!("the {} {} is {} .", w(i, 0), w(i, 1), w(i, 2));
                let line = if pair {
                    let b = format!("a {} {} was {} .", w(i, 3), w(i, 1), w(i, 4));
                    json!({"sentence1": a, "sentence2": b, "label": j % 2, "idx": j})
                } else {
                    json!({"sentence": a, "label": j % 2, "idx": j})
                };
                text.push_str(&line.to_string());
                text.push('\n');
            }
            std::fs::write(d.join(format!("{split}.jsonl")), text).unwrap();
        }
    }
}

/// The fixture model and GLUE data in one scratch folder: (model folder, data folder).
fn setup(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let model = tiny_bert_with_tokenizer(&dir);
    let data = dir.join("data");
    write_glue(&data, 8, 6);
    (model, data)
}

const TASKS: [&str; 2] = ["sst2", "mrpc"];

/// Fast settings: 1 epoch, batch 4, 32 tokens.
fn options(data: &Path, out: &Path) -> GlueSweepOptions {
    let mut o = GlueSweepOptions::new(TASKS.map(String::from).to_vec(), out.to_path_buf());
    o.data_dir = data.to_path_buf();
    o.settings.config.epochs = 1;
    o.settings.config.batch_size = 4;
    o.settings.config.max_length = 32;
    o.settings.config.learning_rate = 1e-3;
    o
}

/// Full + parallel at N = 0, 1, 2 (M = 5, 3, 1); parallel at M = 1 is the full model.
fn points() -> Vec<SchedulePoint> {
    sweep_points(&[Experiment::Parallel], 6, &ExperimentOptions::default()).unwrap()
}

struct Loaded {
    bert: BertModel,
    tokenizer: BertTokenizer,
    sha256: String,
}

fn load(model: &Path) -> Loaded {
    let bert = BertModel::load(model, &Device::flex()).unwrap();
    let tokenizer = BertTokenizer::for_model(model, bert.config()).unwrap();
    let sha256 = models::sha256_file(&models::weight_file(model)).unwrap();
    Loaded {
        bert,
        tokenizer,
        sha256,
    }
}

fn sweep_model(l: &Loaded) -> GlueSweepModel<'_> {
    GlueSweepModel {
        model: &l.bert,
        tokenizer: &l.tokenizer,
        sha256: l.sha256.clone(),
    }
}

/// Every stored result: (key hash) → ("metric,filter" → value).
fn stored(out: &Path) -> BTreeMap<String, BTreeMap<String, f64>> {
    Store::at(out)
        .scan()
        .unwrap()
        .into_iter()
        .map(|(path, r)| {
            let r = r.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(r.key.finetune.is_some(), "GLUE keys carry the settings");
            let m = r.metrics.iter().map(|m| (m.key(), m.value)).collect();
            (r.key.hash(), m)
        })
        .collect()
}

fn results_json(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

/// label → GLUE average, from results.json.
fn averages(v: &Value) -> BTreeMap<String, f64> {
    v["glue_average"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["label"].as_str().unwrap().to_string(),
                p["average"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn a_glue_sweep_writes_a_record_per_point_and_task_and_the_glue_average() {
    let (model, data) = setup("glue-a");
    let out = model.parent().unwrap().join("sweep");
    let (ok, _, err) = painters(&[
        "sweep",
        "--model",
        s(&model),
        "--experiment",
        "parallel",
        "--tasks",
        "sst2,mrpc",
        "--data-dir",
        s(&data),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--max-length",
        "32",
        "--lr",
        "1e-3",
        "--train-limit",
        "6",
        "--train-sample",
        "--eval-limit",
        "5",
        "--no-progress",
        "--out",
        s(&out),
    ]);
    assert!(ok, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // 4 points, 3 distinct schedules (parallel at M = 1 is the full model) × 2 tasks.
    let files = stored(&out);
    assert_eq!(files.len(), 3 * 2, "{err}");
    let v = results_json(&out);
    assert!(v.get("normalized").is_none(), "no lm-eval normalization");
    assert_eq!(v["limit"], json!(5));
    let fp = v["finetune"].as_str().unwrap();
    for part in [
        "epochs=1",
        "lr=0.001",
        "batch=4",
        "max_length=32",
        "train=sample:6",
        "seed=42",
    ] {
        assert!(fp.contains(part), "{part} in {fp}");
    }
    assert_eq!(v["glue_average"]["metrics"]["mrpc"], json!("f1,none"));
    assert_eq!(v["glue_average"]["metrics"]["sst2"], json!("accuracy,none"));
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    let avg = averages(&v);
    assert_eq!(avg.len(), 4);
    for p in points {
        let label = p["label"].as_str().unwrap();
        let sst2 = p["results"]["sst2"]["accuracy,none"]["value"]
            .as_f64()
            .unwrap();
        let mrpc = p["results"]["mrpc"]["f1,none"]["value"].as_f64().unwrap();
        assert!(
            close(avg[label], (sst2 + mrpc) / 2.0),
            "{label}: {} vs ({sst2} + {mrpc}) / 2",
            avg[label]
        );
    }
    assert_eq!(avg["full"], avg["parallel/n=2"], "the same result");
    assert!(close(
        v["glue_average"]["full"].as_f64().unwrap(),
        avg["full"]
    ));
    // Each result file: the dev subset, the train subset and the schedule.
    let store = Store::at(&out);
    for (_, r) in store.scan().unwrap() {
        let r = r.unwrap();
        let glue = &r.json["evaluation"]["glue"];
        assert_eq!(glue["eval"]["examples"], json!(5));
        assert_eq!(glue["train"]["examples"], json!(6));
        assert_eq!(glue["train_steps"], json!(2));
        assert_eq!(r.key.limit, Some(5));
    }
    // The CSV carries the averages, the report the figure and the per-task table.
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains(",glue_average,average,none,"))
            .count(),
        4
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("GLUE average vs M"), "{report}");
    assert!(report.contains("| parallel/n=0 |"), "{report}");
    assert!(report.contains("glue-finetune/1"), "{report}");
    assert!(out.join("figures/glue_average.svg").is_file());
    assert!(out.join("figures/glue_average.png").is_file());
}

#[test]
fn a_rerun_computes_nothing_and_a_changed_setting_computes_everything() {
    let (model, data) = setup("glue-b");
    let out = model.parent().unwrap().join("sweep");
    let l = load(&model);
    let m = sweep_model(&l);
    let pts = points();
    let opts = options(&data, &out);
    let first = run_glue_sweep(&m, &pts, &opts).unwrap();
    assert_eq!((first.owned, first.computed, first.skipped), (6, 6, 0));
    let before = stored(&out);
    let again = run_glue_sweep(&m, &pts, &opts).unwrap();
    assert_eq!((again.computed, again.skipped, again.redone), (0, 6, 0));
    assert_eq!(stored(&out), before, "nothing rewritten differently");

    // Another number of epochs is another key: all computed again, the old results kept.
    let mut two = opts.clone();
    two.settings.config.epochs = 2;
    let r = run_glue_sweep(&m, &pts, &two).unwrap();
    assert_eq!((r.computed, r.skipped), (6, 0));
    assert_eq!(stored(&out).len(), 12);
    // So is another eval limit, and another train subset.
    let mut eval = opts.clone();
    eval.eval_limit = Some(3);
    assert_eq!(run_glue_sweep(&m, &pts, &eval).unwrap().computed, 6);
    let mut sample = opts.clone();
    sample.settings.train_limit = Some(4);
    sample.settings.train_sample = true;
    assert_eq!(run_glue_sweep(&m, &pts, &sample).unwrap().computed, 6);
    // The first settings are still all there.
    assert_eq!(run_glue_sweep(&m, &pts, &opts).unwrap().skipped, 6);

    // A corrupt file is redone.
    let (path, _) = Store::at(&out).scan().unwrap().remove(0);
    std::fs::write(&path, "{").unwrap();
    let mut redo = 0;
    for o in [&opts, &two, &eval, &sample] {
        let r = run_glue_sweep(&m, &pts, o).unwrap();
        redo += r.redone;
        assert_eq!(r.redone, r.computed);
    }
    assert_eq!(redo, 1);
}

#[test]
fn shards_merge_into_the_unsharded_glue_sweep() {
    let (model, data) = setup("glue-c");
    let dir = model.parent().unwrap().to_path_buf();
    let l = load(&model);
    let m = sweep_model(&l);
    let pts = points();
    let whole = dir.join("whole");
    run_glue_sweep(&m, &pts, &options(&data, &whole)).unwrap();
    let mut parts = Vec::new();
    for i in 0..2 {
        let out = dir.join(format!("shard{i}"));
        let mut o = options(&data, &out);
        o.shard = format!("{i}/2").parse().unwrap();
        let r = run_glue_sweep(&m, &pts, &o).unwrap();
        assert_eq!(r.owned, 3, "6 units, every other one");
        parts.push(out);
    }
    let (a, b) = (stored(&parts[0]), stored(&parts[1]));
    assert!(a.keys().all(|k| !b.contains_key(k)), "shards are disjoint");
    let merged = dir.join("merged");
    let rep = merge(&parts, &merged, &Default::default()).unwrap();
    assert_eq!((rep.results, rep.duplicates), (6, 0));
    let (got, want) = (stored(&merged), stored(&whole));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, metrics) in &want {
        for (name, v) in metrics {
            assert!(
                close(got[k][name], *v),
                "{k} {name}: {} vs {v}",
                got[k][name]
            );
        }
    }
    let (gm, wm) = (
        averages(&results_json(&merged)),
        averages(&results_json(&whole)),
    );
    assert_eq!(gm.keys().collect::<Vec<_>>(), wm.keys().collect::<Vec<_>>());
    for (label, v) in &wm {
        assert!(close(gm[label], *v), "{label}");
    }

    // Shards of different fine-tuning settings do not merge.
    let other = dir.join("other");
    let mut o = options(&data, &other);
    o.settings.config.epochs = 2;
    o.tasks = vec!["sst2".into()];
    run_glue_sweep(&m, &pts[..1], &o).unwrap();
    match merge(&[whole, other], &dir.join("mixed"), &Default::default()) {
        Err(SweepError::Mixed(why)) => assert!(why.contains("epochs=2"), "{why}"),
        other => panic!("expected Mixed, got {other:?}"),
    }
}

#[test]
fn tasks_of_the_other_model_kind_are_typed_errors() {
    // Library: the typed errors.
    assert!(matches!(lm_task("sst2"), Err(SweepError::GlueTaskOnDecoder(t)) if t == "sst2"));
    let (model, data) = setup("glue-d");
    let out = model.parent().unwrap().join("sweep");
    let l = load(&model);
    let mut o = options(&data, &out);
    o.tasks = vec!["sst2".into(), "arc_easy".into()];
    match run_glue_sweep(&sweep_model(&l), &points(), &o) {
        Err(SweepError::LmTaskOnEncoder(t)) => assert_eq!(t, "arc_easy"),
        other => panic!("expected LmTaskOnEncoder, got {other:?}"),
    }
    assert!(!out.exists(), "checked before anything is written");

    // CLI: a cause, a hint, exit 1, no panic.
    let tiny_llama = root().join("tests/fixtures/models/tiny-llama");
    for (model, task, cause, hint) in [
        (
            tiny_llama.as_path(),
            "sst2",
            "`sst2` is a GLUE task",
            "BERT model folder",
        ),
        (
            model.as_path(),
            "arc_easy",
            "`arc_easy` is an lm-eval task",
            "GLUE tasks",
        ),
    ] {
        let (ok, _, err) = painters(&[
            "sweep",
            "--model",
            s(model),
            "--experiment",
            "skip",
            "--tasks",
            task,
            "--data-dir",
            s(&data),
            "--no-progress",
            "--out",
            s(&out),
        ]);
        assert!(!ok, "{err}");
        assert!(!err.contains("panicked"), "{err}");
        let error = err.lines().find(|l| l.starts_with("error: ")).unwrap_or("");
        assert!(error.contains(cause), "{err}");
        let hint_line = err.lines().find(|l| l.starts_with("hint: ")).unwrap_or("");
        assert!(hint_line.contains(hint), "{err}");
    }
    // GLUE-only settings on a Llama model are refused too.
    let (ok, _, err) = painters(&[
        "sweep",
        "--model",
        s(&tiny_llama),
        "--experiment",
        "skip",
        "--tasks",
        "lambada_openai",
        "--epochs",
        "2",
        "--out",
        s(&out),
    ]);
    assert!(
        !ok && err.contains("--epochs applies to GLUE sweeps"),
        "{err}"
    );
    // And decoder-only settings on a BERT model, which a GLUE sweep would otherwise ignore.
    for extra in [
        &["--floor", "sst2=0.5"][..],
        &["--norm-metric", "sst2=acc"],
        &["--no-prefix-reuse"],
        &["--group-size", "4"],
        &["--no-shared-prefix"],
    ] {
        let mut cli = vec![
            "sweep",
            "--model",
            s(&model),
            "--experiment",
            "skip",
            "--tasks",
            "sst2",
            "--data-dir",
            s(&data),
            "--no-progress",
            "--out",
            s(&out),
        ];
        cli.extend_from_slice(extra);
        let (ok, _, err) = painters(&cli);
        assert!(
            !ok && err.contains(&format!(
                "{} applies to decoder sweeps on lm-eval tasks",
                extra[0]
            )),
            "{extra:?}: {err}"
        );
        assert!(
            !out.exists(),
            "{extra:?}: refused before anything is written"
        );
    }
}
