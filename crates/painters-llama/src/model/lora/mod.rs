//! Adapters on a decoder's projections: LoRA (`y = x·W + (x·A)·B·s`) and full-rank deltas
//! (`y = x·W + x·Δ`), run *beside* a loaded model rather than written into it.
//!
//! The base [`DecoderModel`] is borrowed, never changed: an [`AdaptedModel`] implements
//! [`Transformer`] over the base's blocks and hands the adapters to them through the forward call's
//! [`DecoderContext`], so the base weights stay bit-identical whatever is trained, and a block that a
//! schedule runs twice meets the same adapter twice (weights tied, as the block's own weights are).
//! [`AdaptedModel::untied`] gives every occurrence of a block in a sequential schedule its own copy
//! and adapter instead.
//!
//! Training needs the computation to stay inside burn's autodiff graph: when the adapters are
//! autodiff tensors ([`Module::train`]), every CPU fast path that reads tensors out to host buffers
//! (host SwiGLU, split projections, the head in slices) is off for the call, and a model whose
//! matrices are host-packed ([`WeightMode`](super::WeightMode) other than f32) is refused, since a
//! packed product would cut the graph. Inference adapters run on any weight mode.
//!
//! Shapes follow the model's `x · W` layout: `A: [in, r]`, `B: [r, out]`, `Δ: [in, out]`
//! (PEFT stores `lora_A.weight: [r, in]` and `lora_B.weight: [out, r]`; see [`super::peft`]).

mod active;
mod adapters;
mod error;
mod fingerprint;
mod model;
mod target;

pub(crate) use active::{ActiveAdapters, adapted};
pub use adapters::{AdapterLayout, Adapters, LoraPair, LoraSpec, Site};
pub use error::LoraError;
pub use model::{AdaptedModel, untie_order};
pub use target::LoraTarget;
