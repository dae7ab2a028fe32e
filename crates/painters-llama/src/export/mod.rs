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

mod error;
mod gguf;
mod gguf_writer;
mod hf;
mod hf_config;
mod logits;
mod output;
#[cfg(test)]
mod tests;
mod weights;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use painters::LayerSchedule;
use painters::mergekit::plain_stack;

pub use error::ExportError;
pub use logits::{LogitsComparison, compare_export, scheduled_logits, write_logits_file};

use crate::config::DecoderConfig;
use crate::load::{GgufSource, is_gguf};

/// Safetensors shards are cut at this size by default (HF's default `max_shard_size` is 5 GB;
/// smaller shards bound the memory a converting export holds at once).
pub const DEFAULT_MAX_SHARD_BYTES: u64 = 2 << 30;

/// The checkpoint format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// A Hugging Face folder: `config.json`, safetensors, tokenizer, `generation_config.json`, README.
    Hf,
    /// One llama.cpp GGUF file (from a GGUF source only).
    Gguf,
}

impl ExportFormat {
    /// GGUF when `out` ends in `.gguf`, an HF folder otherwise.
    pub fn infer(out: &Path) -> Self {
        if is_gguf(out) {
            ExportFormat::Gguf
        } else {
            ExportFormat::Hf
        }
    }
}

impl FromStr for ExportFormat {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, ExportError> {
        match s {
            "hf" => Ok(ExportFormat::Hf),
            "gguf" => Ok(ExportFormat::Gguf),
            other => Err(ExportError::Options(format!(
                "format {other:?} is not known (hf, gguf)"
            ))),
        }
    }
}

/// The floating-point type of an HF export's weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportDtype {
    F32,
    Bf16,
    F16,
}

impl ExportDtype {
    /// The name transformers uses in `config.json` (`dtype`).
    pub fn torch_name(self) -> &'static str {
        match self {
            ExportDtype::F32 => "float32",
            ExportDtype::Bf16 => "bfloat16",
            ExportDtype::F16 => "float16",
        }
    }
}

impl FromStr for ExportDtype {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, ExportError> {
        match s {
            "f32" | "float32" => Ok(ExportDtype::F32),
            "bf16" | "bfloat16" => Ok(ExportDtype::Bf16),
            "f16" | "float16" => Ok(ExportDtype::F16),
            other => Err(ExportError::Options(format!(
                "dtype {other:?} is not known (f32, bf16, f16)"
            ))),
        }
    }
}

/// How to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// HF exports only: the weights' type. None keeps an HF source's stored types byte for byte
    /// and dequantises a GGUF source to f32.
    pub dtype: Option<ExportDtype>,
    /// Replace an existing non-empty output.
    pub overwrite: bool,
    /// HF exports: the largest safetensors shard, in bytes.
    pub max_shard_bytes: u64,
    /// HF exports: write no tokenizer files (for a GGUF whose tokenizer painters cannot convert).
    pub skip_tokenizer: bool,
}

impl ExportOptions {
    pub fn new(format: ExportFormat) -> Self {
        ExportOptions {
            format,
            dtype: None,
            overwrite: false,
            max_shard_bytes: DEFAULT_MAX_SHARD_BYTES,
            skip_tokenizer: false,
        }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportReport {
    /// The output: a folder (HF) or a file (GGUF).
    pub out: PathBuf,
    pub format: ExportFormat,
    /// For each layer of the export, the source block it copies.
    pub blocks: Vec<usize>,
    /// Tensors written.
    pub tensors: usize,
    /// Bytes of tensor data written.
    pub tensor_bytes: u64,
    /// The source files and their sha256, as recorded in the export.
    pub source_sha256: Vec<(String, String)>,
}

/// What the export records about where it came from.
pub(crate) struct Provenance {
    pub source: PathBuf,
    pub files: Vec<(String, String)>,
    pub schedule: String,
    pub blocks: Vec<usize>,
}

impl Provenance {
    fn new(
        source: &Path,
        files: &[PathBuf],
        schedule: &LayerSchedule,
        blocks: &[usize],
    ) -> Result<Self, ExportError> {
        let files = files
            .iter()
            .map(|f| {
                let name = f.file_name().map_or_else(
                    || f.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                Ok((name, output::sha256_file(f)?))
            })
            .collect::<Result<_, ExportError>>()?;
        Ok(Provenance {
            source: source.to_path_buf(),
            files,
            schedule: schedule.to_string(),
            blocks: blocks.to_vec(),
        })
    }
}

/// The painters version an export records.
pub const PAINTERS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The source: an HF folder or a GGUF file.
pub(crate) enum Source {
    Hf(Box<hf::HfSource>),
    Gguf(Box<GgufSource>),
}

impl Source {
    fn open(path: &Path) -> Result<Self, ExportError> {
        if is_gguf(path) {
            Ok(Source::Gguf(Box::new(GgufSource::open(path)?)))
        } else {
            Ok(Source::Hf(Box::new(hf::HfSource::open(path)?)))
        }
    }
}

/// The configuration of `model` (an HF folder or a `.gguf` file), read without loading weights:
/// for commands that need the layer count (validating a mergekit recipe, showing an export's layer
/// map) before or instead of exporting.
pub fn read_config(model: &Path) -> Result<DecoderConfig, ExportError> {
    match Source::open(model)? {
        Source::Hf(h) => Ok(h.config),
        Source::Gguf(g) => Ok(g.config()?),
    }
}

/// The blocks an export of `schedule` would stack, for a model of `num_blocks` blocks: the same
/// check [`export`] makes before writing anything.
pub fn export_blocks(
    schedule: &LayerSchedule,
    num_blocks: usize,
) -> Result<Vec<usize>, ExportError> {
    Ok(plain_stack(schedule, num_blocks)?)
}

/// Export `model` (an HF folder or a `.gguf` file) under the sequence schedule `schedule` to `out`
/// (a folder for [`ExportFormat::Hf`], a `.gguf` file for [`ExportFormat::Gguf`]). See the
/// [module docs](self).
pub fn export(
    model: &Path,
    schedule: &LayerSchedule,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let source = Source::open(model)?;
    let config = match &source {
        Source::Hf(h) => h.config.clone(),
        Source::Gguf(g) => g.config()?,
    };
    let blocks = plain_stack(schedule, config.num_hidden_layers)?;
    match (options.format, source) {
        (ExportFormat::Gguf, Source::Hf(_)) => Err(ExportError::Unsupported {
            what: "a GGUF export of an HF checkpoint".into(),
            format: "painters".into(),
            detail: "painters copies GGUF tensors as they are and does not quantise; export an HF folder, then run llama.cpp's convert_hf_to_gguf.py on it".into(),
        }),
        (ExportFormat::Gguf, Source::Gguf(src)) => {
            if options.dtype.is_some() {
                return Err(ExportError::Options(
                    "a GGUF export copies the source's tensors as stored (quant types kept); --dtype applies to HF exports".into(),
                ));
            }
            if !is_gguf(out) {
                return Err(ExportError::Options(format!(
                    "{}: a GGUF export is one file whose name ends in .gguf",
                    out.display()
                )));
            }
            let prov = Provenance::new(model, &[model.to_path_buf()], schedule, &blocks)?;
            gguf::export(&src, &config, &prov, out, options)
        }
        (ExportFormat::Hf, source) => {
            if is_gguf(out) {
                return Err(ExportError::Options(format!(
                    "{}: an HF export is a folder; a name ending in .gguf asks for --format gguf",
                    out.display()
                )));
            }
            let files = match &source {
                Source::Hf(h) => h.provenance_files(),
                Source::Gguf(_) => vec![model.to_path_buf()],
            };
            let prov = Provenance::new(model, &files, schedule, &blocks)?;
            hf::export(&source, &config, &prov, out, options)
        }
    }
}

/// Checks that `got` (the written configuration, read back by painters' loader) gives every layer
/// the window and RoPE table of its source block, and agrees with the source everywhere else.
pub(crate) fn check_config(
    source: &DecoderConfig,
    blocks: &[usize],
    got: &DecoderConfig,
    format: &str,
) -> Result<(), ExportError> {
    if got.layers.len() != blocks.len() {
        return Err(ExportError::Unsupported {
            what: format!("a model of {} layers", blocks.len()),
            format: format.into(),
            detail: format!("it reads back as {} layers", got.layers.len()),
        });
    }
    for (j, (&b, layer)) in blocks.iter().zip(&got.layers).enumerate() {
        let want = &source.layers[b];
        let window = |w: Option<usize>| {
            w.map_or_else(
                || "global (full attention)".to_string(),
                |w| format!("sliding window {w}"),
            )
        };
        if layer.window != want.window {
            return Err(ExportError::Inexpressible {
                layer: j,
                block: b,
                property: "attention type",
                format: format.into(),
                detail: format!(
                    "block {b} is {}, but the format makes layer {j} {}",
                    window(want.window),
                    window(layer.window)
                ),
            });
        }
        let (want_rope, got_rope) = (&source.ropes[want.rope], got.ropes.get(layer.rope));
        if got_rope != Some(want_rope) {
            return Err(ExportError::Inexpressible {
                layer: j,
                block: b,
                property: "RoPE table",
                format: format.into(),
                detail: format!(
                    "block {b} uses base {} ({:?}, {} rotated dims), the format gives layer {j} {}",
                    want_rope.theta,
                    want_rope.scaling,
                    want_rope.rotary_dims,
                    got_rope.map_or("none".to_string(), |r| format!(
                        "base {} ({:?}, {} rotated dims)",
                        r.theta, r.scaling, r.rotary_dims
                    ))
                ),
            });
        }
    }
    let fields: [(&str, String, String); 12] = [
        (
            "family",
            format!("{}", source.family),
            format!("{}", got.family),
        ),
        (
            "vocab_size",
            source.vocab_size.to_string(),
            got.vocab_size.to_string(),
        ),
        (
            "hidden_size",
            source.hidden_size.to_string(),
            got.hidden_size.to_string(),
        ),
        (
            "intermediate_size",
            source.intermediate_size.to_string(),
            got.intermediate_size.to_string(),
        ),
        (
            "num_attention_heads",
            source.num_attention_heads.to_string(),
            got.num_attention_heads.to_string(),
        ),
        (
            "num_key_value_heads",
            source.num_key_value_heads.to_string(),
            got.num_key_value_heads.to_string(),
        ),
        (
            "head_dim",
            source.head_dim.to_string(),
            got.head_dim.to_string(),
        ),
        (
            "block structure",
            format!("{:?}", source.arch),
            format!("{:?}", got.arch),
        ),
        (
            "max_position_embeddings",
            source.max_position_embeddings.to_string(),
            got.max_position_embeddings.to_string(),
        ),
        (
            "tie_word_embeddings",
            source.tie_word_embeddings.to_string(),
            got.tie_word_embeddings.to_string(),
        ),
        (
            "bos_token_id",
            format!("{:?}", source.bos_token_id),
            format!("{:?}", got.bos_token_id),
        ),
        (
            "eos_token_id",
            format!("{:?}", source.eos_token_ids),
            format!("{:?}", got.eos_token_ids),
        ),
    ];
    if let Some((what, want, have)) = fields.into_iter().find(|(_, a, b)| a != b) {
        return Err(ExportError::Unsupported {
            what: format!("the source's {what}"),
            format: format.into(),
            detail: format!(
                "the source has {want}, the written configuration reads back as {have}"
            ),
        });
    }
    Ok(())
}
