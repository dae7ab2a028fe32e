//! [`TextTokenizer`]: a Hugging Face tokenizer and the special-token facts of its checkpoint.

use std::path::Path;

use super::error::TokenizerError;
use super::json_check::{check_special_ids, check_tokenizer_json};
use super::vocab::{GgufVocab, SpecialTokenIds};

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

/// Reads and parses a `tokenizer.json`, first refusing what `tokenizers` would panic on
/// ([`check_tokenizer_json`]), then special tokens outside the vocabulary ([`check_special_ids`]).
fn parse_tokenizer_json(path: &Path) -> Result<tokenizers::Tokenizer, tokenizers::Error> {
    let text = std::fs::read_to_string(path)?;
    check_tokenizer_json(&text)?;
    let tok: tokenizers::Tokenizer = serde_json::from_str(&text)?;
    check_special_ids(&text, &tok)?;
    Ok(tok)
}

impl TextTokenizer {
    /// Wraps a built HF tokenizer with the GGUF's special-token facts.
    pub(super) fn new(hf: tokenizers::Tokenizer, v: &GgufVocab<'_>) -> Self {
        Self {
            hf,
            special: v.special,
            add_bos: v.add_bos,
            add_eos: v.add_eos,
        }
    }

    /// Loads a Hugging Face `tokenizer.json` (for safetensors checkpoints). Special tokens are
    /// whatever that file's post-processor adds; the ids in [`special_tokens`](Self::special_tokens)
    /// stay `None` because `tokenizer.json` does not say which token is BOS or EOS (that lives in
    /// `tokenizer_config.json` / `generation_config.json`); set them with
    /// [`with_special_tokens`](Self::with_special_tokens).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, TokenizerError> {
        let path = path.as_ref();
        let hf = parse_tokenizer_json(path).map_err(|source| TokenizerError::Load {
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
