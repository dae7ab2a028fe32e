//! Every public case of the decoder-family fixtures (Qwen2, Qwen3, Mistral, Gemma 2, Gemma 3,
//! Phi-3, GPT-NeoX) passes the conformance runner, with attention whole or in query chunks; and
//! cached greedy generation under repeated and looped blocks reproduces the reference ids that the
//! fixtures' `checks` record (HF transformers, see tests/fixtures-families/README.md).

use std::path::PathBuf;

use burn::tensor::Device;
use painters::weights::SafetensorsFile;
use painters::{KvMode, LayerSchedule, Plan};
use painters_bench::conformance::{Runner, run_manifest};
use painters_llama::LlamaModel;
use painters_llama::generate::{GenerateOptions, generate};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures-families")
}

fn manifest() -> PathBuf {
    root().join("manifest.json")
}

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

#[test]
fn every_public_family_case_passes() {
    let results = run_manifest(&manifest(), models_dir(), None, Device::flex(), |r| {
        println!("{}", r.line())
    })
    .unwrap();
    assert_eq!(results.len(), 27);
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.line())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn family_cases_pass_with_attention_in_query_chunks() {
    // Chunks of 1 and 3 positions cut the 12- and 20-token inputs across the sliding windows (4).
    for chunk in [Some(1), Some(3), None] {
        let mut runner =
            Runner::new(&manifest(), models_dir(), Device::flex()).with_query_chunk(chunk);
        let cases = Runner::cases(&manifest(), None).unwrap();
        let failed: Vec<_> = cases
            .iter()
            .map(|c| runner.run_case(c))
            .filter(|r| !r.passed)
            .map(|r| r.line())
            .collect();
        assert!(failed.is_empty(), "query chunk {chunk:?}: {failed:#?}");
    }
}

/// The fixture README's schedules on 6 blocks with n = 1 (its symmetric convention).
fn schedule(name: &str) -> LayerSchedule {
    let text = match name {
        "identity" => "0..6",
        "middle_repeat_n1" => "0, 3, 3, 3, 3, 5",
        "looped_parallel_n1_k3" => "0, par(1..=4)x3, 5",
        other => panic!("no schedule {other}"),
    };
    text.parse().unwrap()
}

#[test]
fn cached_generation_under_repeated_and_looped_blocks_matches_hf() {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest()).unwrap()).unwrap();
    let inputs = SafetensorsFile::open(root().join("inputs/families.safetensors")).unwrap();
    let (_, prompt) = inputs.read_i64("b1x5.input_ids").unwrap();
    let prompt: Vec<u32> = prompt.iter().map(|&x| x as u32).collect();
    let mut checked = 0;
    for (key, value) in m["checks"].as_object().unwrap() {
        // e.g. "tiny-qwen2.gen.b1x5.looped_parallel_n1_k3": {"new_ids": [...]}
        let Some((model, name)) = key.split_once(".gen.b1x5.") else {
            continue;
        };
        let want: Vec<u32> = value["new_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let path = root().join("models").join(model);
        let lm = LlamaModel::load(&path, &Device::flex()).unwrap();
        let plan = Plan::compile(&schedule(name), lm.num_blocks(), KvMode::Exact).unwrap();
        let options = GenerateOptions {
            max_new_tokens: 8,
            ..Default::default()
        };
        let out = generate(&lm, &plan, &prompt, &options, |_| false).unwrap();
        assert_eq!(out.new_ids, want, "{model} under {name}");
        checked += 1;
    }
    assert_eq!(checked, 21, "7 families × 3 schedules");
}

#[test]
fn gemma3_270m_matches_transformers_on_every_case() {
    // The real Gemma-3-270M GGUF (scripts/fetch-models.sh) against transformers' own GGUF loader:
    // forward under identity, skip, reverse, parallel and a custom repeat, and cached generation.
    let manifest =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures-gemma3/manifest.json");
    let results = run_manifest(&manifest, models_dir(), None, Device::flex(), |r| {
        println!("{}", r.line())
    })
    .unwrap();
    assert_eq!(results.len(), 7);
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.line())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}
