//! The `painters` binary as a user runs it.

use std::process::Command;

fn painters(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_painters"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
