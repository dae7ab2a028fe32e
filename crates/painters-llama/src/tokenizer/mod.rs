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

pub mod bpe;
mod error;
mod from_gguf;
mod json_check;
mod kinds;
pub mod spm;
#[cfg(test)]
mod tests;
mod text;
pub mod vocab;

pub use error::TokenizerError;
pub use from_gguf::hf_tokenizer_from_gguf;
pub use kinds::{SUPPORTED_MODELS, SUPPORTED_PRE_TOKENIZERS};
pub use text::TextTokenizer;
pub use vocab::{SpecialTokenIds, token_type};
