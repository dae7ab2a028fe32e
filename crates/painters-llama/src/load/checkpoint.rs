//! Reading a family's weights out of a checkpoint by role, strictly: every tensor read is recorded,
//! and [`Checkpoint::finish`] refuses a checkpoint that holds tensors the model did not read (other
//! than the family's ignore list), naming them. A Qwen2 file read as Llama, or a config that
//! understates the layer count, is an error rather than a model that silently drops weights.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use burn::tensor::{DType, Device};
use painters::weights::{HostTensor, RawDtype, TensorSource, WeightError};
use painters_kernels::{QMatrix, SharedBuffer, WeightBytes, WeightType};

use crate::config::{DecoderConfig, NormKind};
use crate::error::DecoderError;
use crate::family::names::{MlpNames, QkvNames, TensorNames};
use crate::model::linear::Linear;
use crate::model::norm::Norm;
use crate::model::weight::{Weight, WeightMode, as_dtype};

/// A matrix as a file stores it.
pub(crate) struct StoredMatrix {
    pub m: QMatrix,
    /// Where the file keeps the rows in another order than the model uses (llama.cpp's Q/K
    /// permutation): model row `j` is stored row `rows[j]`. None: the model's order.
    pub rows: Option<Vec<usize>>,
}

impl StoredMatrix {
    /// The matrix with its rows in the model's order (moved into a new buffer where they are not).
    fn in_model_order(self) -> Result<QMatrix, painters_kernels::KernelError> {
        match self.rows {
            None => Ok(self.m),
            Some(rows) => self.m.select_rows(&rows),
        }
    }
}

/// A source that can hand out matrices in their stored format (GGUF blocks), rather than f32.
pub(crate) trait PackedSource {
    /// The stored matrix `name` (`[out, in]`), or None where the source stores it otherwise.
    fn matrix(&self, name: &str) -> Result<Option<StoredMatrix>, WeightError>;
}

/// A safetensors tensor's bytes as a matrix, borrowed from the file's memory map.
fn raw_matrix(src: &dyn TensorSource, name: &str) -> Result<Option<QMatrix>, WeightError> {
    let Some(raw) = src.raw(name)? else {
        return Ok(None);
    };
    let &[rows, cols] = raw.shape.as_slice() else {
        return Ok(None);
    };
    let ty = match raw.dtype {
        RawDtype::F32 => WeightType::F32,
        RawDtype::F16 => WeightType::F16,
        RawDtype::BF16 => WeightType::BF16,
    };
    let other = |e: painters_kernels::KernelError| WeightError::Other {
        path: src.path().to_path_buf(),
        message: format!("tensor `{name}`: {e}"),
    };
    let owner: SharedBuffer = raw.owner;
    let bytes = WeightBytes::shared(owner, raw.range).map_err(other)?;
    QMatrix::from_bytes(ty, rows, cols, bytes)
        .map(Some)
        .map_err(other)
}

/// A tensor source seen through one family's names.
pub(crate) struct Checkpoint<'a> {
    pub src: &'a dyn TensorSource,
    pub names: &'a TensorNames,
    /// The file stores Gemma's RMSNorm weights as `1 + w` already (llama.cpp's converter does).
    pub norms_hold_offset: bool,
    /// How matrices are stored in the model.
    pub mode: WeightMode,
    /// Matrices go to the device as tensors of this type (f32: the exact path; f16/bf16 on a GPU);
    /// None: host-packed for the CPU kernels.
    pub dense: Option<DType>,
    /// Matrices in their stored format (GGUF); None: only f32/f16/bf16 safetensors bytes.
    pub packed: Option<&'a dyn PackedSource>,
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
            mode: WeightMode::F32,
            dense: Some(DType::F32),
            packed: None,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    /// The same checkpoint read into `mode` for a model on `device`, with stored matrices from
    /// `packed`. On the host, the modes other than f32 pack matrices for the CPU kernels; on a GPU,
    /// f16 and bf16 matrices are device tensors of that type (`native` is refused by the loader).
    pub(crate) fn with_mode(
        mut self,
        mode: WeightMode,
        packed: Option<&'a dyn PackedSource>,
        device: &Device,
    ) -> Self {
        self.mode = mode;
        self.packed = packed;
        self.dense = match mode {
            WeightMode::F32 => Some(DType::F32),
            _ if painters::backend::runs_on_host(device) => None,
            WeightMode::F16 => Some(DType::F16),
            WeightMode::BF16 => Some(DType::BF16),
            WeightMode::Native => None,
        };
        self
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

    /// Matrix `name` (`[out, in]`) in the checkpoint's weight mode, on the host, its rows in the
    /// model's order: as stored (`Native`), or converted once to f16 / bf16 where the file holds
    /// something else.
    pub(crate) fn packed_matrix(
        &self,
        name: &str,
        shape: (usize, usize),
    ) -> Result<QMatrix, WeightError> {
        self.packed_part(name, shape)?
            .in_model_order()
            .map_err(|e| WeightError::Other {
                path: self.src.path().to_path_buf(),
                message: format!("tensor `{name}`: {e}"),
            })
    }

    /// [`Checkpoint::packed_matrix`] with the rows as the file stores them.
    fn packed_part(
        &self,
        name: &str,
        (out, inp): (usize, usize),
    ) -> Result<StoredMatrix, WeightError> {
        let shape = self.src.shape(name).ok_or_else(|| WeightError::Missing {
            path: self.src.path().to_path_buf(),
            tensor: name.to_string(),
            hint: String::new(),
        })?;
        if shape != [out, inp] {
            return Err(WeightError::Shape {
                path: self.src.path().to_path_buf(),
                tensor: name.to_string(),
                expected: vec![out, inp],
                found: shape,
            });
        }
        let stored = match self.packed {
            Some(p) => p.matrix(name)?,
            None => raw_matrix(self.src, name)?.map(|m| StoredMatrix { m, rows: None }),
        };
        let want = self.mode.half_type();
        let m = match (stored, want) {
            (Some(s), None) => s,
            (Some(s), Some(t)) if s.m.ty() == t => s,
            (_, want) => {
                // Read in the model's order (the source undoes any row permutation).
                let t = self.src.read(name)?;
                let m = self.convert(name, want.unwrap_or(WeightType::F32), (out, inp), &t.data)?;
                StoredMatrix { m, rows: None }
            }
        };
        self.used.borrow_mut().insert(name.to_string());
        Ok(m)
    }

    /// f32 values of `name` stored as `ty`.
    fn convert(
        &self,
        name: &str,
        ty: WeightType,
        (rows, cols): (usize, usize),
        data: &[f32],
    ) -> Result<QMatrix, WeightError> {
        QMatrix::from_f32(ty, rows, cols, data).map_err(|e| WeightError::Other {
            path: self.src.path().to_path_buf(),
            message: format!("tensor `{name}`: {e}"),
        })
    }

    /// Row blocks `[rows_i, d]` of several tensors as one projection's weight: f32 tensors fused
    /// and transposed on the device, or packed matrices on the host.
    fn stacked(
        &self,
        parts: &[(String, usize)],
        d: usize,
        device: &Device,
    ) -> Result<Weight, WeightError> {
        if let Some(dtype) = self.dense {
            let ts = parts
                .iter()
                .map(|(n, rows)| self.read(n, &[*rows, d]))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Weight::Dense(Box::new(as_dtype(
                fused_transposed(ts).to_device(device),
                dtype,
            ))));
        }
        let stored = parts
            .iter()
            .map(|(n, rows)| self.packed_part(n, (*rows, d)))
            .collect::<Result<Vec<_>, _>>()?;
        // Parts whose rows the file permutes stay as mapped; the product reorders its outputs.
        let columns = stored.iter().any(|s| s.rows.is_some()).then(|| {
            let mut columns = Vec::new();
            for s in &stored {
                let start = columns.len();
                match &s.rows {
                    Some(rows) => columns.extend(rows.iter().map(|&r| start + r)),
                    None => columns.extend(start..start + s.m.rows()),
                }
            }
            Arc::from(columns)
        });
        Ok(Weight::Packed {
            parts: stored.into_iter().map(|s| s.m).collect(),
            columns,
        })
    }

    /// A `[out, in]` projection, with its bias when `bias`.
    pub(crate) fn linear(
        &self,
        layer: usize,
        module: &str,
        (out, inp): (usize, usize),
        bias: bool,
        device: &Device,
    ) -> Result<Linear, WeightError> {
        let w = self.stacked(
            &[(self.param(Some(layer), module, "weight"), out)],
            inp,
            device,
        )?;
        let b = bias
            .then(|| self.read(&self.param(Some(layer), module, "bias"), &[out]))
            .transpose()?;
        Ok(Linear {
            w,
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
        let w = |m: &str| self.param(Some(i), m, "weight");
        let b = |m: &str, rows: usize| self.read(&self.param(Some(i), m, "bias"), &[rows]);
        let (weight, b) = match self.names.qkv {
            QkvNames::Separate(q, k, v) => {
                let parts = [(w(q), q_out), (w(k), kv_out), (w(v), kv_out)];
                let b = bias
                    .then(|| {
                        Ok::<_, WeightError>(concat(vec![
                            b(q, q_out)?,
                            b(k, kv_out)?,
                            b(v, kv_out)?,
                        ]))
                    })
                    .transpose()?;
                (self.stacked(&parts, d, device)?, b)
            }
            QkvNames::Fused(m) => {
                let rows = q_out + 2 * kv_out;
                (
                    self.stacked(&[(w(m), rows)], d, device)?,
                    bias.then(|| b(m, rows)).transpose()?,
                )
            }
            QkvNames::FusedPerHead(m) => {
                let heads = c.num_attention_heads;
                let rows = 3 * heads * hd;
                // The per-head grouping is undone in f32; packed modes store the result.
                let t = ungroup_heads(self.read(&w(m), &[rows, d])?, heads, hd);
                let weight = match self.dense {
                    Some(dtype) => {
                        Weight::Dense(Box::new(as_dtype(t.transposed().to_device(device), dtype)))
                    }
                    None => {
                        let ty = self.mode.half_type().unwrap_or(WeightType::F32);
                        Weight::packed(self.convert(&w(m), ty, (rows, d), &t.data)?)
                    }
                };
                let b = bias
                    .then(|| b(m, rows).map(|b| ungroup_heads(b, heads, hd)))
                    .transpose()?;
                (weight, b)
            }
        };
        Ok(Linear {
            w: weight,
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
        let w = |m: &str| self.param(Some(i), m, "weight");
        let b = |m: &str, rows: usize| self.read(&self.param(Some(i), m, "bias"), &[rows]);
        let (weight, b) = match self.names.mlp {
            MlpNames::Gated(gate, up) => (
                self.stacked(&[(w(gate), ffn), (w(up), ffn)], d, device)?,
                bias.then(|| Ok::<_, WeightError>(concat(vec![b(gate, ffn)?, b(up, ffn)?])))
                    .transpose()?,
            ),
            MlpNames::GatedFused(m) => (
                self.stacked(&[(w(m), 2 * ffn)], d, device)?,
                bias.then(|| b(m, 2 * ffn)).transpose()?,
            ),
            MlpNames::Plain(m) => (
                self.stacked(&[(w(m), ffn)], d, device)?,
                bias.then(|| b(m, ffn)).transpose()?,
            ),
        };
        Ok(Linear {
            w: weight,
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
