//! The bad-input suite: every way a user can hand the `painters` CLI something wrong gives a
//! one-line cause naming the file / tensor / line / step, a hint, and a non-zero exit — never a
//! panic. The cases and their messages are listed in docs/robustness.md (run with `--nocapture`
//! to print them).

use std::path::Path;
use std::process::Command;

mod common;
use common::{minilm, painters, root, scratch, smollm2};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run the CLI and check the failure's shape; returns the `error:` line.
#[track_caller]
fn fails(case: &str, args: &[&str], wants: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_painters"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{case}: succeeded\n{err}");
    assert_eq!(out.status.code(), Some(1), "{case}: exit code\n{err}");
    assert!(!err.contains("panicked"), "{case}: panicked\n{err}");
    let error = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{case}: no `error:` line\n{err}"));
    assert!(
        err.lines().any(|l| l.starts_with("hint: ")),
        "{case}: no hint\n{err}"
    );
    for w in wants {
        assert!(err.contains(w), "{case}: wanted {w:?} in\n{err}");
    }
    println!("| {case} | `{}` |", error.trim_start_matches("error: "));
    error.to_string()
}

/// `painters eval --model MODEL --tasks TASK EXTRA... --out OUT` must fail as [`fails`] checks.
#[track_caller]
fn eval_fails(case: &str, model: &str, task: &str, extra: &[&str], out: &str, wants: &[&str]) {
    let mut args = vec!["eval", "--model", model, "--tasks", task];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out]);
    fails(case, &args, wants);
}

#[test]
fn schedules_that_do_not_fit_the_model() {
    fails(
        "block index out of range",
        &["schedule", "0..=14, 40, 15..30", "--layers", "30"],
        &["step 15", "block 40 is out of range", "30 blocks"],
    );
    fails(
        "empty parallel step",
        &["schedule", "0, par(), 1"],
        &["column 8", "needs at least one branch"],
    );
    fails(
        "empty parallel step (JSON)",
        &[
            "schedule",
            r#"{"steps":[{"parallel":[]}]}"#,
            "--layers",
            "4",
        ],
        &["parallel step needs at least one branch"],
    );
    fails(
        "repeat count that unrolls past the limit",
        &["schedule", "0x99999999999, 1", "--layers", "2"],
        &["unrolls to", "block applications"],
    );
    fails(
        "range that spells out too many blocks",
        &["schedule", "0..=99999999999"],
        &["spells out more than"],
    );
    fails(
        "preset start layer past the middle",
        &[
            "schedule", "--preset", "skip", "--layers", "30", "--n", "20",
        ],
        &["preset"],
    );
    fails(
        "schedule JSON with an unknown key",
        &["schedule", r#"{"steps":[{"block":0,"times":2}]}"#],
        &["steps[0]", "unexpected key"],
    );
}

#[test]
fn model_files_that_are_missing_or_broken() {
    let dir = scratch("models");
    let out = dir.join("r.json");
    eval_fails(
        "missing model file",
        "models/nowhere.gguf",
        "arc_easy",
        &[],
        s(&out),
        &["nowhere.gguf"],
    );
    // The real model without its last kilobyte: the last tensor's data is cut.
    let bytes = std::fs::read(smollm2()).unwrap();
    let cut = dir.join("truncated.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 1024]).unwrap();
    eval_fails(
        "truncated GGUF (tensor data cut)",
        s(&cut),
        "arc_easy",
        &[],
        s(&out),
        &["truncated.gguf", "runs past the end"],
    );
    // A header cut inside the metadata.
    let cut = dir.join("header.gguf");
    std::fs::write(&cut, &bytes[..4096]).unwrap();
    eval_fails(
        "GGUF cut inside its metadata",
        s(&cut),
        "arc_easy",
        &[],
        s(&out),
        &["header.gguf"],
    );
    // A HF folder whose config lacks a required field.
    let hf = dir.join("hf");
    std::fs::create_dir_all(&hf).unwrap();
    let fixture = root().join("tests/fixtures/models/tiny-llama");
    std::fs::copy(
        fixture.join("model.safetensors"),
        hf.join("model.safetensors"),
    )
    .unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("config.json")).unwrap()).unwrap();
    config.as_object_mut().unwrap().remove("hidden_size");
    std::fs::write(hf.join("config.json"), config.to_string()).unwrap();
    eval_fails(
        "config.json without hidden_size",
        s(&hf),
        "arc_easy",
        &[],
        s(&out),
        &["config.json", "hidden_size"],
    );
    // A safetensors file whose header length lies.
    std::fs::copy(fixture.join("config.json"), hf.join("config.json")).unwrap();
    let mut st = std::fs::read(fixture.join("model.safetensors")).unwrap();
    st[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    std::fs::write(hf.join("model.safetensors"), &st).unwrap();
    eval_fails(
        "safetensors header length past the end",
        s(&hf),
        "arc_easy",
        &[],
        s(&out),
        &["model.safetensors"],
    );
    assert!(!out.exists());
}

#[test]
fn datasets_with_bad_lines() {
    let model = smollm2();
    let dir = scratch("data");
    let out = dir.join("r.json");
    std::fs::create_dir_all(dir.join("arc_easy")).unwrap();
    let good = std::fs::read_to_string(root().join("data/arc_easy/test.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    std::fs::write(
        dir.join("arc_easy/test.jsonl"),
        format!("{first}\n{{\"id\": \"x\", \"question\": \n"),
    )
    .unwrap();
    eval_fails(
        "malformed JSONL line",
        s(&model),
        "arc_easy",
        &["--data-dir", s(&dir), "--no-progress"],
        s(&out),
        &["arc_easy/test.jsonl:2"],
    );
    std::fs::write(dir.join("arc_easy/test.jsonl"), "\n\n").unwrap();
    eval_fails(
        "empty dataset file",
        s(&model),
        "arc_easy",
        &["--data-dir", s(&dir), "--no-progress"],
        s(&out),
        &["arc_easy/test.jsonl", "no documents"],
    );
    std::fs::write(
        dir.join("arc_easy/test.jsonl"),
        format!(
            "{first}\n{}\n",
            first.replace("\"question\": ", "\"query\": ")
        ),
    )
    .unwrap();
    eval_fails(
        "a line missing a field",
        s(&model),
        "arc_easy",
        &["--data-dir", s(&dir), "--no-progress"],
        s(&out),
        &["arc_easy/test.jsonl:2"],
    );
    // GLUE: a label out of range on line 3 of the train file.
    let glue = dir.join("glue-rte");
    std::fs::create_dir_all(&glue).unwrap();
    std::fs::copy(
        root().join("data/glue-rte/dev.jsonl"),
        glue.join("dev.jsonl"),
    )
    .unwrap();
    let train = std::fs::read_to_string(root().join("data/glue-rte/train.jsonl")).unwrap();
    let mut lines: Vec<String> = train.lines().take(4).map(str::to_string).collect();
    lines[2] = lines[2]
        .replace("\"label\": 0", "\"label\": 7")
        .replace("\"label\": 1", "\"label\": 7");
    std::fs::write(glue.join("train.jsonl"), lines.join("\n")).unwrap();
    fails(
        "GLUE label out of range",
        &[
            "glue",
            "--model",
            s(&minilm()),
            "--task",
            "rte",
            "--data-dir",
            s(&dir),
            "--out",
            s(&out),
        ],
        &["glue-rte/train.jsonl:3"],
    );
    assert!(!out.exists());
}

#[test]
fn sequences_over_the_maximum_position() {
    let dir = scratch("maxlen");
    let out = dir.join("r.json");
    fails(
        "BERT max length over max_position_embeddings",
        &[
            "glue",
            "--model",
            s(&minilm()),
            "--task",
            "rte",
            "--max-length",
            "4096",
            "--train-limit",
            "4",
            "--eval-limit",
            "4",
            "--out",
            s(&out),
        ],
        &["512"],
    );
}

#[test]
fn outputs_that_cannot_be_written() {
    let dir = scratch("out");
    let blocked = dir.join("no-such-folder/r.json");
    eval_fails(
        "--out in a missing folder (checked before any work)",
        "models/nowhere.gguf",
        "arc_easy",
        &[],
        s(&blocked),
        &["no-such-folder"],
    );
    fails(
        "GLUE --out in a missing folder",
        &[
            "glue",
            "--model",
            s(&minilm()),
            "--task",
            "rte",
            "--out",
            s(&blocked),
        ],
        &["no-such-folder"],
    );
    eval_fails(
        "unknown task",
        "m.gguf",
        "mmlu",
        &[],
        s(&dir.join("r.json")),
        &["unknown task `mmlu`"],
    );
}

/// Issue 23, item 3: every output path is checked — a file target that is a folder, a folder
/// target that is a file, a missing folder — before the model is even looked at (the model named
/// here does not exist, so an error about it would mean the check came too late).
#[test]
fn outputs_are_checked_before_the_model_loads() {
    let dir = scratch("out-kinds");
    let folder = dir.join("a-folder");
    std::fs::create_dir_all(&folder).unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    eval_fails(
        "eval --out names an existing folder",
        "models/nowhere.gguf",
        "arc_easy",
        &[],
        s(&folder),
        &["a-folder", "is a folder"],
    );
    std::fs::create_dir_all(dir.join("r_samples_arc_easy.jsonl")).unwrap();
    eval_fails(
        "eval --log-samples where the sample file would go is a folder",
        "models/nowhere.gguf",
        "arc_easy",
        &["--log-samples"],
        s(&dir.join("r.json")),
        &["r_samples_arc_easy.jsonl", "is a folder"],
    );
    fails(
        "glue --out names an existing folder",
        &[
            "glue",
            "--model",
            "models/nowhere",
            "--task",
            "rte",
            "--out",
            s(&folder),
        ],
        &["a-folder", "is a folder"],
    );
    fails(
        "glue --save names an existing file",
        &[
            "glue",
            "--model",
            "models/nowhere",
            "--task",
            "rte",
            "--save",
            s(&file),
        ],
        &["a-file", "not a folder"],
    );
    fails(
        "sweep --out names an existing file",
        &[
            "sweep",
            "--model",
            "models/nowhere.gguf",
            "--experiment",
            "skip",
            "--tasks",
            "arc_easy",
            "--out",
            s(&file),
        ],
        &["a-file", "not a folder"],
    );
    fails(
        "layers --out names an existing file",
        &[
            "layers",
            "--model",
            "models/nowhere.gguf",
            "--out",
            s(&file),
        ],
        &["a-file", "not a folder"],
    );
    fails(
        "bench --json names an existing folder",
        &[
            "bench",
            "--model",
            "models/nowhere.gguf",
            "--json",
            s(&folder),
        ],
        &["a-folder", "is a folder"],
    );
    fails(
        "merge --out names an existing file",
        &["merge", s(&folder), "--out", s(&file)],
        &["a-file", "not a folder"],
    );
}

/// Issue 23, item 4: values that mean nothing are refused up front, naming what was written (the
/// model does not exist, so these errors come before it is looked at).
#[test]
fn nonsense_values_are_refused_up_front() {
    let dir = scratch("nonsense");
    let out = dir.join("r.json");
    let nowhere = "models/nowhere.gguf";
    eval_fails(
        "an empty schedule",
        nowhere,
        "arc_easy",
        &["--schedule", ""],
        s(&out),
        &["schedule", "runs no blocks"],
    );
    eval_fails(
        "a schedule of zero steps (JSON)",
        nowhere,
        "arc_easy",
        &["--schedule", r#"{"steps": []}"#],
        s(&out),
        &[r#"`{"steps": []}`"#, "runs no blocks"],
    );
    eval_fails(
        "eval --limit 0",
        nowhere,
        "arc_easy",
        &["--limit", "0"],
        s(&out),
        &["--limit 0", "at least 1"],
    );
    eval_fails(
        "eval --batch-size 0",
        nowhere,
        "arc_easy",
        &["--batch-size", "0"],
        s(&out),
        &["--batch-size 0", "at least 1"],
    );
    eval_fails(
        "eval --max-length 0",
        nowhere,
        "arc_easy",
        &["--max-length", "0"],
        s(&out),
        &["--max-length 0"],
    );
    let sweep_out = dir.join("sweep");
    fails(
        "sweep --limit 0",
        &[
            "sweep",
            "--model",
            nowhere,
            "--experiment",
            "skip",
            "--tasks",
            "arc_easy",
            "--limit",
            "0",
            "--out",
            s(&sweep_out),
        ],
        &["--limit 0", "at least 1"],
    );
    fails(
        "sweep --batch-size 0",
        &[
            "sweep",
            "--model",
            nowhere,
            "--experiment",
            "skip",
            "--tasks",
            "arc_easy",
            "--batch-size",
            "0",
            "--out",
            s(&sweep_out),
        ],
        &["--batch-size 0", "at least 1"],
    );
    fails(
        "layers --limit 0",
        &[
            "layers",
            "--model",
            nowhere,
            "--limit",
            "0",
            "--out",
            s(&sweep_out),
        ],
        &["--limit 0", "at least 1"],
    );
    fails(
        "layers --batch-size 0",
        &[
            "layers",
            "--model",
            nowhere,
            "--batch-size",
            "0",
            "--out",
            s(&sweep_out),
        ],
        &["--batch-size 0", "at least 1"],
    );
    fails(
        "glue --lr NaN",
        &[
            "glue",
            "--model",
            "models/nowhere",
            "--task",
            "rte",
            "--lr",
            "NaN",
        ],
        &["--lr NaN", "positive"],
    );
    fails(
        "glue --lr -1",
        &[
            "glue",
            "--model",
            "models/nowhere",
            "--task",
            "rte",
            "--lr=-1",
        ],
        &["--lr -1", "positive"],
    );
    fails(
        "glue --batch-size 0",
        &[
            "glue",
            "--model",
            "models/nowhere",
            "--task",
            "rte",
            "--batch-size",
            "0",
        ],
        &["--batch-size 0", "at least 1"],
    );
    fails(
        "GLUE sweep --lr inf",
        &[
            "sweep",
            "--model",
            s(&minilm()),
            "--experiment",
            "skip",
            "--tasks",
            "rte",
            "--lr",
            "inf",
            "--out",
            s(&sweep_out),
        ],
        &["--lr inf", "positive"],
    );
    // Issue 23, item 2: a sweep of 10⁹ points is refused with its count, before the model loads.
    fails(
        "a sweep of a billion points",
        &[
            "sweep",
            "--model",
            s(&smollm2()),
            "--experiment",
            "grid",
            "--max-loops",
            "1000000000",
            "--tasks",
            "arc_easy",
            "--out",
            s(&sweep_out),
        ],
        &[
            "15000000001 schedule points",
            "at most 10000",
            "--max-points",
        ],
    );
    // A negative seed is a value, not an unknown flag: the run gets as far as the model.
    eval_fails(
        "--seed -1 is read as a value",
        nowhere,
        "arc_easy",
        &["--preset", "random", "--n", "3", "--seed", "-1"],
        s(&out),
        &["nowhere.gguf"],
    );
    assert!(!out.exists());
    assert!(!sweep_out.exists());
}

/// Issue 23, item 5: each message names what the user wrote.
#[test]
fn errors_blame_what_the_user_wrote() {
    let dir = scratch("blame");
    let out = dir.join("r.json");
    fails(
        "--shuffle range past the model",
        &["schedule", "0..32", "--shuffle", "5..=99", "--layers", "32"],
        &["--shuffle 5..=99", "32 blocks"],
    );
    let fixture = root().join("tests/fixtures/models/tiny-llama");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("config.json")).unwrap()).unwrap();
    let folder = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let hf = dir.join(name);
        std::fs::create_dir_all(&hf).unwrap();
        std::fs::copy(
            fixture.join("model.safetensors"),
            hf.join("model.safetensors"),
        )
        .unwrap();
        let mut c = config.clone();
        edit(&mut c);
        std::fs::write(hf.join("config.json"), c.to_string()).unwrap();
        hf
    };
    let heads = folder("heads", &|c| c["num_attention_heads"] = 0.into());
    let err = fails(
        "num_attention_heads: 0",
        &[
            "eval",
            "--model",
            s(&heads),
            "--tasks",
            "arc_easy",
            "--out",
            s(&out),
        ],
        &["num_attention_heads"],
    );
    assert!(!err.contains("num_key_value_heads"), "{err}");
    let falcon = folder("falcon", &|c| c["model_type"] = "falcon".into());
    let (_, _, stderr) = painters(&[
        "eval",
        "--model",
        s(&falcon),
        "--tasks",
        "arc_easy",
        "--out",
        s(&out),
    ]);
    assert!(stderr.contains("falcon"), "{stderr}");
    assert!(!stderr.contains("truncated"), "{stderr}");
    assert!(
        stderr.contains("gemma3_text"),
        "the hint lists what loads: {stderr}"
    );
    fails(
        "an unsupported model_type",
        &[
            "eval",
            "--model",
            s(&falcon),
            "--tasks",
            "arc_easy",
            "--out",
            s(&out),
        ],
        &["model_type"],
    );
    // A window too short for a continuation blames --max-length, not the data.
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("lambada_openai")).unwrap();
    std::fs::write(
        data.join("lambada_openai/test.jsonl"),
        "{\"text\": \"one two three four five six xqzvkwplmnrtbgd\"}\n",
    )
    .unwrap();
    let (_, _, stderr) = painters(&[
        "eval",
        "--model",
        s(&smollm2()),
        "--tasks",
        "lambada_openai",
        "--max-length",
        "1",
        "--data-dir",
        s(&data),
        "--no-progress",
        "--out",
        s(&out),
    ]);
    let hint = stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or("");
    assert!(hint.contains("--max-length"), "{stderr}");
    assert!(!hint.contains("--data-dir"), "{stderr}");
}

/// `painters serve` refuses what it cannot serve before it listens: an encoder, a schedule that
/// does not fit the model, a port another server holds.
#[test]
fn serve_refuses_before_listening() {
    fails(
        "serve: a BERT encoder",
        &["serve", "--model", s(&minilm()), "--port", "0"],
        &["BERT encoder cannot be served"],
    );
    fails(
        "serve: schedule past the last block",
        &[
            "serve",
            "--model",
            s(&smollm2()),
            "--schedule",
            "0..=40",
            "--port",
            "0",
        ],
        &["block 30 is out of range"],
    );
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    fails(
        "serve: port in use",
        &["serve", "--model", s(&smollm2()), "--port", &port],
        &["cannot listen on 127.0.0.1:", "--port"],
    );
}
