//! The generic decoder: embeddings, [`DecoderBlock`]s and a head, configured by a family
//! description ([`crate::family`]). Every family computes as HF transformers (5.x) computes it in
//! float32; agreement is checked against PyTorch goldens.
//!
//! Projections are fused at load time (Q/K/V into one `[d, (h + 2·kv)·hd]` matrix, gate/up into one
//! `[d, 2·ffn]`) and stored transposed, so that every projection is one `x · W` without a transpose
//! per call. On CPU devices a fused projection of enough rows runs as its two column parts on two
//! threads at once ([`ExecSettings::projection_split`]).
//!
//! A parallel step whose branches are single plain Llama blocks runs as one batched computation over
//! the members' stacked weights (the `batched` module; cached on the model, built on first use).

mod apply;
mod attention;
mod batched;
mod block;
mod context;
mod input;
pub(crate) mod linear;
mod lora;
pub(crate) mod norm;
mod peft;
mod settings;
pub(crate) mod stacked;
mod swiglu;
pub(crate) mod weight;

mod decoder;

pub(crate) use attention::ScoreOptions;
pub(crate) use block::BlockSpec;
pub use block::{DecoderBlock, LlamaBlock};
pub use context::{DecoderContext, LlamaContext};
pub(crate) use decoder::Table;
pub use decoder::{DecoderModel, LlamaModel};
pub use input::{DecoderInput, LlamaInput};
pub use lora::{
    AdaptedModel, AdapterLayout, Adapters, LoraError, LoraPair, LoraSpec, LoraTarget, Site,
    untie_order,
};
pub use peft::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, FULL_DELTAS};
pub use settings::{DEFAULT_QUERY_CHUNK, ExecSettings, HEAD_SPLIT_ROWS, PROJECTION_SPLIT_MIN_ROWS};
pub use weight::WeightMode;

pub use crate::error::{DecoderError, LlamaError};
