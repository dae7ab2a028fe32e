//! Export: a model and a sequence schedule → a standalone checkpoint whose plain forward is the
//! schedule's forward.
//!
//! A sequence schedule (every step one block; any order, repeats allowed) is a plain stack of
//! layers, so it can be written as an ordinary checkpoint: layer `j` of the export is a copy of
//! the block the schedule runs `j`-th ([`painters::mergekit::plain_stack`] compiles the schedule
//! and names a parallel step, which no checkpoint format can express, in its error).
//!
//! | source → format | what is written |
//! |---|---|
//! | HF folder → HF folder ([`ExportFormat::Hf`]) | `config.json` = the source's, edited: `num_hidden_layers`, per-layer lists (`layer_types`) in the new order; tensors renamed, repeated blocks as real copies, bytes as stored (or converted to `--dtype`); tokenizer files and `generation_config.json` copied |
//! | GGUF → HF folder | `config.json` synthesised from the GGUF's configuration as transformers writes it; tensors dequantised to f32 (or bf16/f16), llama.cpp's Q/K row permutation undone, Gemma's stored `1 + w` norms turned back into `w`; `tokenizer.json` built from the GGUF's vocabulary |
//! | GGUF → GGUF ([`ExportFormat::Gguf`]) | the source's metadata with `{arch}.block_count` updated and `painters.export.*` provenance keys added; tensors renamed `blk.{j}.*`, quantised bytes copied as they are |
//! | HF folder → GGUF | refused: use llama.cpp's `convert_hf_to_gguf.py` on the exported HF folder |
//!
//! Every export is checked before it is moved into place: the written configuration is read back
//! with painters' own loader and each layer's properties (attention window, RoPE table) must be the
//! ones its source block had; where the format cannot say them (Gemma 2/3 GGUF files, whose
//! sliding/global pattern llama.cpp derives from the layer index), the export is refused naming the
//! layer, the block and the property. A README (HF) or metadata keys (GGUF) record the source, its
//! sha256, the schedule and the painters version. Outputs are written into a temporary sibling and
//! renamed into place; an existing non-empty output is refused unless [`ExportOptions::overwrite`].
//!
//! [`compare_export`] runs the source under the schedule and the export under the identity and
//! reports the largest logit difference; [`write_logits_file`] stores painters' logits for
//! `scripts/check-export.py`, which loads an exported folder with transformers.

mod check;
mod error;
mod gguf;
mod gguf_writer;
mod hf;
mod hf_config;
mod logits;
mod options;
mod output;
mod provenance;
mod run;
mod source;
#[cfg(test)]
mod tests;
mod weights;

pub use error::ExportError;
pub use hf::write_tokenizer_files;
pub use logits::{LogitsComparison, compare_export, scheduled_logits, write_logits_file};
pub use options::{
    DEFAULT_MAX_SHARD_BYTES, ExportDtype, ExportFormat, ExportOptions, ExportReport,
    PAINTERS_VERSION,
};
pub use run::{export, export_blocks};
pub use source::read_config;
