//! What an export is asked to write, and what it reports.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::ExportError;
use crate::load::is_gguf;

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

/// The painters version an export records.
pub const PAINTERS_VERSION: &str = env!("CARGO_PKG_VERSION");
