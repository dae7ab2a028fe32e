//! Checking an export: the source's logits under the schedule against the export's plain logits,
//! and a small logits file that `scripts/check-export.py` compares with transformers.
//!
//! # Logits file (safetensors)
//!
//! | tensor | dtype | shape |
//! |---|---|---|
//! | `input_ids` | I64 | `[batch, seq]` |
//! | `logits` | F32 | `[batch, seq, vocab]` |
//!
//! Metadata (strings): `schedule` (text notation), `source` (the model painters ran), and any extra
//! entries the writer was given (e.g. `text`, the string the ids encode, to check a tokenizer).

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan};
use safetensors::tensor::{Dtype, TensorView};

use super::ExportError;
use crate::{DecoderError, DecoderInput, DecoderModel};

/// Logits `[batch, seq, vocab]` of `model` under `schedule` for equal-length rows of ids.
///
/// # Shapes
/// `ids`: `batch` rows of `seq` ids; returns the shape `[batch, seq, vocab]` and the values in
/// row-major order.
pub fn scheduled_logits(
    model: &DecoderModel,
    schedule: &LayerSchedule,
    ids: &[Vec<u32>],
) -> Result<(Vec<usize>, Vec<f32>), ExportError> {
    let plan =
        Plan::compile(schedule, model.num_blocks(), KvMode::Exact).map_err(DecoderError::from)?;
    let input = DecoderInput::new(ids)?;
    let logits = model.forward(&plan, &input, None, &mut ())?;
    let shape = logits.dims().to_vec();
    let values = logits
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| DecoderError::Input(format!("cannot read the logits back: {e:?}")))?;
    Ok((shape, values))
}

/// How far an export's plain logits are from the source's scheduled logits.
#[derive(Clone, Debug, PartialEq)]
pub struct LogitsComparison {
    /// `[batch, seq, vocab]`.
    pub shape: Vec<usize>,
    /// The largest `|export − source|` over every logit.
    pub max_abs_diff: f32,
    /// The largest `|source|`, for scale.
    pub max_abs: f32,
}

/// Loads `source` and `exported` on `device`, runs the source under `schedule` and the export
/// under its identity schedule on `ids`, and compares the logits.
pub fn compare_export(
    source: &Path,
    schedule: &LayerSchedule,
    exported: &Path,
    ids: &[Vec<u32>],
    device: &Device,
) -> Result<LogitsComparison, ExportError> {
    let src = DecoderModel::load(source, device)?;
    let (shape, want) = scheduled_logits(&src, schedule, ids)?;
    drop(src);
    let exp = DecoderModel::load(exported, device)?;
    let (got_shape, got) = scheduled_logits(&exp, &LayerSchedule::full(exp.num_blocks()), ids)?;
    if got_shape != shape {
        return Err(DecoderError::Input(format!(
            "the export's logits have shape {got_shape:?}, the source's {shape:?}"
        ))
        .into());
    }
    let max_abs_diff = want
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let max_abs = want.iter().map(|a| a.abs()).fold(0.0, f32::max);
    Ok(LogitsComparison {
        shape,
        max_abs_diff,
        max_abs,
    })
}

/// Writes a logits file (see the module docs) for `ids` and `logits` of shape `shape`.
pub fn write_logits_file(
    path: &Path,
    ids: &[Vec<u32>],
    shape: &[usize],
    logits: &[f32],
    metadata: &[(&str, &str)],
) -> Result<(), ExportError> {
    let seq = ids.first().map_or(0, Vec::len);
    let id_bytes: Vec<u8> = ids
        .iter()
        .flatten()
        .flat_map(|&i| i64::from(i).to_le_bytes())
        .collect();
    let logit_bytes: Vec<u8> = logits.iter().flat_map(|x| x.to_le_bytes()).collect();
    let bad = |e: safetensors::SafeTensorError| ExportError::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let views = vec![
        (
            "input_ids",
            TensorView::new(Dtype::I64, vec![ids.len(), seq], &id_bytes).map_err(bad)?,
        ),
        (
            "logits",
            TensorView::new(Dtype::F32, shape.to_vec(), &logit_bytes).map_err(bad)?,
        ),
    ];
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    safetensors::serialize_to_file(views, Some(meta), path).map_err(bad)
}
