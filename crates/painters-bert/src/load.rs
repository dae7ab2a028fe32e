//! Building the modules from a HF checkpoint, read by HF tensor name through the core's
//! [`TensorSource`].
//!
//! Every tensor the model needs is looked up and shape-checked before the first one is read, so a
//! wrong checkpoint fails fast with the file and tensor named instead of after uploading half a
//! model. Linear weights are stored `[out, in]` by PyTorch and `[in, out]` by burn's `Linear`; the
//! transpose happens on the host at load time.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor};
use painters::weights::{SafetensorsCheckpoint, TensorSource, WeightError};

use crate::config::BertConfig;
use crate::embeddings::BertEmbeddings;
use crate::error::BertError;
use crate::heads::{BertPooler, MlmHead};
use crate::layer::{BertLayer, BertSelfAttention};
use crate::model::BertModel;

/// Reads tensors under one key prefix (`""` or `"bert."`) and turns them into burn modules.
pub(crate) struct Loader<'a> {
    pub(crate) src: &'a dyn TensorSource,
    pub(crate) device: &'a Device,
    pub(crate) eps: f64,
}

impl Loader<'_> {
    pub(crate) fn check(&self, specs: &[(String, Vec<usize>)]) -> Result<(), WeightError> {
        for (name, shape) in specs {
            let found = self.src.shape(name).ok_or_else(|| WeightError::Missing {
                path: self.src.path().to_path_buf(),
                tensor: name.clone(),
                hint: String::new(),
            })?;
            if &found != shape {
                return Err(WeightError::Shape {
                    path: self.src.path().to_path_buf(),
                    tensor: name.clone(),
                    expected: shape.clone(),
                    found,
                });
            }
        }
        Ok(())
    }

    fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: &[usize],
    ) -> Result<Tensor<D>, WeightError> {
        Ok(self
            .src
            .read_shaped(name, shape)?
            .to_device::<D>(self.device))
    }

    pub(crate) fn vector(&self, name: &str, n: usize) -> Result<Param<Tensor<1>>, WeightError> {
        Ok(Param::from_tensor(self.tensor::<1>(name, &[n])?))
    }

    /// `{name}.weight` `[d_out, d_in]` and `{name}.bias` `[d_out]`.
    pub(crate) fn linear(
        &self,
        name: &str,
        d_in: usize,
        d_out: usize,
    ) -> Result<Linear, WeightError> {
        let w = self
            .src
            .read_shaped(&format!("{name}.weight"), &[d_out, d_in])?;
        Ok(Linear {
            weight: Param::from_tensor(w.transposed().to_device::<2>(self.device)),
            bias: Some(self.vector(&format!("{name}.bias"), d_out)?),
        })
    }

    /// `{name}.weight` (gamma) and `{name}.bias` (beta), `[d]` each.
    pub(crate) fn norm(&self, name: &str, d: usize) -> Result<LayerNorm, WeightError> {
        let mut ln = LayerNormConfig::new(d)
            .with_epsilon(self.eps)
            .init(self.device);
        ln.gamma = self.vector(&format!("{name}.weight"), d)?;
        ln.beta = Some(self.vector(&format!("{name}.bias"), d)?);
        Ok(ln)
    }

    fn embedding(&self, name: &str, n: usize, d: usize) -> Result<Embedding, WeightError> {
        Ok(Embedding {
            weight: Param::from_tensor(self.tensor::<2>(&format!("{name}.weight"), &[n, d])?),
        })
    }
}

/// `[out, in]` weight and `[out]` bias of a dense layer, for the pre-check.
fn dense(out: &mut Vec<(String, Vec<usize>)>, name: &str, d_in: usize, d_out: usize) {
    out.push((format!("{name}.weight"), vec![d_out, d_in]));
    out.push((format!("{name}.bias"), vec![d_out]));
}

fn norm(out: &mut Vec<(String, Vec<usize>)>, name: &str, d: usize) {
    out.push((format!("{name}.weight"), vec![d]));
    out.push((format!("{name}.bias"), vec![d]));
}

/// Names and shapes of every tensor the encoder (and the optional heads) will read.
fn specs(c: &BertConfig, p: &str, pooler: bool, mlm: bool) -> Vec<(String, Vec<usize>)> {
    let (d, f) = (c.hidden_size, c.intermediate_size);
    let mut v = vec![
        (
            format!("{p}embeddings.word_embeddings.weight"),
            vec![c.vocab_size, d],
        ),
        (
            format!("{p}embeddings.position_embeddings.weight"),
            vec![c.max_position_embeddings, d],
        ),
        (
            format!("{p}embeddings.token_type_embeddings.weight"),
            vec![c.type_vocab_size, d],
        ),
    ];
    norm(&mut v, &format!("{p}embeddings.LayerNorm"), d);
    for i in 0..c.num_hidden_layers {
        let l = format!("{p}encoder.layer.{i}");
        for qkv in ["query", "key", "value"] {
            dense(&mut v, &format!("{l}.attention.self.{qkv}"), d, d);
        }
        dense(&mut v, &format!("{l}.attention.output.dense"), d, d);
        norm(&mut v, &format!("{l}.attention.output.LayerNorm"), d);
        dense(&mut v, &format!("{l}.intermediate.dense"), d, f);
        dense(&mut v, &format!("{l}.output.dense"), f, d);
        norm(&mut v, &format!("{l}.output.LayerNorm"), d);
    }
    if pooler {
        dense(&mut v, &format!("{p}pooler.dense"), d, d);
    }
    if mlm {
        dense(&mut v, "cls.predictions.transform.dense", d, d);
        norm(&mut v, "cls.predictions.transform.LayerNorm", d);
        v.push(("cls.predictions.bias".into(), vec![c.vocab_size]));
    }
    v
}

/// The key prefix of the encoder's tensors: none for a saved `BertModel`, `bert.` for the task
/// models (`BertForMaskedLM`, `BertForSequenceClassification`, …).
pub(crate) fn encoder_prefix(src: &dyn TensorSource) -> Result<&'static str, WeightError> {
    for p in ["", "bert."] {
        if src.contains(&format!("{p}embeddings.word_embeddings.weight")) {
            return Ok(p);
        }
    }
    Err(WeightError::Missing {
        path: src.path().to_path_buf(),
        tensor: "embeddings.word_embeddings.weight".into(),
        hint: " (looked for BertModel keys with and without the `bert.` prefix; is this a BERT checkpoint?)"
            .into(),
    })
}

impl BertModel {
    /// Load `config.json` and `model.safetensors` (or a sharded checkpoint) from a HF model
    /// directory.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self, BertError> {
        let dir = dir.as_ref();
        let config = BertConfig::from_file(dir.join("config.json"))?;
        let ckpt = SafetensorsCheckpoint::open(dir)?;
        Self::from_source(&ckpt, config, device)
    }

    /// Build the encoder from any tensor source. The pooler and the MLM head are loaded when the
    /// source has them (`pooler.dense.weight`, `cls.predictions.bias`); other tensors (a task
    /// head, `position_ids` buffers) are ignored.
    pub fn from_source(
        src: &dyn TensorSource,
        config: BertConfig,
        device: &Device,
    ) -> Result<Self, BertError> {
        let p = encoder_prefix(src)?;
        let has_pooler = src.contains(&format!("{p}pooler.dense.weight"));
        let has_mlm = src.contains("cls.predictions.bias");
        let ld = Loader {
            src,
            device,
            eps: config.layer_norm_eps,
        };
        ld.check(&specs(&config, p, has_pooler, has_mlm))?;

        let (d, f) = (config.hidden_size, config.intermediate_size);
        let e = format!("{p}embeddings");
        let embeddings = BertEmbeddings {
            word_embeddings: ld.embedding(&format!("{e}.word_embeddings"), config.vocab_size, d)?,
            position_embeddings: ld.embedding(
                &format!("{e}.position_embeddings"),
                config.max_position_embeddings,
                d,
            )?,
            token_type_embeddings: ld.embedding(
                &format!("{e}.token_type_embeddings"),
                config.type_vocab_size,
                d,
            )?,
            layer_norm: ld.norm(&format!("{e}.LayerNorm"), d)?,
            dropout: config.hidden_dropout_prob,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = format!("{p}encoder.layer.{i}");
            layers.push(BertLayer {
                attention: BertSelfAttention {
                    query: ld.linear(&format!("{l}.attention.self.query"), d, d)?,
                    key: ld.linear(&format!("{l}.attention.self.key"), d, d)?,
                    value: ld.linear(&format!("{l}.attention.self.value"), d, d)?,
                    num_heads: config.num_attention_heads,
                    dropout: config.attention_probs_dropout_prob,
                },
                attention_output: ld.linear(&format!("{l}.attention.output.dense"), d, d)?,
                attention_norm: ld.norm(&format!("{l}.attention.output.LayerNorm"), d)?,
                intermediate: ld.linear(&format!("{l}.intermediate.dense"), d, f)?,
                output: ld.linear(&format!("{l}.output.dense"), f, d)?,
                output_norm: ld.norm(&format!("{l}.output.LayerNorm"), d)?,
                hidden_dropout: config.hidden_dropout_prob,
            });
        }
        let pooler = match has_pooler {
            true => Some(BertPooler {
                dense: ld.linear(&format!("{p}pooler.dense"), d, d)?,
            }),
            false => None,
        };
        let mlm = match has_mlm {
            true => Some(MlmHead {
                dense: ld.linear("cls.predictions.transform.dense", d, d)?,
                layer_norm: ld.norm("cls.predictions.transform.LayerNorm", d)?,
                bias: ld.vector("cls.predictions.bias", config.vocab_size)?,
            }),
            false => None,
        };
        Ok(BertModel::from_parts(
            config, embeddings, layers, pooler, mlm,
        ))
    }
}
