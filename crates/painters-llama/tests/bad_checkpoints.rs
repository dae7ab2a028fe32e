//! Bad checkpoints and configs are typed errors that name the file and the tensor or field; sharded
//! and half-precision checkpoints load.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::weights::{SafetensorsFile, TensorSource};
use painters::{KvMode, LayerSchedule, Plan};
use painters_llama::{LlamaInput, LlamaModel};
use safetensors::tensor::{Dtype, TensorView, serialize};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama")
}

/// A fresh directory holding the tiny model's config.json.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("painters-llama-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture_dir().join("config.json"), dir.join("config.json")).unwrap();
    dir
}

/// The tiny model's tensors as (name, dtype, shape, bytes), edited by `edit`, written to `path`.
fn write_edited(
    path: &Path,
    edit: impl Fn(&str, &mut Dtype, &mut Vec<usize>, &mut Vec<u8>) -> bool,
) {
    let src = SafetensorsFile::open(fixture_dir().join("model.safetensors")).unwrap();
    let mut owned = Vec::new();
    for name in src.names() {
        let t = src.read(&name).unwrap();
        let mut dtype = Dtype::F32;
        let mut shape = t.shape.clone();
        let mut bytes: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        if edit(&name, &mut dtype, &mut shape, &mut bytes) {
            owned.push((name, dtype, shape, bytes));
        }
    }
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, serialize(views, None).unwrap()).unwrap();
}

fn load_err(dir: &Path) -> String {
    LlamaModel::load(dir, &Device::flex())
        .unwrap_err()
        .to_string()
}

#[test]
fn missing_tensor_names_file_and_tensor() {
    let dir = scratch("missing");
    write_edited(&dir.join("model.safetensors"), |n, _, _, _| {
        n != "model.layers.3.mlp.up_proj.weight"
    });
    let e = load_err(&dir);
    assert!(
        e.contains("tensor `model.layers.3.mlp.up_proj.weight` is missing"),
        "{e}"
    );
    assert!(e.contains(&dir.display().to_string()), "{e}");
}

#[test]
fn wrong_shape_names_the_tensor() {
    let dir = scratch("shape");
    write_edited(&dir.join("model.safetensors"), |n, _, shape, _| {
        if n == "model.layers.2.self_attn.k_proj.weight" {
            *shape = vec![64, 32];
        }
        true
    });
    let e = load_err(&dir);
    assert!(
        e.contains(
            "`model.layers.2.self_attn.k_proj.weight` has shape [64, 32], expected [32, 64]"
        ),
        "{e}"
    );
}

#[test]
fn unsupported_dtype_names_the_tensor() {
    let dir = scratch("dtype");
    write_edited(&dir.join("model.safetensors"), |n, dtype, _, _| {
        if n == "model.norm.weight" {
            *dtype = Dtype::I32;
        }
        true
    });
    let e = load_err(&dir);
    assert!(e.contains("`model.norm.weight` has dtype I32"), "{e}");
}

#[test]
fn truncated_and_lying_files_are_format_errors() {
    let dir = scratch("truncated");
    let bytes = std::fs::read(fixture_dir().join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() - 100]).unwrap();
    let e = load_err(&dir);
    assert!(e.contains("not a valid safetensors file"), "{e}");
    // A header whose offsets point past the end of the data.
    let header = br#"{"model.norm.weight":{"dtype":"F32","shape":[64],"data_offsets":[0,4096]}}"#;
    let mut lying = (header.len() as u64).to_le_bytes().to_vec();
    lying.extend_from_slice(header);
    lying.extend_from_slice(&[0u8; 256]);
    std::fs::write(dir.join("model.safetensors"), &lying).unwrap();
    let e = load_err(&dir);
    assert!(e.contains("not a valid safetensors file"), "{e}");
    // A header length larger than the file.
    std::fs::write(dir.join("model.safetensors"), u64::MAX.to_le_bytes()).unwrap();
    assert!(load_err(&dir).contains("not a valid safetensors file"));
}

#[test]
fn config_errors_name_the_field() {
    let dir = scratch("config");
    std::fs::copy(
        fixture_dir().join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let broken = text.replace("\"intermediate_size\"", "\"intermediate_sise\"");
    std::fs::write(dir.join("config.json"), broken).unwrap();
    let e = load_err(&dir);
    assert!(
        e.contains("config.json: field `intermediate_size` is missing"),
        "{e}"
    );
    std::fs::remove_file(dir.join("config.json")).unwrap();
    assert!(load_err(&dir).contains("config.json"));
}

fn logits(model: &LlamaModel) -> Vec<f32> {
    let plan = Plan::compile(&LayerSchedule::full(6), 6, KvMode::Exact).unwrap();
    let input = LlamaInput::new(&[vec![5, 17, 200, 3]]).unwrap();
    model
        .forward(&plan, &input, None, &mut ())
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn sharded_and_half_precision_checkpoints_load() {
    let reference = logits(&LlamaModel::load(fixture_dir(), &Device::flex()).unwrap());
    // Two shards and an index.
    let dir = scratch("sharded");
    let first = |n: &str| {
        n.starts_with("model.layers.0") || n.starts_with("model.layers.1") || n.contains("embed")
    };
    write_edited(
        &dir.join("model-00001-of-00002.safetensors"),
        |n, _, _, _| first(n),
    );
    write_edited(
        &dir.join("model-00002-of-00002.safetensors"),
        |n, _, _, _| !first(n),
    );
    let src = SafetensorsFile::open(fixture_dir().join("model.safetensors")).unwrap();
    let map: serde_json::Map<String, serde_json::Value> = src
        .names()
        .into_iter()
        .map(|n| {
            let shard = if first(&n) { 1 } else { 2 };
            (n, format!("model-0000{shard}-of-00002.safetensors").into())
        })
        .collect();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let sharded = logits(&LlamaModel::load(&dir, &Device::flex()).unwrap());
    assert_eq!(sharded, reference);
    // bf16 and f16 weights are converted to f32.
    for (name, dtype) in [("bf16", Dtype::BF16), ("f16", Dtype::F16)] {
        let dir = scratch(name);
        write_edited(&dir.join("model.safetensors"), |_, d, _, bytes| {
            *d = dtype;
            *bytes = bytes
                .chunks_exact(4)
                .flat_map(|c| {
                    let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    if dtype == Dtype::BF16 {
                        half::bf16::from_f32(x).to_le_bytes()
                    } else {
                        half::f16::from_f32(x).to_le_bytes()
                    }
                })
                .collect();
            true
        });
        let got = logits(&LlamaModel::load(&dir, &Device::flex()).unwrap());
        let err = got
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        let tol = if dtype == Dtype::BF16 { 0.5 } else { 0.05 };
        assert!(err > 0.0 && err < tol, "{name}: max logit difference {err}");
    }
}
