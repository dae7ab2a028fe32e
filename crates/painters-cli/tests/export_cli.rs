//! `painters export` and `painters schedule --from-mergekit / --to-mergekit` as a user runs them.
//! What an export computes is checked against transformers and the source in painters-llama's
//! export tests (docs/export.md); here: the commands' wiring, outputs and refusals.

mod common;
use common::{painters, root, scratch};

const TINY_LLAMA: &str = "tests/fixtures/models/tiny-llama";

#[test]
fn export_writes_an_hf_folder_whose_identity_is_the_schedule() {
    let dir = scratch("export-hf");
    let out = dir.join("painted");
    let out_s = out.to_str().unwrap();
    let (ok, stdout, err) = painters(&[
        "export",
        "--model",
        TINY_LLAMA,
        "--schedule",
        "0, 2, 1, 1",
        "--out",
        out_s,
        "--verify",
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("layers:   4 (0←0 1←2 2←1 3←1)"), "{stdout}");
    // f32 weights copied as stored: the export under its identity computes the schedule exactly.
    assert!(stdout.contains("logit difference 0.000e0"), "{stdout}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["num_hidden_layers"], 4);
    // A second export into the same non-empty folder is refused unless asked.
    let (ok, _, err) = painters(&["export", "--model", TINY_LLAMA, "--out", out_s]);
    assert!(!ok);
    assert!(err.contains("--overwrite"), "{err}");
}

#[test]
fn export_refuses_what_a_checkpoint_cannot_hold_before_writing() {
    let dir = scratch("export-refused");
    let out = dir.join("never");
    let out_s = out.to_str().unwrap();
    let (ok, _, err) = painters(&[
        "export",
        "--model",
        TINY_LLAMA,
        "--schedule",
        "0, par(1, 2), 3",
        "--out",
        out_s,
    ]);
    assert!(!ok);
    assert!(err.contains("step 1 (`par(1, 2)`)"), "{err}");
    assert!(err.contains("hint: an export is a plain stack"), "{err}");
    assert!(!out.exists(), "nothing is written for a refused schedule");
    let (ok, _, err) = painters(&[
        "export",
        "--model",
        TINY_LLAMA,
        "--weights",
        "bf16",
        "--out",
        out_s,
    ]);
    assert!(!ok);
    assert!(err.contains("--weights bf16"), "{err}");
    // An HF source cannot become a GGUF (painters does not quantise).
    let gguf = dir.join("x.gguf");
    let (ok, _, err) = painters(&[
        "export",
        "--model",
        TINY_LLAMA,
        "--out",
        gguf.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("convert_hf_to_gguf.py"), "{err}");
}

#[test]
fn mergekit_recipes_read_as_schedules_and_back() {
    // mergekit's layer_range is half-open: [0, 16], [8, 24], [16, 32] is 0..=15, 8..=23, 16..=31.
    let recipe = root().join("tests/fixtures-mergekit/rys-duplicate-middle.yml");
    let recipe = recipe.to_str().unwrap();
    let (ok, out, err) = painters(&["schedule", "--from-mergekit", recipe]);
    assert!(ok, "{err}");
    assert!(out.contains("schedule: 0..=15, 8..=23, 16..=31"), "{out}");
    assert!(out.contains("layers:   32"), "{out}");
    let (ok, yaml, err) = painters(&["schedule", "--from-mergekit", recipe, "--to-mergekit"]);
    assert!(ok, "{err}");
    for want in [
        "model: mistralai/Mistral-7B-v0.1",
        "layer_range: [0, 16]",
        "layer_range: [8, 24]",
        "layer_range: [16, 32]",
        "merge_method: passthrough",
        "dtype: bfloat16",
    ] {
        assert!(yaml.contains(want), "{want} missing from\n{yaml}");
    }
    // Against a model: its block count bounds the ranges (tiny-llama has 6 blocks).
    let (ok, _, err) = painters(&["schedule", "--from-mergekit", recipe, "--model", TINY_LLAMA]);
    assert!(!ok);
    assert!(err.contains("reaches past the model's last layer"), "{err}");
    let (ok, yaml, err) = painters(&[
        "schedule",
        "0..3, 1..6",
        "--to-mergekit",
        "--model-name",
        "me/tiny",
        "--model",
        TINY_LLAMA,
    ]);
    assert!(ok, "{err}");
    assert!(
        yaml.contains("layer_range: [0, 3]") && yaml.contains("layer_range: [1, 6]"),
        "{yaml}"
    );
    let (ok, _, err) = painters(&[
        "schedule",
        "par(0, 1), 2",
        "--to-mergekit",
        "--model-name",
        "a",
    ]);
    assert!(!ok);
    assert!(err.contains("plain stack"), "{err}");
}
