//! The written configuration, read back, must give every layer what its source block had.

use super::error::ExportError;
use crate::config::DecoderConfig;

/// Checks that `got` (the written configuration, read back by painters' loader) gives every layer
/// the window and RoPE table of its source block, and agrees with the source everywhere else.
pub(crate) fn check_config(
    source: &DecoderConfig,
    blocks: &[usize],
    got: &DecoderConfig,
    format: &str,
) -> Result<(), ExportError> {
    if got.layers.len() != blocks.len() {
        return Err(ExportError::Unsupported {
            what: format!("a model of {} layers", blocks.len()),
            format: format.into(),
            detail: format!("it reads back as {} layers", got.layers.len()),
        });
    }
    for (j, (&b, layer)) in blocks.iter().zip(&got.layers).enumerate() {
        let want = &source.layers[b];
        let window = |w: Option<usize>| {
            w.map_or_else(
                || "global (full attention)".to_string(),
                |w| format!("sliding window {w}"),
            )
        };
        if layer.window != want.window {
            return Err(ExportError::Inexpressible {
                layer: j,
                block: b,
                property: "attention type",
                format: format.into(),
                detail: format!(
                    "block {b} is {}, but the format makes layer {j} {}",
                    window(want.window),
                    window(layer.window)
                ),
            });
        }
        let (want_rope, got_rope) = (&source.ropes[want.rope], got.ropes.get(layer.rope));
        if got_rope != Some(want_rope) {
            return Err(ExportError::Inexpressible {
                layer: j,
                block: b,
                property: "RoPE table",
                format: format.into(),
                detail: format!(
                    "block {b} uses base {} ({:?}, {} rotated dims), the format gives layer {j} {}",
                    want_rope.theta,
                    want_rope.scaling,
                    want_rope.rotary_dims,
                    got_rope.map_or("none".to_string(), |r| format!(
                        "base {} ({:?}, {} rotated dims)",
                        r.theta, r.scaling, r.rotary_dims
                    ))
                ),
            });
        }
    }
    let fields: [(&str, String, String); 12] = [
        (
            "family",
            format!("{}", source.family),
            format!("{}", got.family),
        ),
        (
            "vocab_size",
            source.vocab_size.to_string(),
            got.vocab_size.to_string(),
        ),
        (
            "hidden_size",
            source.hidden_size.to_string(),
            got.hidden_size.to_string(),
        ),
        (
            "intermediate_size",
            source.intermediate_size.to_string(),
            got.intermediate_size.to_string(),
        ),
        (
            "num_attention_heads",
            source.num_attention_heads.to_string(),
            got.num_attention_heads.to_string(),
        ),
        (
            "num_key_value_heads",
            source.num_key_value_heads.to_string(),
            got.num_key_value_heads.to_string(),
        ),
        (
            "head_dim",
            source.head_dim.to_string(),
            got.head_dim.to_string(),
        ),
        (
            "block structure",
            format!("{:?}", source.arch),
            format!("{:?}", got.arch),
        ),
        (
            "max_position_embeddings",
            source.max_position_embeddings.to_string(),
            got.max_position_embeddings.to_string(),
        ),
        (
            "tie_word_embeddings",
            source.tie_word_embeddings.to_string(),
            got.tie_word_embeddings.to_string(),
        ),
        (
            "bos_token_id",
            format!("{:?}", source.bos_token_id),
            format!("{:?}", got.bos_token_id),
        ),
        (
            "eos_token_id",
            format!("{:?}", source.eos_token_ids),
            format!("{:?}", got.eos_token_ids),
        ),
    ];
    if let Some((what, want, have)) = fields.into_iter().find(|(_, a, b)| a != b) {
        return Err(ExportError::Unsupported {
            what: format!("the source's {what}"),
            format: format.into(),
            detail: format!(
                "the source has {want}, the written configuration reads back as {have}"
            ),
        });
    }
    Ok(())
}
