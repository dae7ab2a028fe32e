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
