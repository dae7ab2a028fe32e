//! Text tokenisation for decoder checkpoints.
//!
//! Two sources are supported:
//!
//! * a GGUF file's embedded vocabulary ([`TextTokenizer::from_gguf`]): the `tokenizer.ggml.*`
//!   metadata is turned into a Hugging Face [`tokenizers::Tokenizer`] equivalent to the one
//!   transformers builds from the same GGUF (and to the `tokenizer.json` the GGUF was converted
//!   from), so ids match what HF and llama.cpp produce;
//! * a `tokenizer.json` next to a safetensors checkpoint ([`TextTokenizer::from_file`]).
//!
//! GGUF vocabulary kinds (`tokenizer.ggml.model`), one module each:
//!
//! | `tokenizer.ggml.model` | models | module |
//! |---|---|---|
//! | `gpt2` | byte-level BPE: SmolLM2, Llama 3, GPT-2, StarCoder, … | [`bpe`] |
//! | `llama` | SentencePiece BPE with byte fallback: Llama 1/2, Mistral, TinyLlama, Gemma 1/2/3, Phi-3 | [`spm`] |
//!
//! Any other kind gives [`TokenizerError::UnsupportedModel`] naming the file and the value. What
//! both kinds share (token types, special-token ids, BOS/EOS, whole-token matching) is in
//! [`vocab`]. See `docs/tokenizers.md` for what was checked against which reference.

use std::path::Path;

use crate::gguf::GgufFile;

pub mod bpe;
mod error;
pub mod spm;
#[cfg(test)]
mod tests;
pub mod vocab;

pub use bpe::SUPPORTED_PRE_TOKENIZERS;
pub use error::TokenizerError;
pub use vocab::token_type;

/// The `tokenizer.ggml.model` values this module builds.
pub const SUPPORTED_MODELS: &[&str] = &["gpt2", "llama"];

/// Special-token ids declared by the checkpoint (`None` where it declares none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecialTokenIds {
    /// Beginning of sequence (`tokenizer.ggml.bos_token_id`).
    pub bos: Option<u32>,
    /// End of sequence (`tokenizer.ggml.eos_token_id`); generation stops here.
    pub eos: Option<u32>,
    /// Unknown token (`tokenizer.ggml.unknown_token_id`).
    pub unk: Option<u32>,
    /// Padding (`tokenizer.ggml.padding_token_id`).
    pub pad: Option<u32>,
}

/// A Hugging Face tokenizer plus the special-token facts a generation loop needs.
///
/// [`encode`](Self::encode) adds BOS/EOS exactly when the checkpoint asks for it
/// (`tokenizer.ggml.add_bos_token` / `add_eos_token`, or the `tokenizer.json` post-processor),
/// which is what HF's `tokenizer(text)` does.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    hf: tokenizers::Tokenizer,
    special: SpecialTokenIds,
    add_bos: bool,
    add_eos: bool,
}

impl TextTokenizer {
    /// Wraps a built HF tokenizer with the GGUF's special-token facts.
    fn new(hf: tokenizers::Tokenizer, v: &vocab::GgufVocab<'_>) -> Self {
        Self {
            hf,
            special: v.special,
            add_bos: v.add_bos,
            add_eos: v.add_eos,
        }
    }

    /// Builds the tokenizer embedded in an open GGUF file. See the module docs for the mapping.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, TokenizerError> {
        build_from_gguf(file)
    }

    /// Opens a GGUF file and builds its embedded tokenizer.
    pub fn from_gguf_path(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        Self::from_gguf(&GgufFile::open(path)?)
    }

    /// Loads a Hugging Face `tokenizer.json` (for safetensors checkpoints). Special tokens are
    /// whatever that file's post-processor adds; the ids in [`special_tokens`](Self::special_tokens)
    /// stay `None` because `tokenizer.json` does not say which token is BOS or EOS (that lives in
    /// `tokenizer_config.json` / `generation_config.json`); set them with
    /// [`with_special_tokens`](Self::with_special_tokens).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let path = path.as_ref();
        let hf = tokenizers::Tokenizer::from_file(path).map_err(|source| TokenizerError::Load {
            path: path.into(),
            source,
        })?;
        Ok(Self {
            hf,
            special: SpecialTokenIds::default(),
            add_bos: false,
            add_eos: false,
        })
    }

    /// Replaces the recorded special-token ids (does not change what `encode` adds).
    pub fn with_special_tokens(mut self, special: SpecialTokenIds) -> Self {
        self.special = special;
        self
    }

    /// Encodes text to ids, adding the checkpoint's special tokens (BOS/EOS) if it asks for them.
    /// Special tokens written in the text (e.g. `<|im_start|>`) are recognised as single tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        self.encode_with(text, true)
    }

    /// Encodes text; `add_special_tokens = false` never adds BOS/EOS.
    pub fn encode_with(
        &self,
        text: &str,
        add_special_tokens: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        self.hf
            .encode(text, add_special_tokens)
            .map(|e| e.get_ids().to_vec())
            .map_err(|source| TokenizerError::Encode { source })
    }

    /// Decodes ids back to text, optionally dropping special tokens.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        self.hf
            .decode(ids, skip_special_tokens)
            .map_err(|source| TokenizerError::Decode { source })
    }

    /// The special-token ids.
    pub fn special_tokens(&self) -> SpecialTokenIds {
        self.special
    }

    /// Whether `encode` prepends BOS (GGUF `tokenizer.ggml.add_bos_token`).
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `encode` appends EOS (GGUF `tokenizer.ggml.add_eos_token`).
    pub fn adds_eos(&self) -> bool {
        self.add_eos
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.hf.get_vocab_size(true)
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.hf.token_to_id(token)
    }

    /// The underlying Hugging Face tokenizer.
    pub fn hf(&self) -> &tokenizers::Tokenizer {
        &self.hf
    }

    /// Consumes this wrapper, returning the Hugging Face tokenizer.
    pub fn into_hf(self) -> tokenizers::Tokenizer {
        self.hf
    }
}

/// Builds a Hugging Face tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
pub fn hf_tokenizer_from_gguf(file: &GgufFile) -> Result<tokenizers::Tokenizer, TokenizerError> {
    Ok(build_from_gguf(file)?.hf)
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
