//! Building a [`DecoderModel`] from a HF safetensors checkpoint or a llama.cpp GGUF file.
//!
//! Both go through a [`Checkpoint`]: the family's tensor names over a [`TensorSource`], read by role,
//! every shape checked, projections fused and transposed, and every tensor of the file accounted for.
//! For GGUF, [`GgufSource`] dequantises and undoes the row permutation that llama.cpp's converter
//! applies to Llama's Q and K for its interleaved RoPE, so the model code is one and the same.

mod checkpoint;
mod gguf;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters::weights::{SafetensorsCheckpoint, TensorSource, WeightError};

pub(crate) use checkpoint::{Checkpoint, PackedSource, StoredMatrix};
pub use gguf::GgufSource;

use crate::config::{DecoderConfig, Residual};
use crate::model::weight::{Weight, as_dtype};
use crate::model::{
    BlockSpec, DecoderBlock, DecoderError, DecoderModel, ExecSettings, Table, WeightMode,
};
use crate::tokenizer::TextTokenizer;

/// How a model is loaded: the storage of its matrices, and how it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    pub weights: WeightMode,
    /// None: [`ExecSettings::for_device`].
    pub exec: Option<ExecSettings>,
}

impl DecoderModel {
    /// Load a model from a HF checkpoint directory (`config.json` + safetensors) or a `.gguf` file,
    /// with the device's default [`ExecSettings`].
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self, DecoderError> {
        Self::load_with(path, device, LoadOptions::default())
    }

    /// [`DecoderModel::load`] with a weight mode and execution settings.
    pub fn load_with(
        path: impl AsRef<Path>,
        device: &Device,
        options: LoadOptions,
    ) -> Result<Self, DecoderError> {
        let path = path.as_ref();
        options.weights.check_on(device)?;
        let settings = options
            .exec
            .unwrap_or_else(|| ExecSettings::for_device(device));
        if is_gguf(path) {
            let src = GgufSource::open(path)?;
            let config = src.config()?;
            let ckpt = Checkpoint::new(&src, src.names(), src.norms_hold_offset()).with_mode(
                options.weights,
                Some(&src),
                device,
            );
            Self::build(config, &ckpt, device, settings)
        } else {
            let config = DecoderConfig::from_hf_file(path)?;
            let src = SafetensorsCheckpoint::open(path)?;
            let ckpt = Checkpoint::new(&src, config.family.hf_names(), false).with_mode(
                options.weights,
                None,
                device,
            );
            Self::build(config, &ckpt, device, settings)
        }
    }

    /// Build the model from tensors named as in the family's HF checkpoints, checking every shape
    /// and refusing tensors the model does not use.
    pub fn from_source(
        config: DecoderConfig,
        src: &dyn TensorSource,
        device: &Device,
    ) -> Result<Self, DecoderError> {
        let ckpt = Checkpoint::new(src, config.family.hf_names(), false);
        Self::build(config, &ckpt, device, ExecSettings::for_device(device))
    }

    fn build(
        config: DecoderConfig,
        ckpt: &Checkpoint<'_>,
        device: &Device,
        settings: ExecSettings,
    ) -> Result<Self, DecoderError> {
        let c = &config;
        let a = &c.arch;
        let names = ckpt.names;
        let (d, hd) = (c.hidden_size, c.head_dim);
        let embed_name = format!("{}.weight", names.embed);
        let embed = match ckpt.dense {
            Some(dtype) => Table::Dense(as_dtype(
                ckpt.read(&embed_name, &[c.vocab_size, d])?
                    .to_device(device),
                dtype,
            )),
            None => Table::Packed(ckpt.packed_matrix(&embed_name, (c.vocab_size, d))?),
        };
        let mut blocks = Vec::with_capacity(c.num_hidden_layers);
        for (i, layer) in c.layers.iter().enumerate() {
            let norm = |module: &str, width: usize| {
                ckpt.norm(Some(i), module, a.norm, a.norm_eps, width, device)
            };
            let sandwich = a.residual == Residual::Sandwich;
            blocks.push(DecoderBlock {
                attn_norm: norm(names.attn_norm, d)?,
                qkv: ckpt.qkv(i, c, device)?,
                q_norm: a.qk_norm.then(|| norm(names.q_norm, hd)).transpose()?,
                k_norm: a.qk_norm.then(|| norm(names.k_norm, hd)).transpose()?,
                o: ckpt.linear(
                    i,
                    names.o,
                    (d, c.num_attention_heads * hd),
                    a.o_bias,
                    device,
                )?,
                post_attn_norm: sandwich
                    .then(|| norm(names.post_attn_norm, d))
                    .transpose()?,
                mlp_norm: norm(names.mlp_norm, d)?,
                up: ckpt.mlp_in(i, c, device)?,
                down: ckpt.linear(i, names.down, (d, c.intermediate_size), a.mlp_bias, device)?,
                post_mlp_norm: sandwich.then(|| norm(names.post_mlp_norm, d)).transpose()?,
                spec: BlockSpec {
                    heads: c.num_attention_heads,
                    kv_heads: c.num_key_value_heads,
                    head_dim: hd,
                    ffn: c.intermediate_size,
                    window: layer.window,
                    rope: layer.rope,
                    scores: crate::model::ScoreOptions {
                        scale: a.attention_scale,
                        softcap: a.attn_softcap,
                    },
                    residual: a.residual,
                    activation: a.activation,
                    gated: a.gated_mlp,
                },
            });
        }
        let head_name = format!("{}.weight", names.head);
        let head = if ckpt.contains(&head_name) {
            Some(match ckpt.dense {
                Some(dtype) => Weight::Dense(Box::new(as_dtype(
                    ckpt.read(&head_name, &[c.vocab_size, d])?
                        .transposed()
                        .to_device(device),
                    dtype,
                ))),
                None => Weight::packed(ckpt.packed_matrix(&head_name, (c.vocab_size, d))?),
            })
        } else if c.tie_word_embeddings {
            None
        } else {
            return Err(DecoderError::Weights(WeightError::Missing {
                path: ckpt.src.path().to_path_buf(),
                tensor: head_name,
                hint: " (the config says tie_word_embeddings = false)".into(),
            }));
        };
        let norm = ckpt.norm(None, names.final_norm, a.norm, a.norm_eps, d, device)?;
        ckpt.finish(c)?;
        let mut windows: Vec<Option<usize>> = Vec::new();
        for l in &c.layers {
            if !windows.contains(&l.window) {
                windows.push(l.window);
            }
        }
        let stacked: std::sync::Arc<crate::model::stacked::StackedCache> = Default::default();
        stacked.set_budget(settings.stacked_weight_budget);
        Ok(DecoderModel {
            inv_freqs: c.ropes.iter().map(|r| r.inv_freq()).collect(),
            windows,
            embed,
            norm,
            blocks,
            head,
            config,
            device: device.clone(),
            stacked,
            settings,
            weights: ckpt.mode,
        })
    }
}

pub(crate) fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// The tokenizer of a model: embedded in a GGUF file, or `tokenizer.json` beside a checkpoint.
pub fn load_tokenizer(path: impl AsRef<Path>) -> Result<TextTokenizer, DecoderError> {
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
