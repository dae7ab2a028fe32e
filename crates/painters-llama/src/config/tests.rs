use std::path::Path;

use super::*;
use crate::family::Family;

fn parse(text: &str) -> Result<DecoderConfig, ConfigError> {
    DecoderConfig::from_hf_json(text, Path::new("config.json"))
}

const BASE: &str = r#""model_type": "llama", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 6, "num_attention_heads": 4, "max_position_embeddings": 128"#;

fn with(extra: &str) -> String {
    format!(
        "{{{BASE}{}{extra}}}",
        if extra.is_empty() { "" } else { ", " }
    )
}

#[test]
fn rope_theta_in_either_place() {
    let a = parse(&with(r#""rope_theta": 500000.0"#)).unwrap();
    let b = parse(&with(
        r#""rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}"#,
    ))
    .unwrap();
    assert_eq!(a.rope_theta(), 500000.0);
    assert_eq!(a, b);
    assert_eq!(
        a.num_key_value_heads, 4,
        "MHA when num_key_value_heads is absent"
    );
    assert_eq!(a.head_dim, 16);
    assert_eq!(a.family, Family::Llama);
}

#[test]
fn rope_scaling_types() {
    let l3 = parse(&with(
        r#""rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#,
    ))
    .unwrap();
    assert!(matches!(l3.ropes[0].scaling, RopeScaling::Llama3 { .. }));
    let plain = parse(&with("")).unwrap();
    let (a, b) = (plain.ropes[0].inv_freq(), l3.ropes[0].inv_freq());
    assert_eq!(a[0], b[0], "the highest frequency is kept");
    assert!(
        (b[7] - a[7] / 32.0).abs() < 1e-12,
        "the lowest is divided by the factor"
    );
    let lin = parse(&with(
        r#""rope_scaling": {"type": "linear", "factor": 2.0}"#,
    ))
    .unwrap();
    assert_eq!(lin.ropes[0].inv_freq()[3], a[3] / 2.0);
    let e = parse(&with(
        r#""rope_scaling": {"rope_type": "yarn", "factor": 2.0}"#,
    ))
    .unwrap_err();
    assert!(
        e.to_string().contains("rope_scaling.rope_type` = yarn"),
        "{e}"
    );
}

#[test]
fn unsupported_and_missing_fields_are_named() {
    let e = parse(&with(r#""hidden_act": "relu""#)).unwrap_err();
    assert!(e.to_string().contains("`hidden_act` = relu"), "{e}");
    let e = parse(&with(r#""num_key_value_heads": 3"#)).unwrap_err();
    assert!(e.to_string().contains("num_key_value_heads"), "{e}");
    let e = parse(r#"{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2}"#)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("config.json: field `vocab_size` is missing"),
        "{e}"
    );
    let e = parse(&with(r#""torch_dtype": "int8""#)).unwrap_err();
    assert!(e.to_string().contains("`dtype` = int8"), "{e}");
    assert!(matches!(parse("{"), Err(ConfigError::Parse { .. })));
    let e = parse(r#"{"hidden_size": 64}"#).unwrap_err();
    assert!(e.to_string().contains("`model_type` is missing"), "{e}");
    let e = parse(&with("").replace("\"llama\"", "\"mamba\"")).unwrap_err();
    assert!(e.to_string().contains("`model_type` = mamba"), "{e}");
    assert!(
        e.to_string().contains("gemma3_text"),
        "the message lists what is supported: {e}"
    );
}

#[test]
fn a_zero_head_count_is_blamed_on_itself() {
    let e = parse(&with("").replace(r#""num_attention_heads": 4"#, r#""num_attention_heads": 0"#))
        .unwrap_err();
    assert!(e.to_string().contains("`num_attention_heads` = 0"), "{e}");
}

#[test]
fn llama_biases_follow_the_config() {
    let c = parse(&with(r#""attention_bias": true, "mlp_bias": true"#)).unwrap();
    assert!(c.arch.qkv_bias && c.arch.o_bias && c.arch.mlp_bias);
    let c = parse(&with("")).unwrap();
    assert!(!c.arch.qkv_bias && !c.arch.o_bias && !c.arch.mlp_bias);
}

#[test]
fn gemma3_layers_keep_their_window_and_rope_base() {
    let text = with(
        r#""hidden_size": 64, "head_dim": 32, "sliding_window": 4, "sliding_window_pattern": 3,
            "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "query_pre_attn_scalar": 24"#,
    )
    .replace(
        r#""model_type": "llama", "#,
        r#""model_type": "gemma3_text", "#,
    )
    .replacen(r#""hidden_size": 64, "#, "", 1);
    let c = parse(&text).unwrap();
    let windows: Vec<_> = c.layers.iter().map(|l| l.window).collect();
    assert_eq!(windows, [Some(4), Some(4), None, Some(4), Some(4), None]);
    let thetas: Vec<_> = c.layers.iter().map(|l| c.ropes[l.rope].theta).collect();
    assert_eq!(thetas, [1e4, 1e4, 1e6, 1e4, 1e4, 1e6]);
    assert_eq!(c.arch.norm, NormKind::RmsUnitOffset);
    assert!(c.arch.qk_norm);
    assert_eq!(
        c.arch.attn_softcap, None,
        "Gemma 3 has no softcaps unless configured"
    );
    assert!((c.arch.attention_scale - 24f64.powf(-0.5)).abs() < 1e-15);
    assert_eq!(c.arch.embed_scale, Some(8.0));
    assert!(c.tie_word_embeddings, "Gemma ties its head by default");
}

#[test]
fn gemma2_softcaps_default_on_and_null_means_off() {
    let base = with(r#""sliding_window": 4"#)
        .replace(r#""model_type": "llama""#, r#""model_type": "gemma2""#);
    let c = parse(&base).unwrap();
    assert_eq!(
        (c.arch.attn_softcap, c.arch.final_softcap),
        (Some(50.0), Some(30.0))
    );
    let windows: Vec<_> = c.layers.iter().map(|l| l.window).collect();
    assert_eq!(windows, [Some(4), None, Some(4), None, Some(4), None]);
    let off = base.replace(
        "}",
        r#", "attn_logit_softcapping": null, "final_logit_softcapping": null}"#,
    );
    let c = parse(&off).unwrap();
    assert_eq!((c.arch.attn_softcap, c.arch.final_softcap), (None, None));
}

#[test]
fn partial_rotary_and_layer_types() {
    let neox = with(r#""rotary_pct": 0.25"#)
        .replace(r#""model_type": "llama""#, r#""model_type": "gpt_neox""#);
    let c = parse(&neox).unwrap();
    assert_eq!(c.ropes[0].rotary_dims, 4);
    assert_eq!(c.arch.residual, Residual::Parallel);
    assert_eq!(c.arch.norm, NormKind::LayerNorm);
    let e = parse(
        &with(r#""layer_types": ["full_attention"]"#)
            .replace(r#""model_type": "llama""#, r#""model_type": "qwen2""#),
    )
    .unwrap_err();
    assert!(e.to_string().contains("`layer_types` = 1 entries"), "{e}");
    let e = parse(&with(r#""num_local_experts": 8"#)).unwrap_err();
    assert!(e.to_string().contains("mixture-of-experts"), "{e}");
}
