//! A llama.cpp GGUF file as a decoder checkpoint: its metadata read into a [`DecoderConfig`] per
//! `general.architecture`, and its tensors served by their GGUF names, dequantised to f32.
//!
//! What GGUF leaves out is taken from the family description, as llama.cpp hard-codes it: Gemma 3's
//! sliding/global layer pattern (5 sliding layers per global one) and local RoPE base (10 000), and
//! Gemma 2's alternating pattern; those agree with HF's `Gemma3TextConfig` / `Gemma2Config`
//! defaults. llama.cpp's converter stores Gemma norms as `1 + w` and permutes Llama's Q/K rows for
//! its interleaved RoPE; both are undone here so the model computes as HF does.

use std::path::Path;

use painters::weights::{HostTensor, TensorSource, WeightError};

use crate::config::{
    Activation, Architecture, DecoderConfig, LayerSpec, NormKind, Residual, RopeScaling, RopeSpec,
};
use crate::family::Family;
use crate::family::names::{self, TensorNames};
use crate::gguf::{GgufError, GgufFile, unpermute_rope_rows};
use crate::model::DecoderError;

/// The `general.architecture` values that load, and their families.
const ARCHITECTURES: &[(&str, Family)] = &[
    ("llama", Family::Llama),
    ("qwen2", Family::Qwen2),
    ("qwen3", Family::Qwen3),
    ("gemma2", Family::Gemma2),
    ("gemma3", Family::Gemma3),
    ("phi3", Family::Phi3),
];

/// A GGUF file seen as a checkpoint of one family.
pub struct GgufSource {
    file: GgufFile,
    arch: String,
    family: Family,
    /// Query and KV head counts whose Q/K rows llama.cpp permuted (Llama only).
    permuted: Option<(usize, usize)>,
}

impl GgufSource {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DecoderError> {
        let file = GgufFile::open(path)?;
        let arch = file.get_str("general.architecture")?.to_string();
        let family = ARCHITECTURES
            .iter()
            .find(|(a, _)| *a == arch)
            .map(|(_, f)| *f)
            .ok_or_else(|| GgufError::InvalidMetadata {
                path: file.path().into(),
                key: "general.architecture".into(),
                reason: format!(
                    "'{arch}' is not supported (supported: {}); for other families load the HF safetensors checkpoint",
                    ARCHITECTURES.iter().map(|(a, _)| *a).collect::<Vec<_>>().join(", ")
                ),
            })?;
        let mut src = GgufSource {
            file,
            arch,
            family,
            permuted: None,
        };
        if family == Family::Llama {
            let heads = src.positive("attention.head_count")?;
            let kv = src.optional("attention.head_count_kv")?.unwrap_or(heads);
            src.permuted = Some((heads, kv));
        }
        Ok(src)
    }

    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// The family the file's `general.architecture` names.
    pub fn family(&self) -> Family {
        self.family
    }

    pub(crate) fn names(&self) -> &'static TensorNames {
        match self.family {
            Family::Phi3 => &names::GGUF_PHI3,
            _ => &names::GGUF,
        }
    }

    /// llama.cpp's converter stores Gemma's RMSNorm weights as `1 + w`.
    pub(crate) fn norms_hold_offset(&self) -> bool {
        matches!(self.family, Family::Gemma2 | Family::Gemma3)
    }

    fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }

    fn invalid(&self, key: &str, reason: String) -> GgufError {
        GgufError::InvalidMetadata {
            path: self.file.path().into(),
            key: key.into(),
            reason,
        }
    }

    fn optional(&self, k: &str) -> Result<Option<usize>, GgufError> {
        let key = self.key(k);
        match self.file.metadata(&key) {
            None => Ok(None),
            Some(_) => {
                let v = self.file.get_usize(&key)?;
                if v == 0 {
                    return Err(self.invalid(&key, "must be greater than zero".into()));
                }
                Ok(Some(v))
            }
        }
    }

    fn positive(&self, k: &str) -> Result<usize, GgufError> {
        let key = self.key(k);
        self.optional(k)?.ok_or(GgufError::MissingKey {
            path: self.file.path().into(),
            key,
        })
    }

    fn float(&self, k: &str) -> Result<Option<f64>, GgufError> {
        let key = self.key(k);
        match self.file.metadata(&key) {
            None => Ok(None),
            Some(_) => {
                let v = self.file.get_f32(&key)? as f64;
                if !(v.is_finite() && v > 0.0) {
                    return Err(
                        self.invalid(&key, format!("must be a positive finite number, got {v}"))
                    );
                }
                Ok(Some(v))
            }
        }
    }

    /// The model's configuration from the file's metadata (see the module docs).
    pub fn config(&self) -> Result<DecoderConfig, DecoderError> {
        let family = self.family;
        let blocks = self.positive("block_count")?;
        let hidden = self.positive("embedding_length")?;
        let ffn = self.positive("feed_forward_length")?;
        let heads = self.positive("attention.head_count")?;
        let kv_heads = self.optional("attention.head_count_kv")?.unwrap_or(heads);
        if hidden % heads != 0 && self.optional("attention.key_length")?.is_none() {
            return Err(self
                .invalid(
                    &self.key("attention.head_count"),
                    format!("{heads} heads do not divide the hidden size {hidden}"),
                )
                .into());
        }
        let head_dim = self
            .optional("attention.key_length")?
            .unwrap_or(hidden / heads);
        let rotary_dims = self.optional("rope.dimension_count")?.unwrap_or(head_dim);
        let eps_key = "attention.layer_norm_rms_epsilon";
        let eps = self.float(eps_key)?.ok_or_else(|| GgufError::MissingKey {
            path: self.file.path().into(),
            key: self.key(eps_key),
        })?;
        let window = self.optional("attention.sliding_window")?;
        let theta = self.float("rope.freq_base")?.unwrap_or(10_000.0);
        let scaling = self.rope_scaling(rotary_dims)?;
        let global = RopeSpec {
            theta,
            scaling,
            rotary_dims,
        };
        let vocab = self
            .file
            .tensor_info("token_embd.weight")
            .map(|t| t.hf_shape()[0])
            .ok_or_else(|| WeightError::Missing {
                path: self.file.path().into(),
                tensor: "token_embd.weight".into(),
                hint: String::new(),
            })?;
        if let Ok(tokens) = self.file.get_str_array("tokenizer.ggml.tokens")
            && tokens.len() != vocab
        {
            return Err(self
                .invalid(
                    "tokenizer.ggml.tokens",
                    format!("{} tokens for an embedding of {vocab} rows", tokens.len()),
                )
                .into());
        }

        let gemma = matches!(family, Family::Gemma2 | Family::Gemma3);
        let mut arch = Architecture {
            norm: if gemma {
                NormKind::RmsUnitOffset
            } else {
                NormKind::Rms
            },
            norm_eps: eps,
            qkv_bias: family == Family::Qwen2,
            o_bias: false,
            mlp_bias: false,
            qk_norm: matches!(family, Family::Qwen3 | Family::Gemma3),
            residual: if gemma {
                Residual::Sandwich
            } else {
                Residual::Sequential
            },
            gated_mlp: true,
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            attention_scale: (head_dim as f64).powf(-0.5),
            attn_softcap: None,
            final_softcap: None,
            embed_scale: gemma.then_some((hidden as f64).sqrt() as f32),
        };
        let (ropes, layers) = if gemma {
            // llama.cpp: Gemma's 27B scales queries by (hidden / heads)^-0.5, every other size by
            // head_dim^-0.5 — HF's `query_pre_attn_scalar` of each released config.
            if blocks == 46 && hidden == 4608 {
                arch.attention_scale = ((hidden / heads) as f64).powf(-0.5);
            }
            let window = Some(window.unwrap_or(4096));
            if family == Family::Gemma2 {
                arch.attn_softcap = self.float("attn_logit_softcapping")?;
                arch.final_softcap = self.float("final_logit_softcapping")?;
                let layers = (0..blocks)
                    .map(|i| LayerSpec {
                        window: (i % 2 == 0).then_some(window).flatten(),
                        rope: 0,
                    })
                    .collect();
                (vec![global], layers)
            } else {
                let local = RopeSpec {
                    theta: 10_000.0,
                    scaling: RopeScaling::None,
                    rotary_dims,
                };
                let layers = (0..blocks)
                    .map(|i| {
                        let sliding = (i + 1) % 6 != 0;
                        LayerSpec {
                            window: if sliding { window } else { None },
                            rope: usize::from(sliding),
                        }
                    })
                    .collect();
                (vec![global, local], layers)
            }
        } else {
            let layers = (0..blocks)
                .map(|_| LayerSpec {
                    window: if family == Family::Llama {
                        None
                    } else {
                        window
                    },
                    rope: 0,
                })
                .collect();
            (vec![global], layers)
        };
        let special = |k: &str| -> Result<Option<u32>, GgufError> {
            match self.file.metadata(k) {
                None => Ok(None),
                Some(_) => Ok(Some(self.file.get_u32(k)?)),
            }
        };
        let config = DecoderConfig {
            family,
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: ffn,
            num_hidden_layers: blocks,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            arch,
            ropes,
            layers,
            max_position_embeddings: self.positive("context_length")?,
            tie_word_embeddings: self.file.tensor_info("output.weight").is_none(),
            dtype: None,
            bos_token_id: special("tokenizer.ggml.bos_token_id")?,
            eos_token_ids: special("tokenizer.ggml.eos_token_id")?
                .into_iter()
                .collect(),
        };
        config.validate(self.file.path())?;
        Ok(config)
    }

    /// Linear scaling from `rope.scaling.*`, or Llama 3's per-frequency factors stored as the
    /// `rope_freqs.weight` tensor.
    fn rope_scaling(&self, rotary_dims: usize) -> Result<RopeScaling, DecoderError> {
        if let Some(t) = self.file.tensor_info("rope_freqs.weight") {
            if t.hf_shape() != [rotary_dims / 2] {
                return Err(WeightError::Shape {
                    path: self.file.path().into(),
                    tensor: "rope_freqs.weight".into(),
                    expected: vec![rotary_dims / 2],
                    found: t.hf_shape(),
                }
                .into());
            }
            let (_, f) = self.file.tensor_f32("rope_freqs.weight")?;
            return Ok(RopeScaling::Factors(f));
        }
        let kind_key = self.key("rope.scaling.type");
        match self.file.metadata(&kind_key) {
            None => Ok(RopeScaling::None),
            Some(_) => match self.file.get_str(&kind_key)? {
                "none" => Ok(RopeScaling::None),
                "linear" => Ok(RopeScaling::Linear {
                    factor: self.float("rope.scaling.factor")?.unwrap_or(1.0),
                }),
                other => Err(self
                    .invalid(
                        &kind_key,
                        format!("'{other}' is not supported (none, linear)"),
                    )
                    .into()),
            },
        }
    }
}

impl super::PackedSource for GgufSource {
    fn matrix(&self, name: &str) -> Result<Option<super::StoredMatrix>, WeightError> {
        let other = |message: String| WeightError::Other {
            path: self.file.path().to_path_buf(),
            message,
        };
        let m = self
            .file
            .tensor_matrix(name)
            .map_err(|e| other(e.to_string()))?;
        let heads = self.permuted.and_then(|(q, kv)| {
            if name.ends_with(".attn_q.weight") {
                Some(q)
            } else if name.ends_with(".attn_k.weight") {
                Some(kv)
            } else {
                None
            }
        });
        let Some(h) = heads else {
            return Ok(Some(super::StoredMatrix { m, rows: None }));
        };
        // llama.cpp's Q/K row permutation, as the order to read the rows in (the rows stay where
        // the file maps them): within each head, HF row j·half + i is GGUF row 2i + j.
        let rows = m.rows();
        if h == 0 || rows % (2 * h) != 0 {
            return Err(other(format!(
                "tensor `{name}`: {rows} rows do not split into {h} heads of row pairs"
            )));
        }
        let half = rows / h / 2;
        let order: Vec<usize> = (0..h)
            .flat_map(|head| {
                (0..2).flat_map(move |j| (0..half).map(move |i| head * 2 * half + 2 * i + j))
            })
            .collect();
        Ok(Some(super::StoredMatrix {
            m,
            rows: Some(order),
        }))
    }
}

impl TensorSource for GgufSource {
    fn path(&self) -> &Path {
        self.file.path()
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.file.tensor_info(name).map(|i| i.hf_shape())
    }

    fn names(&self) -> Vec<String> {
        self.file
            .tensors()
            .iter()
            .map(|t| t.name.clone())
            // Llama 3's frequency factors are part of the RoPE config (read above).
            .filter(|n| n != "rope_freqs.weight")
            .collect()
    }

    fn read(&self, name: &str) -> Result<HostTensor, WeightError> {
        let other = |e: GgufError| WeightError::Other {
            path: self.file.path().to_path_buf(),
            message: e.to_string(),
        };
        let (shape, data) = self.file.tensor_f32(name).map_err(other)?;
        let heads = self.permuted.and_then(|(q, kv)| {
            if name.ends_with(".attn_q.weight") {
                Some(q)
            } else if name.ends_with(".attn_k.weight") {
                Some(kv)
            } else {
                None
            }
        });
        let data = match (heads, shape.as_slice()) {
            (Some(h), &[rows, cols]) => unpermute_rope_rows(&data, rows, cols, h).map_err(other)?,
            _ => data,
        };
        Ok(HostTensor { shape, data })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;
    use painters::exec::Transformer;
    use painters::weights::SafetensorsFile;
    use painters::{KvMode, LayerSchedule, Plan};

    use crate::gguf::permute_rope_rows;
    use crate::gguf::test_util::GgufBuilder;
    use crate::{DecoderInput, DecoderModel};

    fn tiny_llama() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/models/tiny-llama")
    }

    /// The tiny Llama fixture written as llama.cpp's converter would: GGUF names, Q/K rows permuted
    /// for interleaved RoPE, `llama.*` metadata; `blocks` is the block count the metadata claims and
    /// `extra` a tensor added on top.
    fn tiny_llama_gguf(blocks: u32, extra: Option<&str>) -> GgufBuilder {
        let st = SafetensorsFile::open(tiny_llama().join("model.safetensors")).unwrap();
        let mut b = GgufBuilder::new()
            .kv_str("general.architecture", "llama")
            .kv_u32("llama.block_count", blocks)
            .kv_u32("llama.context_length", 128)
            .kv_u32("llama.embedding_length", 64)
            .kv_u32("llama.feed_forward_length", 128)
            .kv_u32("llama.attention.head_count", 4)
            .kv_u32("llama.attention.head_count_kv", 2)
            .kv_f32("llama.rope.freq_base", 10000.0)
            .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5);
        let rename = |hf: &str| -> String {
            let map = [
                ("model.embed_tokens", "token_embd"),
                ("model.norm", "output_norm"),
                ("lm_head", "output"),
                ("self_attn.q_proj", "attn_q"),
                ("self_attn.k_proj", "attn_k"),
                ("self_attn.v_proj", "attn_v"),
                ("self_attn.o_proj", "attn_output"),
                ("mlp.gate_proj", "ffn_gate"),
                ("mlp.up_proj", "ffn_up"),
                ("mlp.down_proj", "ffn_down"),
                ("input_layernorm", "attn_norm"),
                ("post_attention_layernorm", "ffn_norm"),
            ];
            let mut n = hf.replace("model.layers.", "blk.");
            for (from, to) in map {
                n = n.replace(from, to);
            }
            n
        };
        for name in st.names() {
            let t = painters::weights::TensorSource::read(&st, &name).unwrap();
            let mut data = t.data.clone();
            if let [rows, cols] = t.shape[..] {
                if name.ends_with("q_proj.weight") {
                    data = permute_rope_rows(&data, rows, cols, 4).unwrap();
                } else if name.ends_with("k_proj.weight") {
                    data = permute_rope_rows(&data, rows, cols, 2).unwrap();
                }
            }
            let dims: Vec<u64> = t.shape.iter().rev().map(|&d| d as u64).collect();
            b = b.tensor_f32(&rename(&name), &dims, &data);
        }
        if let Some(extra) = extra {
            b = b.tensor_f32(extra, &[64], &[0.0; 64]);
        }
        b
    }

    fn logits(model: &DecoderModel) -> Vec<f32> {
        let plan = Plan::compile(&LayerSchedule::full(6), 6, KvMode::Exact).unwrap();
        let input = DecoderInput::new(&[vec![5, 17, 200, 3]]).unwrap();
        model
            .forward(&plan, &input, None, &mut ())
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn a_converted_llama_gguf_computes_what_the_hf_checkpoint_computes() {
        let path = tiny_llama_gguf(6, None).write("tiny-llama.gguf");
        let gguf = DecoderModel::load(&path, &Device::flex()).unwrap();
        let hf = DecoderModel::load(tiny_llama(), &Device::flex()).unwrap();
        let (a, b) = (logits(&gguf), logits(&hf));
        let err = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-5, "max logit difference {err}");
    }

    #[test]
    fn gguf_block_count_must_match_the_tensors() {
        let path = tiny_llama_gguf(5, None).write("tiny-llama-5.gguf");
        let e = DecoderModel::load(&path, &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tensor `blk.5."), "{e}");
        assert!(e.contains("the config says 5 layers"), "{e}");
        let path = tiny_llama_gguf(7, None).write("tiny-llama-7.gguf");
        let e = DecoderModel::load(&path, &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tensor `blk.6.attn_norm.weight` is missing"),
            "{e}"
        );
    }

    #[test]
    fn an_extra_gguf_tensor_is_refused() {
        let path = tiny_llama_gguf(6, Some("blk.2.attn_q.bias")).write("tiny-llama-extra.gguf");
        let e = DecoderModel::load(&path, &Device::flex())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tensor `blk.2.attn_q.bias` is not used by the model"),
            "{e}"
        );
    }

    #[test]
    fn unsupported_architectures_are_named_with_the_supported_ones() {
        let path = GgufBuilder::new()
            .kv_str("general.architecture", "mamba")
            .write("mamba.gguf");
        let e = DecoderModel::load(&path, &Device::flex())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("general.architecture"), "{e}");
        assert!(
            e.contains(
                "'mamba' is not supported (supported: llama, qwen2, qwen3, gemma2, gemma3, phi3)"
            ),
            "{e}"
        );
    }
}
