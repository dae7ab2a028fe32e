//! The model as the evaluation harness sees it: token-level scoring and greedy generation.
//!
//! Tasks never touch a model directly. They issue lm-eval's three request types (see
//! [`crate::requests`]), which reduce to two primitives here: score continuation tokens after a
//! context ([`LanguageModel::score_batch`], [`LanguageModel::score_shared`]) and generate greedily
//! ([`LanguageModel::generate`]). Keeping the trait this small is what lets another architecture, or a
//! sweep that reuses a prefix of the plan, plug in without touching tasks or metrics.

mod llama;
mod model;

pub use llama::{BatchPass, HEAD_CHUNK_BYTES, LlamaLm, SharedPass};
pub use model::{
    ByteTokenizer, LanguageModel, LmError, Scored, TextEncoding, TokenRequest, Tokenize,
    common_prefix,
};
