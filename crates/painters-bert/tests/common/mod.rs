//! Shared test helpers: fixture paths, the manifest, golden comparison.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use painters::weights::{SafetensorsFile, TensorSource};
use painters_bert::BertInput;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixtures() -> PathBuf {
    workspace().join("tests/fixtures")
}

pub fn device() -> Device {
    Device::flex()
}

/// The real-model directory; a missing one fails the test (never skips) and says how to fetch it.
pub fn minilm_dir() -> PathBuf {
    let root = std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("models"));
    let dir = root.join("all-minilm-l6-v2");
    assert!(
        dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file(),
        "{} is missing all-MiniLM-L6-v2 (model.safetensors, tokenizer.json): run scripts/fetch-models.sh \
         (or point PAINTERS_MODELS_DIR at a folder that has all-minilm-l6-v2/)",
        dir.display()
    );
    dir
}

pub fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest.json parses")
}

/// `prefix.{input_ids,attention_mask,token_type_ids}` of a fixture input file.
pub fn read_input(file: &str, prefix: &str) -> BertInput {
    let f = SafetensorsFile::open(fixtures().join(file)).expect("input file");
    let get = |n: &str| f.read_i64(&format!("{prefix}.{n}")).expect(n);
    let (shape, ids) = get("input_ids");
    let (_, mask) = get("attention_mask");
    let (_, types) = get("token_type_ids");
    BertInput::new(shape[0], shape[1], ids, Some(types), Some(mask)).expect("valid input")
}

pub fn host(t: &Tensor<3>) -> (Vec<usize>, Vec<f32>) {
    let dims = t.dims().to_vec();
    (dims, painters_bert::to_host(t.clone()).expect("f32 data"))
}

/// Max |a - g| over real-token positions, and whether every such element is within
/// `atol + rtol * |g|`. `mask` is `[B, L]`; the tensors are `[B, L, ...]`.
pub fn compare(
    actual: &[f32],
    golden: &[f32],
    shape: &[usize],
    mask: &[i64],
    atol: f64,
    rtol: f64,
) -> (f64, bool) {
    assert_eq!(actual.len(), golden.len(), "element count");
    let inner: usize = shape[2..].iter().product();
    let (mut max, mut ok) = (0.0f64, true);
    for (i, (&a, &g)) in actual.iter().zip(golden).enumerate() {
        if mask[i / inner] != 1 {
            continue;
        }
        let d = (a as f64 - g as f64).abs();
        max = max.max(d);
        if d.is_nan() || d > atol + rtol * (g as f64).abs() {
            ok = false;
        }
    }
    (max, ok)
}

pub fn golden(file: &str, name: &str) -> (Vec<usize>, Vec<f32>) {
    let f = SafetensorsFile::open(fixtures().join(file)).expect("golden file");
    let t = f.read(name).expect(name);
    (t.shape, t.data)
}
