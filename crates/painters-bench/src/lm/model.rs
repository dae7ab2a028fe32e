//! The model interface of the harness ([`LanguageModel`]), its request and score types, and
//! tokenizers ([`Tokenize`]).

use painters::ExecError;
use painters_llama::tokenizer::{TextTokenizer, TokenizerError};
use painters_llama::{Family, LlamaError};

/// Why a request could not be scored or generated.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error(transparent)]
    Llama(#[from] LlamaError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(
        "the continuation is {len} tokens but the model's window is {max}; lm-eval refuses such requests too"
    )]
    ContinuationTooLong { len: usize, max: usize },
    #[error("a scoring request has an empty context; put the prefix token there (lm-eval does)")]
    EmptyContext,
    #[error("reading results back from the device: {0}")]
    ReadBack(String),
}

/// One scoring request in tokens: the model reads `context ++ continuation` minus its last token and is
/// scored on the positions that predict `continuation`. `context` must not be empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub context: Vec<u32>,
    pub continuation: Vec<u32>,
}

impl TokenRequest {
    /// What the model reads: every token but the last.
    pub fn input(&self) -> Vec<u32> {
        let mut v = self.context.clone();
        v.extend_from_slice(&self.continuation);
        v.pop();
        v
    }
    /// Length of [`Self::input`].
    pub fn input_len(&self) -> usize {
        (self.context.len() + self.continuation.len()).saturating_sub(1)
    }
}

/// The score of one continuation: the sum of its tokens' log-probabilities, and whether greedy
/// decoding would have produced exactly it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub logprob: f64,
    pub greedy: bool,
}

/// Text ↔ tokens as lm-eval's HF model does it: [`Tokenize::encode`] adds no special tokens,
/// [`Tokenize::encode_special`] adds those the tokenizer adds by default (HF's
/// `add_special_tokens=True`), and decoding drops special tokens.
pub trait Tokenize: Sync {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError>;
    /// `text` with the special tokens the tokenizer adds by default (BOS for Gemma). Tokenizers
    /// that add none encode as [`Tokenize::encode`].
    fn encode_special(&self, text: &str) -> Result<Vec<u32>, LmError> {
        self.encode(text)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError>;
    /// BOS, else EOS: what lm-eval prepends to the first rolling window (`prefix_token_id`).
    fn prefix_token(&self) -> Option<u32>;
}

impl Tokenize for TextTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        Ok(self.encode_with(text, false)?)
    }
    fn encode_special(&self, text: &str) -> Result<Vec<u32>, LmError> {
        Ok(TextTokenizer::encode(self, text)?)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        Ok(TextTokenizer::decode(self, ids, true)?)
    }
    fn prefix_token(&self) -> Option<u32> {
        let s = self.special_tokens();
        s.bos.or(s.eos)
    }
}

/// How lm-eval's HF model (`HFLM.tok_encode`) encodes the text of a request for a model family:
/// contexts, whole texts of rolling log-likelihoods and generation prompts alike.
///
/// lm-eval passes `add_special_tokens=False` to the tokenizer, except for Gemma models: its
/// `HFLM.__init__` sets `add_bos_token = True` when `"gemma" in config.model_type` ("Gemma
/// underperforms without it"), and every text is then encoded with the tokenizer's special tokens
/// (BOS first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextEncoding {
    /// Encode with the tokenizer's default special tokens ([`Tokenize::encode_special`]).
    pub special_tokens: bool,
}

impl TextEncoding {
    /// What lm-eval does for a model of `family`.
    pub fn for_family(family: Family) -> Self {
        TextEncoding {
            special_tokens: matches!(family, Family::Gemma2 | Family::Gemma3),
        }
    }

    /// `text` encoded this way.
    pub fn encode(&self, tokenizer: &dyn Tokenize, text: &str) -> Result<Vec<u32>, LmError> {
        if self.special_tokens {
            tokenizer.encode_special(text)
        } else {
            tokenizer.encode(text)
        }
    }
}

/// One token per byte (ids 0..=255), for tests on fixture models without a real vocabulary.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteTokenizer;

impl Tokenize for ByteTokenizer {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        Ok(text.bytes().map(u32::from).collect())
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        let bytes: Vec<u8> = ids.iter().filter_map(|&i| u8::try_from(i).ok()).collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
    fn prefix_token(&self) -> Option<u32> {
        None
    }
}

/// What the harness needs from a model.
pub trait LanguageModel {
    /// The longest input one forward pass may read (lm-eval's `max_length`).
    fn max_length(&self) -> usize;
    /// The token lm-eval puts before a text that has no context of its own.
    fn prefix_token(&self) -> u32;
    /// `text` as lm-eval's `tok_encode` encodes it for this model: with special tokens only where
    /// lm-eval adds them ([`TextEncoding`]).
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError>;
    fn decode(&self, ids: &[u32]) -> Result<String, LmError>;
    /// Score requests that fit the window ([`TokenRequest::input_len`] ≤ [`Self::max_length`]),
    /// in one forward pass where the model can batch them.
    fn score_batch(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError>;
    /// Score requests whose inputs share a token prefix (the choices of one question), reading that
    /// prefix once. Must equal [`Self::score_batch`] up to float rounding.
    fn score_shared(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        self.score_batch(reqs)
    }
    /// [`Self::score_shared`] of several independent groups (one question's choices each), in
    /// order. A model may run them at once; the default runs them one after the other.
    fn score_shared_many(&self, groups: &[Vec<TokenRequest>]) -> Vec<Result<Vec<Scored>, LmError>> {
        groups.iter().map(|g| self.score_shared(g)).collect()
    }
    /// Greedy decoding after `prompt`, at most `max_new_tokens`, ending early at EOS or when `stop`
    /// (shown the new tokens so far) says so. Returns the new tokens, EOS excluded.
    fn generate(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        stop: &mut dyn FnMut(&[u32]) -> bool,
    ) -> Result<Vec<u32>, LmError>;
}

/// Length of the longest token prefix all rows share.
pub fn common_prefix(rows: &[Vec<u32>]) -> usize {
    let Some(first) = rows.first() else {
        return 0;
    };
    rows[1..].iter().fold(first.len(), |n, r| {
        first[..n].iter().zip(r).take_while(|(a, b)| a == b).count()
    })
}
