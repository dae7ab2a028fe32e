//! Reading a family's weights out of a checkpoint by role, strictly: every tensor read is recorded,
//! and [`Checkpoint::finish`] refuses a checkpoint that holds tensors the model did not read (other
//! than the family's ignore list), naming them. A Qwen2 file read as Llama, or a config that
//! understates the layer count, is an error rather than a model that silently drops weights.

use std::cell::RefCell;
use std::collections::BTreeSet;

use burn::tensor::Device;
use painters::weights::{HostTensor, TensorSource, WeightError};

use crate::config::{DecoderConfig, NormKind};
use crate::error::DecoderError;
use crate::family::names::{MlpNames, QkvNames, TensorNames};
use crate::model::linear::Linear;
use crate::model::norm::Norm;

/// A tensor source seen through one family's names.
pub(crate) struct Checkpoint<'a> {
    pub src: &'a dyn TensorSource,
    pub names: &'a TensorNames,
    /// The file stores Gemma's RMSNorm weights as `1 + w` already (llama.cpp's converter does).
    pub norms_hold_offset: bool,
    used: RefCell<BTreeSet<String>>,
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

/// Concatenated vectors.
fn concat(parts: Vec<HostTensor>) -> HostTensor {
    let data: Vec<f32> = parts.into_iter().flat_map(|p| p.data).collect();
    HostTensor {
        shape: vec![data.len()],
        data,
    }
}

/// GPT-NeoX's per-head `[q_h; k_h; v_h]` row groups (each `hd` rows of `cols`) reordered into all
/// q rows, then all k rows, then all v rows.
fn ungroup_heads(t: HostTensor, heads: usize, hd: usize) -> HostTensor {
    let cols: usize = t.shape.iter().skip(1).product();
    let mut data = Vec::with_capacity(t.data.len());
    for part in 0..3 {
        for h in 0..heads {
            let start = (h * 3 + part) * hd * cols;
            data.extend_from_slice(&t.data[start..start + hd * cols]);
        }
    }
    HostTensor {
        shape: t.shape,
        data,
    }
}

impl<'a> Checkpoint<'a> {
    pub(crate) fn new(
        src: &'a dyn TensorSource,
        names: &'a TensorNames,
        norms_hold_offset: bool,
    ) -> Self {
        Checkpoint {
            src,
            names,
            norms_hold_offset,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    /// Reads `name` with shape `shape`, recording it as used.
    pub(crate) fn read(&self, name: &str, shape: &[usize]) -> Result<HostTensor, WeightError> {
        let t = self.src.read_shaped(name, shape)?;
        self.used.borrow_mut().insert(name.to_string());
        Ok(t)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.src.contains(name)
    }

    /// `{module}.weight` (and `{module}.bias` when `bias`) of layer `layer`, or of the model when None.
    fn param(&self, layer: Option<usize>, module: &str, param: &str) -> String {
        match layer {
            Some(i) => self.names.block(i, module, param),
            None => format!("{module}.{param}"),
        }
    }

    /// A norm of width `d` of the given kind.
    pub(crate) fn norm(
        &self,
        layer: Option<usize>,
        module: &str,
        kind: NormKind,
        eps: f64,
        d: usize,
        device: &Device,
    ) -> Result<Norm, WeightError> {
        let mut w = self.read(&self.param(layer, module, "weight"), &[d])?;
        if kind == NormKind::RmsUnitOffset && !self.norms_hold_offset {
            // As HF: `1.0 + weight` in float32.
            w.data.iter_mut().for_each(|x| *x += 1.0);
        }
        let layer_norm_bias = (kind == NormKind::LayerNorm)
            .then(|| self.read(&self.param(layer, module, "bias"), &[d]))
            .transpose()?
            .map(|b| b.to_device(device));
        Ok(Norm {
            w: w.to_device(device),
            layer_norm_bias,
            eps,
        })
    }

    /// A `[out, in]` projection (transposed for `x · W`), with its bias when `bias`.
    pub(crate) fn linear(
        &self,
        layer: usize,
        module: &str,
        (out, inp): (usize, usize),
        bias: bool,
        device: &Device,
    ) -> Result<Linear, WeightError> {
        let w = self.read(&self.param(Some(layer), module, "weight"), &[out, inp])?;
        let b = bias
            .then(|| self.read(&self.param(Some(layer), module, "bias"), &[out]))
            .transpose()?;
        Ok(Linear {
            w: w.transposed().to_device(device),
            b: b.map(|b| b.to_device(device)),
        })
    }

    /// The fused q|k|v projection of layer `i`, whatever way the checkpoint stores it.
    pub(crate) fn qkv(
        &self,
        i: usize,
        c: &DecoderConfig,
        device: &Device,
    ) -> Result<Linear, WeightError> {
        let (d, hd) = (c.hidden_size, c.head_dim);
        let (q_out, kv_out) = (c.num_attention_heads * hd, c.num_key_value_heads * hd);
        let bias = c.arch.qkv_bias;
        let w = |m: &str, rows: usize| self.read(&self.param(Some(i), m, "weight"), &[rows, d]);
        let b = |m: &str, rows: usize| self.read(&self.param(Some(i), m, "bias"), &[rows]);
        let (weight, b) = match self.names.qkv {
            QkvNames::Separate(q, k, v) => {
                let weight = fused_transposed(vec![w(q, q_out)?, w(k, kv_out)?, w(v, kv_out)?]);
                let b = bias
                    .then(|| {
                        Ok::<_, WeightError>(concat(vec![
                            b(q, q_out)?,
                            b(k, kv_out)?,
                            b(v, kv_out)?,
                        ]))
                    })
                    .transpose()?;
                (weight, b)
            }
            QkvNames::Fused(m) => {
                let rows = q_out + 2 * kv_out;
                (
                    w(m, rows)?.transposed(),
                    bias.then(|| b(m, rows)).transpose()?,
                )
            }
            QkvNames::FusedPerHead(m) => {
                let heads = c.num_attention_heads;
                let rows = 3 * heads * hd;
                let weight = ungroup_heads(w(m, rows)?, heads, hd).transposed();
                let b = bias
                    .then(|| b(m, rows).map(|b| ungroup_heads(b, heads, hd)))
                    .transpose()?;
                (weight, b)
            }
        };
        Ok(Linear {
            w: weight.to_device(device),
            b: b.map(|b| b.to_device(device)),
        })
    }

    /// The MLP's input projection of layer `i`: gate|up fused when the family gates.
    pub(crate) fn mlp_in(
        &self,
        i: usize,
        c: &DecoderConfig,
        device: &Device,
    ) -> Result<Linear, WeightError> {
        let (d, ffn, bias) = (c.hidden_size, c.intermediate_size, c.arch.mlp_bias);
        let w = |m: &str, rows: usize| self.read(&self.param(Some(i), m, "weight"), &[rows, d]);
        let b = |m: &str, rows: usize| self.read(&self.param(Some(i), m, "bias"), &[rows]);
        let (weight, b) = match self.names.mlp {
            MlpNames::Gated(gate, up) => (
                fused_transposed(vec![w(gate, ffn)?, w(up, ffn)?]),
                bias.then(|| Ok::<_, WeightError>(concat(vec![b(gate, ffn)?, b(up, ffn)?])))
                    .transpose()?,
            ),
            MlpNames::GatedFused(m) => (
                w(m, 2 * ffn)?.transposed(),
                bias.then(|| b(m, 2 * ffn)).transpose()?,
            ),
            MlpNames::Plain(m) => (
                w(m, ffn)?.transposed(),
                bias.then(|| b(m, ffn)).transpose()?,
            ),
        };
        Ok(Linear {
            w: weight.to_device(device),
            b: b.map(|b| b.to_device(device)),
        })
    }

    /// Refuses tensors the model did not read (other than the family's ignore list).
    pub(crate) fn finish(&self, c: &DecoderConfig) -> Result<(), DecoderError> {
        let used = self.used.borrow();
        let unused: Vec<String> = self
            .src
            .names()
            .into_iter()
            .filter(|n| !used.contains(n) && !self.names.is_ignored(n))
            .collect();
        let Some(first) = unused.first() else {
            return Ok(());
        };
        let beyond = unused.iter().find_map(|n| {
            let rest = n.strip_prefix(self.names.layers)?;
            let i: usize = rest.split_once('.')?.0.parse().ok()?;
            (i >= c.num_hidden_layers).then_some(i)
        });
        let hint = match beyond {
            Some(i) => format!(
                "the checkpoint has tensors of layer {i}, but the config says {} layers: the config and the weights disagree",
                c.num_hidden_layers
            ),
            None => format!(
                "the {} description does not use it; a checkpoint of another architecture, or a feature painters does not implement",
                c.family
            ),
        };
        Err(DecoderError::UnusedTensors {
            path: self.src.path().to_path_buf(),
            tensor: first.clone(),
            count: unused.len(),
            hint,
        })
    }
}
