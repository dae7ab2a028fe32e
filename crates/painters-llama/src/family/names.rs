//! Where a family keeps each weight in a checkpoint: HF module names, and llama.cpp's GGUF names.
//!
//! A block weight is asked for by its role; the names here turn a role into the module path inside
//! layer `i` (the loader appends `.weight` / `.bias`). Families differ only in a few places: the layer
//! prefix, fused Q/K/V and gate/up tensors, and which norm feeds the MLP.

/// How a checkpoint stores the query, key and value projections.
#[derive(Clone, Copy, Debug)]
pub(crate) enum QkvNames {
    /// Three tensors `[q_out, d]`, `[kv_out, d]`, `[kv_out, d]`.
    Separate(&'static str, &'static str, &'static str),
    /// One tensor, rows q then k then v (Phi-3's `qkv_proj`, llama.cpp's `attn_qkv`).
    Fused(&'static str),
    /// One tensor, rows grouped per head: for head h, q_h, k_h, v_h (GPT-NeoX `query_key_value`).
    FusedPerHead(&'static str),
}

/// How a checkpoint stores the MLP's input projections.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MlpNames {
    /// `gate` and `up`, each `[ffn, d]`.
    Gated(&'static str, &'static str),
    /// One `[2·ffn, d]` tensor, gate rows then up rows (Phi-3's `gate_up_proj`).
    GatedFused(&'static str),
    /// One `[ffn, d]` input projection, no gate (GPT-NeoX).
    Plain(&'static str),
}

/// The module names of one family in one checkpoint format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TensorNames {
    pub embed: &'static str,
    pub final_norm: &'static str,
    pub head: &'static str,
    /// Prefix of layer `i`'s modules, followed by `i` and a dot.
    pub layers: &'static str,
    pub attn_norm: &'static str,
    pub qkv: QkvNames,
    pub o: &'static str,
    pub q_norm: &'static str,
    pub k_norm: &'static str,
    /// Gemma's norm on the attention output (sandwich).
    pub post_attn_norm: &'static str,
    /// The norm in front of the MLP.
    pub mlp_norm: &'static str,
    pub mlp: MlpNames,
    pub down: &'static str,
    /// Gemma's norm on the MLP output (sandwich).
    pub post_mlp_norm: &'static str,
    /// Tensors a checkpoint may hold that the model does not need (full names, or suffixes
    /// after the layer prefix and index), e.g. precomputed RoPE buffers.
    pub ignored: &'static [&'static str],
}

impl TensorNames {
    /// `{layers}{i}.{module}.{param}`.
    pub(crate) fn block(&self, i: usize, module: &str, param: &str) -> String {
        format!("{}{i}.{module}.{param}", self.layers)
    }

    /// Whether `name` is one of the family's ignored tensors.
    pub(crate) fn is_ignored(&self, name: &str) -> bool {
        let in_layer = name
            .strip_prefix(self.layers)
            .and_then(|rest| rest.split_once('.'))
            .filter(|(i, _)| i.parse::<usize>().is_ok())
            .map(|(_, suffix)| suffix);
        self.ignored
            .iter()
            .any(|&pattern| name == pattern || in_layer == Some(pattern))
    }
}

/// HF names of Llama-style checkpoints (`model.layers.N.self_attn.q_proj`, …).
pub(crate) const HF_LLAMA: TensorNames = TensorNames {
    embed: "model.embed_tokens",
    final_norm: "model.norm",
    head: "lm_head",
    layers: "model.layers.",
    attn_norm: "input_layernorm",
    qkv: QkvNames::Separate("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    o: "self_attn.o_proj",
    q_norm: "self_attn.q_norm",
    k_norm: "self_attn.k_norm",
    post_attn_norm: "post_attention_layernorm",
    mlp_norm: "post_attention_layernorm",
    mlp: MlpNames::Gated("mlp.gate_proj", "mlp.up_proj"),
    down: "mlp.down_proj",
    post_mlp_norm: "post_feedforward_layernorm",
    ignored: &["self_attn.rotary_emb.inv_freq"],
};

/// HF names of Gemma 2/3 checkpoints: Llama's, with the MLP fed by `pre_feedforward_layernorm`
/// (`post_attention_layernorm` is the sandwich norm on the attention output).
pub(crate) const HF_GEMMA: TensorNames = TensorNames {
    mlp_norm: "pre_feedforward_layernorm",
    ..HF_LLAMA
};

/// HF names of Phi-3 checkpoints: fused `qkv_proj` and `gate_up_proj`.
pub(crate) const HF_PHI3: TensorNames = TensorNames {
    qkv: QkvNames::Fused("self_attn.qkv_proj"),
    mlp: MlpNames::GatedFused("mlp.gate_up_proj"),
    ..HF_LLAMA
};

/// HF names of GPT-NeoX (Pythia) checkpoints.
pub(crate) const HF_GPT_NEOX: TensorNames = TensorNames {
    embed: "gpt_neox.embed_in",
    final_norm: "gpt_neox.final_layer_norm",
    head: "embed_out",
    layers: "gpt_neox.layers.",
    attn_norm: "input_layernorm",
    qkv: QkvNames::FusedPerHead("attention.query_key_value"),
    o: "attention.dense",
    q_norm: "attention.q_norm",
    k_norm: "attention.k_norm",
    post_attn_norm: "post_attention_norm",
    mlp_norm: "post_attention_layernorm",
    mlp: MlpNames::Plain("mlp.dense_h_to_4h"),
    down: "mlp.dense_4h_to_h",
    post_mlp_norm: "post_mlp_norm",
    ignored: &[
        "attention.bias",
        "attention.masked_bias",
        "attention.rotary_emb.inv_freq",
    ],
};

/// llama.cpp's GGUF names (`blk.N.attn_q`, …), the same for every architecture it writes.
pub(crate) const GGUF: TensorNames = TensorNames {
    embed: "token_embd",
    final_norm: "output_norm",
    head: "output",
    layers: "blk.",
    attn_norm: "attn_norm",
    qkv: QkvNames::Separate("attn_q", "attn_k", "attn_v"),
    o: "attn_output",
    q_norm: "attn_q_norm",
    k_norm: "attn_k_norm",
    post_attn_norm: "post_attention_norm",
    mlp_norm: "ffn_norm",
    mlp: MlpNames::Gated("ffn_gate", "ffn_up"),
    down: "ffn_down",
    post_mlp_norm: "post_ffw_norm",
    // Llama 3's RoPE frequency factors are read as a model tensor when present, see crate::load.
    ignored: &[],
};

/// llama.cpp's names for Phi-3: fused `attn_qkv`, and gate|up fused into `ffn_up`.
pub(crate) const GGUF_PHI3: TensorNames = TensorNames {
    qkv: QkvNames::Fused("attn_qkv"),
    mlp: MlpNames::GatedFused("ffn_up"),
    ..GGUF
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_tensors_match_inside_layers_only() {
        assert!(HF_GPT_NEOX.is_ignored("gpt_neox.layers.3.attention.masked_bias"));
        assert!(!HF_GPT_NEOX.is_ignored("gpt_neox.layers.x.attention.masked_bias"));
        assert!(!HF_GPT_NEOX.is_ignored("gpt_neox.layers.3.attention.dense.weight"));
        assert!(HF_LLAMA.is_ignored("model.layers.0.self_attn.rotary_emb.inv_freq"));
        assert_eq!(
            HF_GEMMA.block(2, HF_GEMMA.mlp_norm, "weight"),
            "model.layers.2.pre_feedforward_layernorm.weight"
        );
    }
}
