//! Strict loading: every tensor of a checkpoint is read or on the family's ignore list, and the
//! config's layer count matches the tensors; otherwise the load is an error naming the tensor or key.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters::weights::{SafetensorsFile, TensorSource};
use painters_llama::LlamaModel;
use safetensors::tensor::{Dtype, TensorView, serialize};

fn families() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures-families/models")
}

/// A fresh copy of a fixture model's folder whose tensors (and config text) are edited.
fn edited(
    model: &str,
    tag: &str,
    config: impl Fn(String) -> String,
    keep: impl Fn(&str) -> bool,
    extra: &[(&str, Vec<usize>)],
) -> PathBuf {
    let src_dir = families().join(model);
    let dir = std::env::temp_dir().join(format!("painters-strict-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(src_dir.join("config.json")).unwrap();
    std::fs::write(dir.join("config.json"), config(text)).unwrap();
    let src = SafetensorsFile::open(src_dir.join("model.safetensors")).unwrap();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for name in TensorSource::names(&src) {
        if keep(&name) {
            let t = src.read(&name).unwrap();
            owned.push((
                name,
                t.shape,
                t.data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ));
        }
    }
    for (name, shape) in extra {
        let n: usize = shape.iter().product();
        owned.push((name.to_string(), shape.clone(), vec![0u8; 4 * n]));
    }
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        serialize(views, None).unwrap(),
    )
    .unwrap();
    dir
}

fn load_err(dir: &Path) -> String {
    LlamaModel::load(dir, &Device::flex())
        .unwrap_err()
        .to_string()
}

#[test]
fn an_extra_tensor_is_refused_by_name() {
    let dir = edited(
        "tiny-mistral",
        "extra",
        |c| c,
        |_| true,
        &[("model.layers.2.self_attn.q_proj.bias", vec![64])],
    );
    let e = load_err(&dir);
    assert!(
        e.contains("tensor `model.layers.2.self_attn.q_proj.bias` is not used by the model"),
        "{e}"
    );
    assert!(e.contains("mistral description does not use it"), "{e}");
    assert!(e.contains(&dir.display().to_string()), "{e}");
}

#[test]
fn a_qwen2_checkpoint_read_as_llama_is_refused_not_run_without_its_biases() {
    // The same weights with model_type llama: Llama's description has no q/k/v biases by default,
    // so the biases would be dropped silently; the loader refuses them instead.
    let dir = edited(
        "tiny-qwen2",
        "as-llama",
        |c| c.replace("\"model_type\": \"qwen2\"", "\"model_type\": \"llama\""),
        |_| true,
        &[],
    );
    let e = load_err(&dir);
    assert!(
        e.contains("_proj.bias` is not used by the model (nor are 17 more)"),
        "{e}"
    );
}

#[test]
fn a_missing_bias_is_named() {
    let dir = edited(
        "tiny-qwen2",
        "no-bias",
        |c| c,
        |n| n != "model.layers.4.self_attn.k_proj.bias",
        &[],
    );
    let e = load_err(&dir);
    assert!(
        e.contains("tensor `model.layers.4.self_attn.k_proj.bias` is missing"),
        "{e}"
    );
}

#[test]
fn a_config_that_understates_the_layer_count_is_refused() {
    let dir = edited(
        "tiny-qwen3",
        "fewer-layers",
        |c| {
            let mut v: serde_json::Value = serde_json::from_str(&c).unwrap();
            v["num_hidden_layers"] = 5.into();
            v["layer_types"].as_array_mut().unwrap().pop();
            v.to_string()
        },
        |_| true,
        &[],
    );
    let e = load_err(&dir);
    assert!(e.contains("model.layers.5."), "{e}");
    assert!(
        e.contains("the checkpoint has tensors of layer 5, but the config says 5 layers"),
        "{e}"
    );
}

#[test]
fn a_config_that_overstates_the_layer_count_names_the_missing_tensor() {
    let dir = edited(
        "tiny-phi3",
        "more-layers",
        |c| {
            let mut v: serde_json::Value = serde_json::from_str(&c).unwrap();
            v["num_hidden_layers"] = 7.into();
            v.to_string()
        },
        |_| true,
        &[],
    );
    let e = load_err(&dir);
    assert!(
        e.contains("tensor `model.layers.6.input_layernorm.weight` is missing"),
        "{e}"
    );
}

#[test]
fn ignored_buffers_load() {
    // Older checkpoints carry RoPE buffers that the model recomputes; they are not an error.
    let dir = edited(
        "tiny-gpt-neox",
        "buffers",
        |c| c,
        |_| true,
        &[
            ("gpt_neox.layers.0.attention.rotary_emb.inv_freq", vec![2]),
            ("gpt_neox.layers.0.attention.masked_bias", vec![1]),
        ],
    );
    LlamaModel::load(&dir, &Device::flex()).unwrap();
}
