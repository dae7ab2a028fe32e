//! # painters-llama
//!
//! Decoder-only language models for the `painters` executor: Llama 2/3 and SmolLM, Mistral,
//! Qwen2/2.5 and Qwen3, Gemma 2 and Gemma 3, Phi-3 and GPT-NeoX (Pythia), as one generic decoder
//! configured by a small description per family ([`family`]). HF safetensors checkpoints and
//! llama.cpp GGUF files load into one model type whose layers implement [`painters::Block`], so any
//! [`painters::LayerSchedule`] runs on them, with per-slot KV caches for incremental decoding. Each
//! layer keeps its own properties (attention window, RoPE base) wherever a schedule places it.
//!
//! Mirrors HF transformers' modeling code in float32; agreement is checked against PyTorch goldens
//! by `painters conformance`.

pub mod config;
mod error;
pub mod export;
pub mod family;
pub mod generate;
pub mod gguf;
mod load;
pub mod model;
pub mod tokenizer;

pub use config::{ConfigError, DecoderConfig, LlamaConfig, RopeScaling, RopeSpec};
pub use error::{DecoderError, LlamaError};
pub use family::Family;
pub use load::{GgufSource, LoadOptions, load_tokenizer};
pub use model::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdaptedModel, AdapterLayout, Adapters, FULL_DELTAS, LoraError,
    LoraPair, LoraSpec, LoraTarget, Site, untie_order,
};
pub use model::{
    DEFAULT_QUERY_CHUNK, DecoderBlock, DecoderContext, DecoderInput, DecoderModel, ExecSettings,
    HEAD_SPLIT_ROWS, LlamaBlock, LlamaContext, LlamaInput, LlamaModel, PROJECTION_SPLIT_MIN_ROWS,
    WeightMode,
};
