//! WordPiece tokenization through HF `tokenizers`, from a model's `tokenizer.json`.
//!
//! The file's own post-processor adds `[CLS] a [SEP]` / `[CLS] a [SEP] b [SEP]` with token types,
//! so this module only decides truncation and padding. `tokenizer.json` files often carry fixed
//! padding (all-MiniLM-L6-v2 pads everything to 128); that is replaced by padding to the longest
//! sequence of each batch, which gives the same embeddings for less compute because pad keys are
//! masked.

use std::path::{Path, PathBuf};

use tokenizers::utils::padding::{PaddingDirection, PaddingParams, PaddingStrategy};
use tokenizers::utils::truncation::{TruncationDirection, TruncationParams, TruncationStrategy};
use tokenizers::{EncodeInput, Encoding, Tokenizer};

use crate::config::BertConfig;
use crate::error::BertError;
use crate::input::BertInput;

/// A BERT tokenizer with truncation to a maximum length and per-batch padding.
#[derive(Clone, Debug)]
pub struct BertTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    max_length: usize,
    /// The model's `max_position_embeddings`, when the tokenizer was made for a model.
    position_limit: Option<usize>,
    pad_id: u32,
}

/// Reads and parses a `tokenizer.json`. `tokenizers` 0.23 panics (`expect("Helper")` in its decoder
/// deserializer) on a JSON syntax error inside the `decoder` object, so the text is first checked
/// to be JSON (without building anything) and only then handed to `tokenizers`.
fn parse_tokenizer_json(path: &Path) -> Result<Tokenizer, tokenizers::Error> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
    Ok(serde_json::from_str(&text)?)
}

impl BertTokenizer {
    /// Read `tokenizer.json` (or the one inside a model directory). The maximum length is the
    /// file's own truncation length, else 512 (BERT's usual position table).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BertError> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("tokenizer.json");
        }
        let inner = parse_tokenizer_json(&path).map_err(|e| BertError::Tokenizer {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let max_length = inner.get_truncation().map_or(512, |t| t.max_length);
        let mut t = BertTokenizer {
            inner,
            path,
            max_length,
            position_limit: None,
            pad_id: 0,
        };
        t.configure()?;
        Ok(t)
    }

    /// [`from_file`](Self::from_file), checked against the model that will consume the ids: the
    /// tokenizer may not produce ids past the model's vocabulary, and sequences are truncated to
    /// fit its position table.
    ///
    /// A tokenizer *smaller* than the model's vocabulary is accepted: checkpoints sometimes pad the
    /// embedding matrix, and every id the tokenizer emits is still valid.
    pub fn for_model(path: impl AsRef<Path>, config: &BertConfig) -> Result<Self, BertError> {
        let mut t = Self::from_file(path)?;
        let n = t.vocab_size();
        if n > config.vocab_size {
            return Err(BertError::VocabMismatch {
                path: t.path.clone(),
                tokenizer: n,
                model: config.vocab_size,
            });
        }
        t.position_limit = Some(config.max_position_embeddings);
        t.max_length = t.max_length.min(config.max_position_embeddings);
        t.configure()?;
        Ok(t)
    }

    /// Truncate to `max_length` tokens (special tokens included) instead.
    pub fn with_max_length(mut self, max_length: usize) -> Result<Self, BertError> {
        if let Some(limit) = self.position_limit
            && max_length > limit
        {
            return Err(BertError::Tokenizer {
                path: self.path,
                message: format!(
                    "max length {max_length} exceeds the model's max_position_embeddings = {limit}"
                ),
            });
        }
        self.max_length = max_length;
        self.configure()?;
        Ok(self)
    }

    fn configure(&mut self) -> Result<(), BertError> {
        let pad_id = self
            .inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| self.inner.token_to_id("[PAD]"))
            .unwrap_or(0);
        let pad_token = self
            .inner
            .id_to_token(pad_id)
            .unwrap_or_else(|| "[PAD]".into());
        self.inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        let truncation = TruncationParams {
            direction: TruncationDirection::Right,
            max_length: self.max_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        };
        if let Err(e) = self.inner.with_truncation(Some(truncation)) {
            return Err(self.error(e));
        }
        Ok(())
    }

    fn error(&self, e: tokenizers::Error) -> BertError {
        BertError::Tokenizer {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Vocabulary size including added tokens: the number of distinct ids it can produce.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
    /// The id that pads short rows of a batch.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }
    pub fn max_length(&self) -> usize {
        self.max_length
    }
    /// The underlying HF tokenizer (as configured here).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// The token strings of one text, special tokens included.
    pub fn tokens(&self, text: &str) -> Result<Vec<String>, BertError> {
        let e = self.inner.encode(text, true).map_err(|e| self.error(e))?;
        Ok(e.get_tokens().to_vec())
    }

    /// One sentence: `[CLS] text [SEP]`, as a batch of one.
    pub fn encode(&self, text: &str) -> Result<BertInput, BertError> {
        self.encode_batch(&[text])
    }

    /// One pair: `[CLS] a [SEP] b [SEP]`, token type 1 on `b [SEP]`.
    pub fn encode_pair(&self, a: &str, b: &str) -> Result<BertInput, BertError> {
        self.encode_pair_batch(&[(a, b)])
    }

    /// Several sentences, right-padded to the longest, with the attention mask marking real tokens.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<BertInput, BertError> {
        self.batch(
            texts
                .iter()
                .map(|&t| EncodeInput::Single(t.into()))
                .collect(),
        )
    }

    /// Several pairs, right-padded to the longest.
    pub fn encode_pair_batch(&self, pairs: &[(&str, &str)]) -> Result<BertInput, BertError> {
        self.batch(
            pairs
                .iter()
                .map(|&(a, b)| EncodeInput::Dual(a.into(), b.into()))
                .collect(),
        )
    }

    fn batch(&self, inputs: Vec<EncodeInput>) -> Result<BertInput, BertError> {
        let encodings = self
            .inner
            .encode_batch(inputs, true)
            .map_err(|e| self.error(e))?;
        let seq = encodings.first().map_or(0, Encoding::len);
        let flat = |f: fn(&Encoding) -> &[u32]| -> Vec<i64> {
            encodings
                .iter()
                .flat_map(|e| f(e).iter().map(|&x| x as i64))
                .collect()
        };
        Ok(BertInput::new(
            encodings.len(),
            seq,
            flat(Encoding::get_ids),
            Some(flat(Encoding::get_type_ids)),
            Some(flat(Encoding::get_attention_mask)),
        )?)
    }
}
