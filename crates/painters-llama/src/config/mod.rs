//! The runtime configuration of a decoder: sizes, the structural features its family switches on,
//! and per-layer properties (attention window, RoPE table).
//!
//! It is read from HF `config.json` ([`DecoderConfig::from_hf_file`], dispatching on `model_type`
//! through [`crate::family`]) or from GGUF metadata (`crate::load`). Values we do not implement are
//! errors naming the field: a silent default would give wrong numbers that look plausible.

mod decoder;
mod error;
pub(crate) mod hf;
mod rope;

pub use decoder::{
    Activation, Architecture, DecoderConfig, LayerSpec, LlamaConfig, NormKind, Residual,
};
pub use error::ConfigError;
pub use rope::{RopeScaling, RopeSpec};

#[cfg(test)]
mod tests;
