//! Building a [`LlamaModel`] from a HF safetensors checkpoint or a llama.cpp GGUF file.
//!
//! Both go through [`TensorSource`] by HF tensor name; for GGUF, [`GgufSource`] translates names
//! (`blk.3.attn_q.weight` ↔ `model.layers.3.self_attn.q_proj.weight`), dequantises, and undoes the
//! row permutation that llama.cpp's converter applies to Q and K for its interleaved RoPE, so the
//! model code is one and the same.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters::weights::{HostTensor, SafetensorsCheckpoint, TensorSource, WeightError};

use crate::config::LlamaConfig;
use crate::gguf::{GgufFile, GgufLlamaMeta, llama_config_from_gguf, unpermute_rope_rows};
use crate::model::{Dims, LlamaBlock, LlamaError, LlamaModel};
use crate::tokenizer::TextTokenizer;

/// A GGUF file seen through HF tensor names.
pub struct GgufSource {
    file: GgufFile,
    meta: GgufLlamaMeta,
}

impl GgufSource {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let file = GgufFile::open(path)?;
        let meta = llama_config_from_gguf(&file)?;
        Ok(GgufSource { file, meta })
    }
    pub fn file(&self) -> &GgufFile {
        &self.file
    }
    pub fn meta(&self) -> &GgufLlamaMeta {
        &self.meta
    }

    /// The GGUF name of a HF tensor name, and how many heads its rows are permuted over (Q and K).
    fn translate(&self, hf: &str) -> Option<(String, Option<usize>)> {
        match hf {
            "model.embed_tokens.weight" => return Some(("token_embd.weight".into(), None)),
            "model.norm.weight" => return Some(("output_norm.weight".into(), None)),
            "lm_head.weight" => return Some(("output.weight".into(), None)),
            _ => {}
        }
        let rest = hf.strip_prefix("model.layers.")?;
        let (i, name) = rest.split_once('.')?;
        let (g, heads) = match name {
            "self_attn.q_proj.weight" => ("attn_q", Some(self.meta.head_count)),
            "self_attn.k_proj.weight" => ("attn_k", Some(self.meta.head_count_kv)),
            "self_attn.v_proj.weight" => ("attn_v", None),
            "self_attn.o_proj.weight" => ("attn_output", None),
            "mlp.gate_proj.weight" => ("ffn_gate", None),
            "mlp.up_proj.weight" => ("ffn_up", None),
            "mlp.down_proj.weight" => ("ffn_down", None),
            "input_layernorm.weight" => ("attn_norm", None),
            "post_attention_layernorm.weight" => ("ffn_norm", None),
            _ => return None,
        };
        Some((format!("blk.{i}.{g}.weight"), heads))
    }
}

impl TensorSource for GgufSource {
    fn path(&self) -> &Path {
        self.file.path()
    }
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        let (g, _) = self.translate(name)?;
        self.file.tensor_info(&g).map(|i| i.hf_shape())
    }
    fn read(&self, name: &str) -> Result<HostTensor, WeightError> {
        let other = |e: crate::gguf::GgufError| WeightError::Other {
            path: self.file.path().to_path_buf(),
            message: e.to_string(),
        };
        let (g, heads) = self.translate(name).ok_or_else(|| WeightError::Missing {
            path: self.file.path().to_path_buf(),
            tensor: name.to_string(),
            hint: " (no GGUF counterpart)".into(),
        })?;
        let (shape, data) = self.file.tensor_f32(&g).map_err(other)?;
        let data = match (heads, shape.as_slice()) {
            (Some(h), &[rows, cols]) => unpermute_rope_rows(&data, rows, cols, h).map_err(other)?,
            _ => data,
        };
        Ok(HostTensor { shape, data })
    }
}

/// Rows of several `[out_i, in]` matrices stacked, then transposed: `[in, Σ out_i]`, ready for `x · W`.
fn fused_transposed(parts: Vec<HostTensor>) -> HostTensor {
    let cols = parts.first().map_or(0, |p| p.shape[1]);
    let rows: usize = parts.iter().map(|p| p.shape[0]).sum();
    let mut data = Vec::with_capacity(rows * cols);
    for p in parts {
        data.extend(p.data);
    }
    HostTensor {
        shape: vec![rows, cols],
        data,
    }
    .transposed()
}

impl LlamaModel {
    /// Load a model from a HF checkpoint directory (`config.json` + safetensors) or a `.gguf` file.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self, LlamaError> {
        let path = path.as_ref();
        if is_gguf(path) {
            let src = GgufSource::open(path)?;
            let tied = !src.contains("lm_head.weight");
            let special = TextTokenizer::from_gguf(src.file())
                .map(|t| (t.special_tokens().bos, t.special_tokens().eos))
                .unwrap_or((None, None));
            let config = LlamaConfig::from_gguf(src.meta(), tied, special);
            Self::from_source(config, &src, device)
        } else {
            let config = LlamaConfig::from_hf_file(path)?;
            let src = SafetensorsCheckpoint::open(path)?;
            Self::from_source(config, &src, device)
        }
    }

    /// Build the model from tensors named as in HF `LlamaForCausalLM`, checking every shape.
    pub fn from_source(
        config: LlamaConfig,
        src: &dyn TensorSource,
        device: &Device,
    ) -> Result<Self, LlamaError> {
        let c = &config;
        let (d, hd) = (c.hidden_size, c.head_dim);
        let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let embed = src.read_shaped("model.embed_tokens.weight", &[c.vocab_size, d])?;
        let mut blocks = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let name = |n: &str| format!("model.layers.{i}.{n}");
            let w = |n: &str, shape: &[usize]| src.read_shaped(&name(n), shape);
            let qkv = fused_transposed(vec![
                w("self_attn.q_proj.weight", &[q_out, d])?,
                w("self_attn.k_proj.weight", &[kv_out, d])?,
                w("self_attn.v_proj.weight", &[kv_out, d])?,
            ]);
            let gate_up = fused_transposed(vec![
                w("mlp.gate_proj.weight", &[c.intermediate_size, d])?,
                w("mlp.up_proj.weight", &[c.intermediate_size, d])?,
            ]);
            blocks.push(LlamaBlock {
                attn_norm: w("input_layernorm.weight", &[d])?.to_device(device),
                w_qkv: qkv.to_device(device),
                w_o: w("self_attn.o_proj.weight", &[d, q_out])?
                    .transposed()
                    .to_device(device),
                mlp_norm: w("post_attention_layernorm.weight", &[d])?.to_device(device),
                w_gate_up: gate_up.to_device(device),
                w_down: w("mlp.down_proj.weight", &[d, c.intermediate_size])?
                    .transposed()
                    .to_device(device),
                dims: Dims {
                    heads: c.num_attention_heads,
                    kv_heads: c.num_key_value_heads,
                    head_dim: hd,
                    ffn: c.intermediate_size,
                    eps: c.rms_norm_eps,
                },
            });
        }
        let head = if src.contains("lm_head.weight") {
            Some(
                src.read_shaped("lm_head.weight", &[c.vocab_size, d])?
                    .transposed()
                    .to_device(device),
            )
        } else if c.tie_word_embeddings {
            None
        } else {
            return Err(LlamaError::Weights(WeightError::Missing {
                path: src.path().to_path_buf(),
                tensor: "lm_head.weight".into(),
                hint: " (config.json says tie_word_embeddings = false)".into(),
            }));
        };
        Ok(LlamaModel {
            inv_freq: config.inv_freq(),
            embed: embed.to_device(device),
            norm: src
                .read_shaped("model.norm.weight", &[d])?
                .to_device(device),
            blocks,
            head,
            config,
            device: device.clone(),
            stacked: Default::default(),
            query_chunk: Some(crate::model::DEFAULT_QUERY_CHUNK),
            batch_split: crate::model::host_device(device),
            projection_split: crate::model::host_device(device),
        })
    }
}

fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// The tokenizer of a model: embedded in a GGUF file, or `tokenizer.json` beside a checkpoint.
pub fn load_tokenizer(path: impl AsRef<Path>) -> Result<TextTokenizer, LlamaError> {
    let path = path.as_ref();
    if is_gguf(path) {
        return Ok(TextTokenizer::from_gguf_path(path)?);
    }
    let dir: PathBuf = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    Ok(TextTokenizer::from_file(dir.join("tokenizer.json"))?)
}
