//! Sentence embeddings, the sentence-transformers recipe of all-MiniLM-L6-v2: encoder → mean over
//! real tokens → L2 normalisation. Under a layer schedule the encoder runs the schedule, so the
//! same API measures how a schedule moves embeddings.

use std::path::Path;

use burn::tensor::{Device, Tensor};
use painters::{LayerSchedule, Plan};

use crate::error::BertError;
use crate::input::BertInput;
use crate::model::BertModel;
use crate::tokenizer::BertTokenizer;

/// Mean of `hidden` over the positions where `mask` is 1.
///
/// The divisor is clamped at 1e-9 as in sentence-transformers, so an all-pad row gives zeros
/// rather than NaN.
///
/// # Shapes
/// - `hidden`: `[batch, seq, hidden]`, `mask`: `[batch, seq]` → `[batch, hidden]`
pub fn mean_pool(hidden: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [b, _, d] = hidden.dims();
    let m = mask.unsqueeze_dim::<3>(2);
    let sum = (hidden * m.clone()).sum_dim(1).reshape([b, d]);
    let count = m.sum_dim(1).reshape([b, 1]).clamp_min(1e-9);
    sum / count
}

/// Each row divided by its L2 norm (clamped at 1e-12, as `torch.nn.functional.normalize`).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Cosine similarity of two vectors (their dot product when both are normalised).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(f32::MIN_POSITIVE)
}

/// A sentence-embedding model: tokenizer + encoder + schedule.
pub struct SentenceEncoder {
    model: BertModel,
    tokenizer: BertTokenizer,
    plan: Plan,
}

impl SentenceEncoder {
    /// Load a sentence-transformers model directory (`config.json`, `model.safetensors`,
    /// `tokenizer.json`) with the identity schedule.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self, BertError> {
        let dir = dir.as_ref();
        let model = BertModel::load(dir, device)?;
        let tokenizer = BertTokenizer::for_model(dir.join("tokenizer.json"), model.config())?;
        Self::new(model, tokenizer)
    }

    pub fn new(model: BertModel, tokenizer: BertTokenizer) -> Result<Self, BertError> {
        let plan = model.plan(&LayerSchedule::full(model.layers.len()))?;
        Ok(SentenceEncoder {
            model,
            tokenizer,
            plan,
        })
    }

    /// Run `schedule` instead of the identity.
    pub fn with_schedule(mut self, schedule: &LayerSchedule) -> Result<Self, BertError> {
        self.plan = self.model.plan(schedule)?;
        Ok(self)
    }

    pub fn model(&self) -> &BertModel {
        &self.model
    }
    pub fn tokenizer(&self) -> &BertTokenizer {
        &self.tokenizer
    }
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Mean-pooled embeddings of a tokenized batch, before normalisation, `[batch, hidden]`.
    pub fn mean_pooled(&self, input: &BertInput) -> Result<Tensor<2>, BertError> {
        let h = self.model.encode(&self.plan, input, &mut ())?;
        Ok(mean_pool(h, input.mask_tensor(&self.model.device())))
    }

    /// L2-normalised embeddings of a tokenized batch, `[batch, hidden]`.
    pub fn embed_input(&self, input: &BertInput) -> Result<Tensor<2>, BertError> {
        Ok(l2_normalize(self.mean_pooled(input)?))
    }

    /// L2-normalised embeddings of `texts`, encoded as one padded batch; one vector per text.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BertError> {
        let input = self.tokenizer.encode_batch(texts)?;
        let e = self.embed_input(&input)?;
        let [_, d] = e.dims();
        let data = crate::host::to_host(e)?;
        Ok(data.chunks(d).map(<[f32]>::to_vec).collect())
    }
}
