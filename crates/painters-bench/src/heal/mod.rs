//! Healing a painted model: LoRA adapters (or full-rank deltas on chosen blocks) fine-tuned while
//! the model runs under its schedule, on text disjoint from the text it is evaluated on.
//!
//! * [`data`]: WikiText-2's articles split in two halves (train / evaluate), token windows;
//! * [`train`]: the training loop ([`heal`]: AdamW, warmup, clipping, seeded), the objectives
//!   (next-token loss, distillation from the unmodified model) and the held-out loss.
//!
//! The adapters themselves, their PEFT layout and the adapted forward pass are the model crate's
//! (`painters_llama::{Adapters, AdaptedModel}`); `painters heal` ([`crate::jobs::HealRun`]) writes
//! the curve, its plot and the adapters.

pub mod data;
pub mod train;

pub use data::{TextSplit, spread, token_stream, wikitext_halves, windows};
/// The adapter types a healing run is configured with (from the model crate).
pub use painters_llama::{LoraError, LoraSpec, LoraTarget};
pub use train::{
    EvalPoint, HealConfig, HealError, HealEvent, HealReport, Objective, StepLog, adapted,
    distill_loss, heal, mean_nll, next_token_loss, training_plan, window_batch,
};
