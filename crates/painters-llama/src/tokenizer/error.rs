//! Why a tokenizer could not be built or used.

use std::path::PathBuf;

use crate::gguf::GgufError;

use super::kinds::{SUPPORTED_MODELS, SUPPORTED_PRE_TOKENIZERS};

/// Why a tokenizer could not be built or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// Reading the GGUF (or one of its tokenizer keys) failed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// `tokenizer.ggml.model` names a vocabulary type that is not implemented.
    #[error(
        "{}: tokenizer.ggml.model is '{model}', which is not supported (supported: {})",
        .path.display(),
        SUPPORTED_MODELS.join(", ")
    )]
    UnsupportedModel { path: PathBuf, model: String },
    /// `tokenizer.ggml.pre` names a pre-tokenizer that is not mapped.
    #[error(
        "{}: tokenizer.ggml.pre is '{pre}', which is not supported (supported: {})",
        .path.display(),
        SUPPORTED_PRE_TOKENIZERS.join(", ")
    )]
    UnsupportedPreTokenizer { path: PathBuf, pre: String },
    /// A SentencePiece vocabulary names a pre-tokenizer; SentencePiece has none to name.
    #[error(
        "{}: tokenizer.ggml.pre is '{pre}' in a SentencePiece ('llama') vocabulary; only an absent \
         key or 'default' is supported there",
        .path.display()
    )]
    UnsupportedSpmPreTokenizer { path: PathBuf, pre: String },
    /// A merge rule that is not two symbols separated by one space.
    #[error(
        "{}: tokenizer.ggml.merges entry {index} ('{merge}') is not two symbols separated by a space",
        .path.display()
    )]
    InvalidMerge {
        path: PathBuf,
        index: usize,
        merge: String,
    },
    /// A per-token array (`tokenizer.ggml.token_type`, `tokenizer.ggml.scores`) does not have one
    /// entry per token.
    #[error(
        "{}: {key} has {entries} entries for {tokens} tokens",
        .path.display()
    )]
    PerTokenCount {
        path: PathBuf,
        key: &'static str,
        tokens: usize,
        entries: usize,
    },
    /// A SentencePiece score that is not a number (merges are ordered by score).
    #[error(
        "{}: tokenizer.ggml.scores entry {index} (token '{token}') is NaN",
        .path.display()
    )]
    InvalidScore {
        path: PathBuf,
        index: usize,
        token: String,
    },
    /// A SentencePiece vocabulary with neither every byte-fallback token nor an unknown token:
    /// characters outside the vocabulary would be dropped without a trace.
    #[error(
        "{}: the vocabulary lacks the byte-fallback token '{token}' and names no \
         tokenizer.ggml.unknown_token_id, so some text could not be tokenized",
        .path.display()
    )]
    NoByteFallback { path: PathBuf, token: String },
    /// A special-token id key pointing outside the vocabulary.
    #[error(
        "{}: {key} is {id}, outside the vocabulary of {vocab_size} tokens",
        .path.display()
    )]
    SpecialTokenOutOfRange {
        path: PathBuf,
        key: &'static str,
        id: u32,
        vocab_size: usize,
    },
    /// The `tokenizers` library refused the assembled tokenizer (e.g. a merge of unknown tokens).
    #[error("{}: cannot build the tokenizer: {source}", .path.display())]
    Build {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },
    /// A `tokenizer.json` could not be loaded.
    #[error("{}: cannot load tokenizer.json: {source}", .path.display())]
    Load {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },
    /// Encoding text failed.
    #[error("cannot encode text: {source}")]
    Encode {
        #[source]
        source: tokenizers::Error,
    },
    /// Decoding ids failed.
    #[error("cannot decode token ids: {source}")]
    Decode {
        #[source]
        source: tokenizers::Error,
    },
}
