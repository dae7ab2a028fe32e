//! The `config.json` of an HF export: the source's own, edited, or (for a GGUF source) written from
//! the model's configuration the way transformers (5.x) writes it for the family.
//!
//! Per-layer properties are written through `layer_types` (transformers ≥ 4.54) for the families
//! whose configs have it (Qwen2/3, Gemma 2/3): a Gemma 3 layer's RoPE base follows its layer type,
//! so `layer_types` carries both its window and its RoPE table. The families without it (Llama,
//! Mistral, Phi-3, GPT-NeoX) give every layer the same properties, so any order is exact.
//! Whatever is written is read back by painters' loader and checked layer by layer
//! ([`super::check::check_config`]), so a combination this file gets wrong is refused, not exported.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::error::ExportError;
use super::options::ExportDtype;
use crate::config::{Activation, DecoderConfig, RopeScaling, RopeSpec};
use crate::family::Family;

/// Families whose transformers config takes `layer_types`.
fn has_layer_types(family: Family) -> bool {
    matches!(
        family,
        Family::Qwen2 | Family::Qwen3 | Family::Gemma2 | Family::Gemma3
    )
}

/// Top-level lists that are not per layer even when their length happens to equal the layer count.
const NOT_PER_LAYER: &[&str] = &[
    "architectures",
    "eos_token_id",
    "bos_token_id",
    "pad_token_id",
];

fn layer_type(window: Option<usize>) -> Value {
    Value::from(if window.is_some() {
        "sliding_attention"
    } else {
        "full_attention"
    })
}

/// The source's `config.json` for an export stacking `blocks`: `num_hidden_layers`, `layer_types`
/// in the new order (written when the family's config takes it and the source had none), `dtype`.
pub(crate) fn edited(
    json: &Map<String, Value>,
    source: &DecoderConfig,
    blocks: &[usize],
    dtype: Option<ExportDtype>,
    path: &Path,
) -> Result<Map<String, Value>, ExportError> {
    let n = source.num_hidden_layers;
    for (key, value) in json {
        if let Value::Array(list) = value
            && list.len() == n
            && key != "layer_types"
            && !NOT_PER_LAYER.contains(&key.as_str())
        {
            return Err(ExportError::UnknownPerLayerKey {
                path: path.to_path_buf(),
                key: key.clone(),
                len: n,
            });
        }
    }
    let mut out = json.clone();
    out.insert("num_hidden_layers".into(), blocks.len().into());
    if let Some(Value::Array(types)) = json.get("layer_types") {
        let reordered: Vec<Value> = blocks
            .iter()
            .map(|&b| types.get(b).cloned().unwrap_or(Value::Null))
            .collect();
        out.insert("layer_types".into(), Value::Array(reordered));
    } else if has_layer_types(source.family) {
        let types = blocks
            .iter()
            .map(|&b| layer_type(source.layers[b].window))
            .collect();
        out.insert("layer_types".into(), Value::Array(types));
    }
    if out.contains_key("layer_types") && source.family == Family::Gemma3 {
        // With `layer_types` transformers ignores the fixed pattern; drop it where it would now
        // contradict the list, so no reader is told two different things.
        let pattern = json
            .get("sliding_window_pattern")
            .or_else(|| json.get("_sliding_window_pattern"))
            .and_then(Value::as_u64);
        let follows = |p: u64| {
            blocks.iter().enumerate().all(|(j, &b)| {
                (j as u64 + 1).is_multiple_of(p) != source.layers[b].window.is_some()
            })
        };
        if pattern.is_some_and(|p| p == 0 || !follows(p)) {
            out.remove("sliding_window_pattern");
            out.remove("_sliding_window_pattern");
        }
    }
    if let Some(d) = dtype {
        out.insert("dtype".into(), d.torch_name().into());
        if out.contains_key("torch_dtype") {
            out.insert("torch_dtype".into(), d.torch_name().into());
        }
    }
    Ok(out)
}

/// `bos_token_id` and `eos_token_id` (a number, or a list when there are several) into `m`, as
/// transformers writes them in `config.json` and `generation_config.json`.
pub(crate) fn special_token_ids(c: &DecoderConfig, m: &mut Map<String, Value>) {
    if let Some(b) = c.bos_token_id {
        m.insert("bos_token_id".into(), b.into());
    }
    match c.eos_token_ids.as_slice() {
        [] => {}
        [e] => {
            m.insert("eos_token_id".into(), (*e).into());
        }
        many => {
            m.insert("eos_token_id".into(), json!(many));
        }
    }
}

/// `rope_parameters` of one table, as transformers 5 writes it.
fn rope_parameters(r: &RopeSpec, head_dim: usize) -> Result<Map<String, Value>, ExportError> {
    let mut m = Map::new();
    m.insert("rope_theta".into(), r.theta.into());
    match &r.scaling {
        RopeScaling::None => {
            m.insert("rope_type".into(), "default".into());
        }
        RopeScaling::Linear { factor } => {
            m.insert("rope_type".into(), "linear".into());
            m.insert("factor".into(), (*factor).into());
        }
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } => {
            m.insert("rope_type".into(), "llama3".into());
            m.insert("factor".into(), (*factor).into());
            m.insert("low_freq_factor".into(), (*low_freq_factor).into());
            m.insert("high_freq_factor".into(), (*high_freq_factor).into());
            m.insert(
                "original_max_position_embeddings".into(),
                (*original_max_position_embeddings).into(),
            );
        }
        RopeScaling::Factors(_) => {
            return Err(ExportError::Unsupported {
                what: "RoPE frequency factors (the GGUF's rope_freqs.weight)".into(),
                format: "an HF config.json".into(),
                detail: "HF describes Llama 3 scaling by its parameters (rope_type llama3), while the GGUF stores only the resulting per-frequency factors, which cannot be turned back into them exactly".into(),
            });
        }
    }
    if r.rotary_dims != head_dim {
        m.insert(
            "partial_rotary_factor".into(),
            (r.rotary_dims as f64 / head_dim as f64).into(),
        );
    }
    Ok(m)
}

fn activation_name(a: Activation) -> &'static str {
    match a {
        Activation::Silu => "silu",
        Activation::GeluTanh => "gelu_pytorch_tanh",
        Activation::GeluErf => "gelu",
    }
}

/// A transformers `config.json` for `source` (read from a GGUF file) with layers `blocks`; `pad`
/// is the padding token id (written even when None: some families' defaults, e.g. Phi-3's 32000,
/// lie outside small vocabularies).
pub(crate) fn synthesized(
    source: &DecoderConfig,
    blocks: &[usize],
    dtype: ExportDtype,
    pad: Option<u32>,
) -> Result<Map<String, Value>, ExportError> {
    let c = source;
    let family = c.family;
    let class = match family {
        Family::Llama => "LlamaForCausalLM",
        Family::Mistral => "MistralForCausalLM",
        Family::Qwen2 => "Qwen2ForCausalLM",
        Family::Qwen3 => "Qwen3ForCausalLM",
        Family::Gemma2 => "Gemma2ForCausalLM",
        Family::Gemma3 => "Gemma3ForCausalLM",
        Family::Phi3 => "Phi3ForCausalLM",
        Family::GptNeoX => "GPTNeoXForCausalLM",
    };
    let layers: Vec<_> = blocks.iter().map(|&b| &c.layers[b]).collect();
    // A single table for every family but Gemma 3, whose full and sliding layers each have one.
    let global = c
        .layers
        .iter()
        .find(|l| l.window.is_none())
        .or(c.layers.first())
        .map_or(0, |l| l.rope);
    let local = c
        .layers
        .iter()
        .find(|l| l.window.is_some())
        .map_or(global, |l| l.rope);
    let rope = |i: usize| -> Result<Map<String, Value>, ExportError> {
        let r = c
            .ropes
            .get(i)
            .ok_or_else(|| ExportError::Options(format!("RoPE table {i} is missing")))?;
        rope_parameters(r, c.head_dim)
    };
    let window = layers.iter().find_map(|l| l.window);
    let mut m = Map::new();
    m.insert("architectures".into(), json!([class]));
    m.insert("model_type".into(), family.model_type().into());
    m.insert("vocab_size".into(), c.vocab_size.into());
    m.insert("hidden_size".into(), c.hidden_size.into());
    m.insert("intermediate_size".into(), c.intermediate_size.into());
    m.insert("num_hidden_layers".into(), blocks.len().into());
    m.insert("num_attention_heads".into(), c.num_attention_heads.into());
    m.insert("num_key_value_heads".into(), c.num_key_value_heads.into());
    m.insert("head_dim".into(), c.head_dim.into());
    m.insert(
        "max_position_embeddings".into(),
        c.max_position_embeddings.into(),
    );
    m.insert("rms_norm_eps".into(), c.arch.norm_eps.into());
    m.insert("tie_word_embeddings".into(), c.tie_word_embeddings.into());
    m.insert("attention_dropout".into(), 0.0.into());
    special_token_ids(c, &mut m);
    m.insert("pad_token_id".into(), pad.into());
    m.insert("dtype".into(), dtype.torch_name().into());
    let act = activation_name(c.arch.activation);
    let global_params = rope(global)?;
    if let Some(theta) = global_params.get("rope_theta") {
        m.insert("rope_theta".into(), theta.clone());
    }
    if let Some(f) = global_params.get("partial_rotary_factor") {
        m.insert("partial_rotary_factor".into(), f.clone());
    }
    let types = || Value::Array(layers.iter().map(|l| layer_type(l.window)).collect());
    match family {
        Family::Gemma2 | Family::Gemma3 => {
            m.insert("hidden_activation".into(), act.into());
            m.insert("attention_bias".into(), c.arch.qkv_bias.into());
            let scalar = c.arch.attention_scale.powi(-2);
            let rounded = scalar.round();
            // transformers 5 requires an integer here (its configs are strict dataclasses).
            let scalar: Value = if (scalar - rounded).abs() < 1e-6 * rounded.max(1.0) {
                (rounded as u64).into()
            } else {
                scalar.into()
            };
            m.insert("query_pre_attn_scalar".into(), scalar);
            m.insert("attn_logit_softcapping".into(), c.arch.attn_softcap.into());
            m.insert(
                "final_logit_softcapping".into(),
                c.arch.final_softcap.into(),
            );
            m.insert(
                "sliding_window".into(),
                window.or(c.layers.iter().find_map(|l| l.window)).into(),
            );
            m.insert("layer_types".into(), types());
            if family == Family::Gemma3 {
                let local_params = rope(local)?;
                if let Some(theta) = local_params.get("rope_theta") {
                    m.insert("rope_local_base_freq".into(), theta.clone());
                }
                m.insert(
                    "rope_parameters".into(),
                    json!({"full_attention": global_params, "sliding_attention": local_params}),
                );
                m.insert("use_bidirectional_attention".into(), false.into());
            } else {
                m.insert("rope_parameters".into(), Value::Object(global_params));
            }
        }
        _ => {
            m.insert("hidden_act".into(), act.into());
            m.insert("rope_parameters".into(), Value::Object(global_params));
            match family {
                Family::Llama => {
                    m.insert("attention_bias".into(), c.arch.qkv_bias.into());
                    m.insert("mlp_bias".into(), c.arch.mlp_bias.into());
                }
                Family::Qwen2 | Family::Qwen3 => {
                    if family == Family::Qwen3 {
                        m.insert("attention_bias".into(), c.arch.qkv_bias.into());
                    }
                    m.insert("use_sliding_window".into(), window.is_some().into());
                    m.insert("sliding_window".into(), window.into());
                    m.insert("max_window_layers".into(), 0.into());
                    m.insert("layer_types".into(), types());
                }
                _ => {
                    m.insert("sliding_window".into(), window.into());
                }
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn family_config(name: &str) -> (Map<String, Value>, DecoderConfig) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures-families/models")
            .join(name)
            .join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        let Value::Object(map) = json else { panic!() };
        (map, DecoderConfig::from_hf_json(&text, &path).unwrap())
    }

    #[test]
    fn gemma3_layer_types_follow_the_blocks_and_a_broken_pattern_is_dropped() {
        let (json, c) = family_config("tiny-gemma3");
        // layer_types: s s F s s F; blocks 2, 0, 5 → F s F.
        let out = edited(&json, &c, &[2, 0, 5], None, Path::new("x")).unwrap();
        assert_eq!(out["num_hidden_layers"], 3);
        assert_eq!(
            out["layer_types"],
            json!(["full_attention", "sliding_attention", "full_attention"])
        );
        assert!(!out.contains_key("sliding_window_pattern"));
        assert!(!out.contains_key("_sliding_window_pattern"));
        // Skipping a whole period keeps the pattern (s s F), and the keys stay.
        let out = edited(&json, &c, &[0, 1, 2], None, Path::new("x")).unwrap();
        assert_eq!(out["sliding_window_pattern"], 3);
    }

    #[test]
    fn unknown_per_layer_lists_are_refused() {
        let (mut json, c) = family_config("tiny-qwen2");
        json.insert("no_rope_layers".into(), json!([1, 1, 1, 0, 1, 1]));
        let e = edited(&json, &c, &[0, 1], None, Path::new("cfg.json")).unwrap_err();
        assert!(
            e.to_string()
                .contains("`no_rope_layers` has one entry per layer"),
            "{e}"
        );
    }
}
