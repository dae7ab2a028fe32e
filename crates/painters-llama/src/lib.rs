//! # painters-llama
//!
//! Llama-architecture models (Llama 2/3, SmolLM, Mistral-style GQA) for the `painters` executor:
//! HF safetensors checkpoints and llama.cpp GGUF files load into one model type whose decoder layers
//! implement [`painters::Block`], so any [`painters::LayerSchedule`] runs on them, with per-slot KV
//! caches for incremental decoding.
//!
//! Mirrors HF transformers' `modeling_llama.py`; agreement with it is checked against PyTorch goldens
//! by `painters conformance`.

pub mod config;
pub mod generate;
pub mod gguf;
mod load;
pub mod model;
pub mod tokenizer;

pub use config::{ConfigError, LlamaConfig, RopeScaling};
pub use load::{GgufSource, load_tokenizer};
pub use model::{
    DEFAULT_QUERY_CHUNK, HEAD_SPLIT_ROWS, LlamaBlock, LlamaContext, LlamaError, LlamaInput,
    LlamaModel, PROJECTION_SPLIT_MIN_ROWS,
};
