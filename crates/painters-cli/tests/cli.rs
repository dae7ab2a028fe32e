//! The `painters` binary as a user runs it.

mod common;
use common::painters;

#[test]
fn schedule_preset_json() {
    let (ok, out, err) = painters(&[
        "schedule", "--preset", "random", "--layers", "32", "--n", "14", "--seed", "3", "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["layers"], 32);
    assert_eq!(v["steps"].as_array().unwrap().len(), 32);
    assert_eq!(v["plan"]["block_applications"], 32);
    // The middle 15..=17 shuffled by CPython's random.seed(3); random.shuffle(...).
    let mid: Vec<u64> = (15..18)
        .map(|j| v["steps"][j]["block"].as_u64().unwrap())
        .collect();
    let mut sorted = mid.clone();
    sorted.sort();
    assert_eq!(sorted, vec![15, 16, 17]);
    assert_eq!(
        v["schedule"],
        format!("0..=14, {}, {}, {}, 18..=31", mid[0], mid[1], mid[2])
    );
}

#[test]
fn schedule_text_and_json_agree() {
    let (ok, text_out, _) = painters(&["schedule", "0..=14, par(15..=16)x3, 17..32", "--json"]);
    assert!(ok);
    let json_in = r#"{"steps":[{"block":0},{"parallel":[1,2],"loops":3},{"block":3}]}"#;
    let (ok, json_out, _) = painters(&["schedule", json_in, "--layers", "4", "--plan"]);
    assert!(ok);
    assert!(
        json_out.contains("schedule: 0, par(1, 2)x3, 3"),
        "{json_out}"
    );
    assert!(
        json_out.contains("depth 5, 8 block applications, 8 KV slots"),
        "{json_out}"
    );
    let v: serde_json::Value = serde_json::from_str(&text_out).unwrap();
    assert_eq!(
        v["steps"][15],
        serde_json::json!({"parallel": [15, 16], "loops": 3})
    );
    assert_eq!(v["plan"]["depth"], 15 + 3 + 15);
}

#[test]
fn schedule_errors_are_one_line_with_a_hint() {
    let (ok, _, err) = painters(&["schedule", "0, 1,, 2"]);
    assert!(!ok);
    assert!(err.contains("column 6"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let (ok, _, err) = painters(&["schedule", "0..=40", "--layers", "32"]);
    assert!(!ok);
    assert!(
        err.contains("block 32 is out of range: the model has 32 blocks"),
        "{err}"
    );
    let (ok, _, err) = painters(&["schedule", "--preset", "skip", "--layers", "32"]);
    assert!(!ok);
    assert!(err.contains("needs --n"), "{err}");
    let (ok, _, err) = painters(&["schedule", "--preset", "skip", "--layers", "32", "--m", "4"]);
    assert!(!ok);
    assert!(err.contains("M must be odd"), "{err}");
}

#[test]
fn conformance_cli_prints_a_summary_line() {
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/manifest.json"
    );
    let (ok, out, err) = painters(&["conformance", manifest, "--filter", "tiny-llama-tied__b1x5"]);
    assert!(ok, "{out}{err}");
    assert!(out.lines().last().unwrap() == "4 passed, 0 failed", "{out}");
    let (ok, _, err) = painters(&["conformance", "/nonexistent/manifest.json"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent/manifest.json"), "{err}");
}

#[test]
fn conformance_with_a_weight_mode_checks_every_forward_case_against_f32() {
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/manifest.json"
    );
    let text = std::fs::read_to_string(manifest).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&text).unwrap();
    let forward: Vec<&str> = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "forward" && c["model"]["arch"] == "llama")
        .filter(|c| c["output"]["tensors"].get("logits").is_some())
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(forward.len() >= 8, "{forward:?}");
    let (ok, out, err) = painters(&["conformance", manifest, "--weights", "bf16"]);
    assert!(ok, "{out}{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("PASS")).collect();
    assert_eq!(lines.len(), forward.len(), "{out}");
    for (line, id) in lines.iter().zip(&forward) {
        assert!(line.starts_with(&format!("PASS {id} ")), "{line}");
        // bf16 rounds the weights: the logits differ from f32's, within the stated 8e-2.
        let err: f64 = line.rsplit("max_err=").next().unwrap().parse().unwrap();
        assert!(err > 1e-4 && err <= 8e-2, "{line}");
    }
    assert!(
        out.lines()
            .last()
            .unwrap()
            .ends_with("0 failed (bf16 weights against this build's f32 path)"),
        "{out}"
    );
}

#[test]
fn bench_prints_the_table_and_json() {
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    );
    assert!(
        std::path::Path::new(model).is_file(),
        "{model} missing: run scripts/fetch-models.sh"
    );
    let dir = std::env::temp_dir().join(format!("painters-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bench.json");
    // --warmup 0 keeps the test near 20 s on a shared 2-core machine (the figures are not checked).
    let (ok, out, err) = painters(&[
        "bench",
        "--model",
        model,
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--long-prompt",
        "40",
        "--schedules",
        "identity,skip",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("| figure (identity) | median | rate |"),
        "{out}"
    );
    assert!(out.contains("| forward 8×128 |"), "{out}");
    assert!(
        out.contains(
            "| schedule | forward 1×128 | vs identity | block applications | time per block vs identity | same, net of embedding + head | decode 16+32 | decode vs identity | peak extra heap | peak heap vs identity |"
        ),
        "{out}"
    );
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| identity |") || l.starts_with("| skip |"))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].contains("| 1.00× | 30 | 1.00× | 1.00× |"), "{out}");
    assert!(rows[0].contains(" tok/s | 1.00× |"), "{out}");
    assert!(rows[0].ends_with("MiB | 1.000× |"), "{out}");
    assert!(
        rows[1].contains("| 17 |") && rows[1].contains("MiB |"),
        "{out}"
    );
    assert!(
        out.contains("| executor overhead: identity through the plan vs a straight-line loop (median of per-round pairs) |"),
        "{out}"
    );
    assert!(
        out.contains("| embedding + head only (empty schedule), 1×128 |"),
        "{out}"
    );
    assert!(!out.contains("| parallel"), "{out}");

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in [
        "command",
        "machine",
        "forward_1x128_ms",
        "forward_8x128_ms",
        "decode",
        "schedules",
        "allocator_overhead_percent",
        "executor_overhead_percent",
        "fixed_cost_1x128_ms",
        "model_heap_bytes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert!(v["decode"]["tokens_per_s"].as_f64().unwrap() > 0.0);
    // One paired identity / straight-line ratio per round, its median the headline figure.
    let rounds = v["executor_overhead_percent_rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0], v["executor_overhead_percent"]);
    assert_eq!(v["decode_long"]["prompt_tokens"], 40);
    // llama-bench's tg32: 32 single-token steps after a 1-token prompt.
    assert_eq!(v["decode_tg32"]["prompt_tokens"], 1);
    assert_eq!(v["decode_tg32"]["new_tokens"], 32);
    assert!(v["decode_tg32"]["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(
        out.contains("| greedy decode, 1-token prompt + 32 new (llama-bench's tg32) |"),
        "{out}"
    );
    assert!(
        out.contains("| greedy decode, 40-token prompt + 64 new (KV cache) |"),
        "{out}"
    );
    let s = v["schedules"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["name"], "identity");
    assert_eq!(s[1]["name"], "skip");
    assert_eq!(s[1]["block_applications"], 17);
    assert!(s[1]["peak_extra_heap_bytes"].as_u64().unwrap() > 0);
    // Every schedule decodes; the identity's figure is the headline decode figure.
    assert!(s[1]["decode_tokens_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(s[0]["decode_tokens_per_s"], v["decode"]["tokens_per_s"]);
    // The model's weights live on the heap: hundreds of MiB for SmolLM2 in f32.
    assert!(v["model_heap_bytes"].as_u64().unwrap() > 100 << 20, "{v}");
    // Nothing is faster than doing nothing: the empty schedule costs less than 30 blocks.
    assert!(
        v["fixed_cost_1x128_ms"].as_f64().unwrap() < v["forward_1x128_ms"].as_f64().unwrap(),
        "{v}"
    );
    std::fs::remove_dir_all(&dir).ok();

    let (ok, _, err) = painters(&["bench", "--model", model, "--schedules", "nope"]);
    assert!(!ok);
    assert!(err.contains("unknown schedule `nope`"), "{err}");
}

/// Run the binary from the repository root with progress lines every 50 ms; (success, stderr).
fn with_progress_lines(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_painters"))
        .current_dir(common::root())
        .env("PAINTERS_PROGRESS_SECONDS", "0.05")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The progress lines of `label` in `stderr` (`label: done/total unit (p%), rate, ETA …`).
fn progress_lines<'a>(stderr: &'a str, label: &str, unit: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with(&format!("{label}: "))
                && l.contains(&format!(" {unit} ("))
                && l.contains(&format!("{unit}/s"))
                && l.contains("ETA")
        })
        .collect()
}

/// Issue 23, item 7: without a terminal (here stderr is a pipe), every long-running command prints
/// a progress line at a steady interval: done/total, rate and ETA.
#[test]
fn long_commands_print_steady_progress_lines_without_a_terminal() {
    let dir = common::scratch("progress");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let smollm2 = s(&common::smollm2());
    let (ok, err) = with_progress_lines(&[
        "eval",
        "--model",
        &smollm2,
        "--tasks",
        "arc_easy",
        "--limit",
        "12",
        "--batch-size",
        "2",
        "--out",
        &s(&dir.join("r.json")),
    ]);
    assert!(ok, "{err}");
    let lines = progress_lines(&err, "arc_easy", "docs");
    assert!(lines.len() >= 2, "{err}");
    assert!(lines.iter().any(|l| l.contains("/12 docs")), "{err}");

    let (ok, err) = with_progress_lines(&[
        "layers",
        "--model",
        &smollm2,
        "--limit",
        "8",
        "--batch-size",
        "1",
        "--top-k",
        "0",
        "--mode",
        "paper",
        "--out",
        &s(&dir.join("layers")),
    ]);
    assert!(ok, "{err}");
    assert!(!progress_lines(&err, "layers", "docs").is_empty(), "{err}");

    // A sweep of the tiny fixture Llama (one token per byte) on a small lambada file.
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("lambada_openai")).unwrap();
    let docs: String = (0..6)
        .map(|i| format!("{{\"text\": \"the cat {i} sat on the mat by the door\"}}\n"))
        .collect();
    std::fs::write(data.join("lambada_openai/test.jsonl"), docs).unwrap();
    let tiny = s(&common::root().join("tests/fixtures/models/tiny-llama"));
    let (ok, err) = with_progress_lines(&[
        "sweep",
        "--model",
        &tiny,
        "--byte-tokenizer",
        "--experiment",
        "skip_one",
        "--tasks",
        "lambada_openai",
        "--no-prefix-reuse",
        "--batch-size",
        "1",
        "--data-dir",
        &s(&data),
        "--out",
        &s(&dir.join("sweep")),
    ]);
    assert!(ok, "{err}");
    assert!(
        !progress_lines(&err, "sweep", "results").is_empty(),
        "{err}"
    );

    // GLUE fine-tuning of the tiny fixture BERT.
    let bert = common::tiny_bert_with_tokenizer(&dir);
    std::fs::create_dir_all(data.join("glue-sst2")).unwrap();
    for (split, n) in [("train", 64), ("dev", 8)] {
        let lines: String = (0..n)
            .map(|i| {
                let w = common::TINY_BERT_WORDS[i % 20];
                format!(
                    "{{\"sentence\": \"the {w} is very good\", \"label\": {}}}\n",
                    i % 2
                )
            })
            .collect();
        std::fs::write(data.join(format!("glue-sst2/{split}.jsonl")), lines).unwrap();
    }
    let (ok, err) = with_progress_lines(&[
        "glue",
        "--model",
        &s(&bert),
        "--task",
        "sst2",
        "--data-dir",
        &s(&data),
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--max-length",
        "16",
    ]);
    assert!(ok, "{err}");
    assert!(
        !progress_lines(&err, "glue sst2", "steps").is_empty(),
        "{err}"
    );
}

/// `painters tokenize --save-hf DIR` writes tokenizer files that HF `tokenizers` (what transformers
/// loads them with) reads back and that give transformers' own ids for the model: SmolLM2 (GGUF
/// BPE, no BOS) and Gemma 3 (GGUF SentencePiece, with its BOS). Expected ids: the fixtures made
/// with transformers from the models' HF tokenizers.
#[test]
fn tokenize_save_hf_writes_what_transformers_reads() {
    let root = common::root();
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(root.join(p)).unwrap()).unwrap()
    };
    let dir = std::env::temp_dir().join(format!("painters-save-hf-{}", std::process::id()));
    let smollm2 = common::smollm2();
    let gemma = root.join("models/gemma3-270m/gemma-3-270m-q4_k_m.gguf");
    let texts = read("tests/fixtures/inputs/texts.json");
    let gemma_cases = read("tests/fixtures-gemma3/tokenizer_cases.json");
    let sets = [
        (smollm2, texts["smollm2"].as_array().unwrap().clone()),
        (gemma, gemma_cases["cases"].as_array().unwrap().clone()),
    ];
    for (i, (model, cases)) in sets.iter().enumerate() {
        let out = dir.join(i.to_string());
        let (ok, _, err) = painters(&[
            "tokenize",
            "--model",
            model.to_str().unwrap(),
            "--save-hf",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        assert!(out.join("tokenizer_config.json").is_file());
        let tok = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let text = case["text"].as_str().unwrap();
            let enc = tok.encode(text, true).unwrap();
            let want: Vec<u32> = case["input_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(
                enc.get_ids(),
                want.as_slice(),
                "{}: {text:?}",
                model.display()
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `painters tokenize` prints the ids and token strings the model's tokenizer gives, special
/// tokens added as the model adds them by default. Expected: transformers' own ids and tokens
/// (`tests/fixtures-gemma3/tokenizer_cases.json`: Gemma 3 with its BOS; `tests/fixtures/inputs/
/// texts.json`: SmolLM2 without one).
#[test]
fn tokenize_prints_what_transformers_gives() {
    let root = common::root();
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(root.join(p)).unwrap()).unwrap()
    };
    let gemma_cases = read("tests/fixtures-gemma3/tokenizer_cases.json");
    let cases: Vec<&serde_json::Value> = gemma_cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            let t = c["text"].as_str().unwrap();
            !t.is_empty() && !t.starts_with('-')
        })
        .take(5)
        .collect();
    let gemma = root.join("models/gemma3-270m/gemma-3-270m-q4_k_m.gguf");
    let mut args = vec!["tokenize", "--model", gemma.to_str().unwrap(), "--json"];
    args.extend(cases.iter().map(|c| c["text"].as_str().unwrap()));
    let (ok, out, err) = painters(&args);
    assert!(ok, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got.as_array().unwrap().len(), cases.len());
    for (g, c) in got.as_array().unwrap().iter().zip(&cases) {
        assert_eq!(g["input_ids"], c["input_ids"], "{}", c["text"]);
        assert_eq!(g["tokens"], c["tokens"], "{}", c["text"]);
    }

    let texts = read("tests/fixtures/inputs/texts.json");
    let smollm2 = common::smollm2();
    for case in texts["smollm2"].as_array().unwrap() {
        let (ok, out, err) = painters(&[
            "tokenize",
            "--model",
            smollm2.to_str().unwrap(),
            "--json",
            case["text"].as_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let got: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(got["input_ids"], case["input_ids"]);
        assert_eq!(got["tokens"], case["tokens"]);
    }
    // Without --json: the ids and the tokens, one line each per text.
    let (ok, out, err) = painters(&["tokenize", "--model", smollm2.to_str().unwrap(), "Hi there"]);
    assert!(ok, "{err}");
    assert!(out.contains("input_ids: ["), "{out}");
    assert!(out.contains("tokens: ["), "{out}");
}
