//! # painters-bert
//!
//! BERT-family encoders (HF `BertModel`, `BertForMaskedLM`, `BertForSequenceClassification`) as
//! [`painters`] blocks, so that a layer schedule (skip, repeat, reorder, parallel-mean, loop) can
//! run over a pretrained encoder's layers, for inference and for fine-tuning.
//!
//! * [`BertConfig`] reads HF `config.json`; [`BertModel::load`] reads HF safetensors.
//! * [`BertModel`] is a [`painters::Transformer`] whose blocks are [`BertLayer`]s; a layer's output
//!   includes its residual (post-LN), so a parallel step is a plain mean of layer outputs.
//! * [`BertTokenizer`] wraps HF `tokenizers` for single sentences, pairs and padded batches.
//! * [`sentence`] has the sentence-transformers recipe (masked mean pooling, L2 normalisation).
//! * [`finetune`] trains a classification / regression head (and optionally the encoder) under a
//!   schedule with burn's autodiff and AdamW.
//! * [`glue`] reads the seven GLUE tasks of the paper from JSONL and scores predictions with the
//!   GLUE [`metrics`] (accuracy, F1, Matthews, Pearson, Spearman).

mod classify;
mod config;
mod dropout;
mod embeddings;
mod error;
pub mod finetune;
pub mod glue;
mod heads;
mod input;
mod layer;
mod load;
pub mod metrics;
mod model;
mod save;
pub mod sentence;
mod tokenizer;

pub use classify::BertForSequenceClassification;
pub use config::BertConfig;
pub use dropout::DropoutRng;
pub use embeddings::BertEmbeddings;
pub use error::{BertError, ConfigError, InputError};
pub use heads::{BertPooler, MlmHead};
pub use input::BertInput;
pub use layer::{BertContext, BertLayer, BertSelfAttention};
pub use model::BertModel;
pub use save::HfTensors;
pub use sentence::SentenceEncoder;
pub use tokenizer::BertTokenizer;

use burn::tensor::Tensor;

/// A tensor's values as host f32, whatever float dtype the backend computed in.
pub fn to_host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, BertError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| BertError::Readback(format!("{e:?}")))
}
