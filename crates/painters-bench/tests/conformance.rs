//! Every case of the repository's copy of the public fixture manifest passes the conformance runner.

use std::path::PathBuf;

use burn::tensor::Device;
use painters_bench::conformance::run_manifest;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/manifest.json")
}

fn models_dir() -> PathBuf {
    std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

#[test]
fn every_llama_case_passes() {
    let results = run_manifest(
        &manifest(),
        models_dir(),
        Some("llama"),
        Device::flex(),
        |r| println!("{}", r.line()),
    )
    .unwrap();
    assert_eq!(results.len(), 18);
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.line())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn a_wrong_golden_fails() {
    // The runner can fail: point a case at another case's golden file.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest()).unwrap()).unwrap();
    let mut case = m["cases"][1].clone();
    case["output"]["file"] = m["cases"][0]["output"]["file"].clone();
    let mut runner =
        painters_bench::conformance::Runner::new(&manifest(), models_dir(), Device::flex());
    let r = runner.run_case(&case);
    assert!(!r.passed, "{}", r.line());
    assert!(
        r.line().starts_with("FAIL tiny-llama__b2x12__skip_n2"),
        "{}",
        r.line()
    );
}
