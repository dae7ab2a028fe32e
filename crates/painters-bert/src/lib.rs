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
//! * [`BertForSequenceClassification`] puts a new classification / regression head on an encoder,
//!   with its training loss; fine-tuning it under a schedule on GLUE tasks is the harness's
//!   (`painters_bench::glue`).

mod classify;
mod config;
mod dropout;
mod embeddings;
mod error;
mod heads;
mod host;
mod input;
mod layer;
mod load;
mod loss;
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
pub use host::to_host;
pub use input::BertInput;
pub use layer::{BertContext, BertLayer, BertSelfAttention};
pub use loss::check_label;
pub use model::BertModel;
pub use save::HfTensors;
pub use sentence::SentenceEncoder;
pub use tokenizer::BertTokenizer;
