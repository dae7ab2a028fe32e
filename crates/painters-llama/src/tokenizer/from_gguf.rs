//! A [`TextTokenizer`] from a GGUF file's `tokenizer.ggml.*` metadata: the vocabulary kind picks
//! the builder.

use std::path::Path;

use super::error::TokenizerError;
use super::text::TextTokenizer;
use super::{bpe, spm};
use crate::gguf::GgufFile;

impl TextTokenizer {
    /// Builds the tokenizer embedded in an open GGUF file. See the module docs for the mapping.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        build_from_gguf(file)
    }

    /// Opens a GGUF file and builds its embedded tokenizer.
    pub fn from_gguf_path(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        Self::from_gguf(&GgufFile::open(path)?)
    }
}

/// Builds a Hugging Face tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
pub fn hf_tokenizer_from_gguf(file: &GgufFile) -> Result<tokenizers::Tokenizer, TokenizerError> {
    Ok(build_from_gguf(file)?.into_hf())
}

fn build_from_gguf(file: &GgufFile) -> Result<TextTokenizer, TokenizerError> {
    match file.get_str("tokenizer.ggml.model")? {
        "gpt2" => bpe::build(file),
        "llama" => spm::build(file),
        model => Err(TokenizerError::UnsupportedModel {
            path: file.path().into(),
            model: model.into(),
        }),
    }
}
