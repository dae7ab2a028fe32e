//! What every GGUF vocabulary kind shares: the token list and types, the special-token ids, the
//! BOS/EOS flags, the tokens matched whole in the text, and the BOS/EOS template.

use std::path::Path;

use tokenizers::AddedToken;
use tokenizers::processors::template::{SpecialToken, TemplateProcessing};

use crate::gguf::{GgufError, GgufFile};

use super::error::TokenizerError;

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

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
pub mod token_type {
    /// Ordinary vocabulary entry.
    pub const NORMAL: i32 = 1;
    /// Unknown-token placeholder.
    pub const UNKNOWN: i32 = 2;
    /// Control / special token such as `<|im_start|>`.
    pub const CONTROL: i32 = 3;
    /// Token added by the user on top of the trained vocabulary.
    pub const USER_DEFINED: i32 = 4;
    /// Unused slot.
    pub const UNUSED: i32 = 5;
    /// SentencePiece byte-fallback token `<0xNN>`.
    pub const BYTE: i32 = 6;
}

/// The `tokenizer.ggml.*` keys common to every vocabulary kind, read and checked.
pub(super) struct GgufVocab<'a> {
    pub path: &'a Path,
    pub tokens: &'a [String],
    pub types: Vec<i32>,
    pub special: SpecialTokenIds,
    pub add_bos: bool,
    pub add_eos: bool,
}

impl<'a> GgufVocab<'a> {
    /// Reads the vocabulary. `default_add_bos` is what an absent `tokenizer.ggml.add_bos_token`
    /// means for this kind (llama.cpp and transformers: true for SentencePiece, false for
    /// byte-level BPE).
    pub fn read(file: &'a GgufFile, default_add_bos: bool) -> Result<Self, TokenizerError> {
        let path = file.path();
        let tokens = file.get_str_array("tokenizer.ggml.tokens")?;
        let types = match file.metadata("tokenizer.ggml.token_type") {
            None => vec![token_type::NORMAL; tokens.len()],
            Some(_) => file.get_i32_array("tokenizer.ggml.token_type")?,
        };
        check_count(path, "tokenizer.ggml.token_type", tokens.len(), types.len())?;

        let optional_id = |key: &'static str| -> Result<Option<u32>, TokenizerError> {
            if file.metadata(key).is_none() {
                return Ok(None);
            }
            let id = file.get_u32(key)?;
            if id as usize >= tokens.len() {
                return Err(TokenizerError::SpecialTokenOutOfRange {
                    path: path.into(),
                    key,
                    id,
                    vocab_size: tokens.len(),
                });
            }
            Ok(Some(id))
        };
        let special = SpecialTokenIds {
            bos: optional_id("tokenizer.ggml.bos_token_id")?,
            eos: optional_id("tokenizer.ggml.eos_token_id")?,
            unk: optional_id("tokenizer.ggml.unknown_token_id")?,
            pad: optional_id("tokenizer.ggml.padding_token_id")?,
        };
        let add_bos = optional_bool(file, "tokenizer.ggml.add_bos_token", default_add_bos)?
            && special.bos.is_some();
        let add_eos =
            optional_bool(file, "tokenizer.ggml.add_eos_token", false)? && special.eos.is_some();
        Ok(Self {
            path,
            tokens,
            types,
            special,
            add_bos,
            add_eos,
        })
    }

    /// The error for a failure of the `tokenizers` library on this file.
    pub fn build_err(&self, source: tokenizers::Error) -> TokenizerError {
        TokenizerError::Build {
            path: self.path.into(),
            source,
        }
    }

    /// The tokens matched whole in the raw text, before any normalisation or splitting, as
    /// llama.cpp and transformers do: control tokens (and, with `unknown_is_special`,
    /// unknown-type ones such as SentencePiece's `<unk>`) as special tokens (skipped by
    /// `decode(.., true)`), user-defined ones as plain added tokens. `in_model` says whether a
    /// token's spelling is a key of the model's vocabulary (transformers adds only those
    /// user-defined tokens); added tokens keep their vocabulary ids.
    pub fn added_tokens(
        &self,
        unknown_is_special: bool,
        in_model: impl Fn(&str) -> bool,
    ) -> (Vec<AddedToken>, Vec<AddedToken>) {
        let mut special = Vec::new();
        let mut user = Vec::new();
        for (tok, &t) in self.tokens.iter().zip(&self.types) {
            match t {
                token_type::CONTROL => special.push(AddedToken::from(tok.clone(), true)),
                token_type::UNKNOWN if unknown_is_special => {
                    special.push(AddedToken::from(tok.clone(), true))
                }
                token_type::USER_DEFINED if in_model(tok) => {
                    user.push(AddedToken::from(tok.clone(), false).normalized(false))
                }
                _ => {}
            }
        }
        (special, user)
    }

    /// A template adding BOS in front of (and/or EOS after) each sequence, like HF's Llama
    /// templates; `None` when neither is added.
    pub fn template(&self) -> Result<Option<TemplateProcessing>, TokenizerError> {
        if !(self.add_bos || self.add_eos) {
            return Ok(None);
        }
        special_template(self.tokens, self.special, self.add_bos, self.add_eos)
            .map(Some)
            .map_err(|e| self.build_err(e))
    }
}

/// A per-token array must have one entry per token.
pub(super) fn check_count(
    path: &Path,
    key: &'static str,
    tokens: usize,
    entries: usize,
) -> Result<(), TokenizerError> {
    if entries == tokens {
        return Ok(());
    }
    Err(TokenizerError::PerTokenCount {
        path: path.into(),
        key,
        tokens,
        entries,
    })
}

/// `tokenizer.ggml.merges` as pairs: each entry must be two symbols separated by one space.
pub(super) fn read_merges(file: &GgufFile) -> Result<Vec<(String, String)>, TokenizerError> {
    file.get_str_array("tokenizer.ggml.merges")?
        .iter()
        .enumerate()
        .map(|(index, m)| match m.split_once(' ') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => {
                Ok((a.to_string(), b.to_string()))
            }
            _ => Err(TokenizerError::InvalidMerge {
                path: file.path().into(),
                index,
                merge: m.clone(),
            }),
        })
        .collect()
}

fn optional_bool(file: &GgufFile, key: &str, default: bool) -> Result<bool, GgufError> {
    match file.metadata(key) {
        None => Ok(default),
        Some(_) => file.get_bool(key),
    }
}

fn special_template(
    tokens: &[String],
    special: SpecialTokenIds,
    add_bos: bool,
    add_eos: bool,
) -> tokenizers::Result<TemplateProcessing> {
    let mut specials = Vec::new();
    // Template pieces refer to special tokens by a key; fixed ASCII keys avoid any parsing
    // trouble with the real token text (which may contain spaces or colons).
    let mut piece = |key: &str, id: Option<u32>| -> tokenizers::Result<bool> {
        let Some(id) = id else { return Ok(false) };
        let text = tokens.get(id as usize).cloned().unwrap_or_default();
        specials.push(SpecialToken::new(key.into(), vec![id], vec![text])?);
        Ok(true)
    };
    let bos = add_bos && piece("BOS", special.bos)?;
    let eos = add_eos && piece("EOS", special.eos)?;
    let wrap = |seq: &str, type_id: u32| {
        let mut parts = Vec::new();
        if bos {
            parts.push(format!("BOS:{type_id}"));
        }
        parts.push(format!("${seq}:{type_id}"));
        if eos {
            parts.push(format!("EOS:{type_id}"));
        }
        parts.join(" ")
    };
    let single = wrap("A", 0);
    let pair = format!("{} {}", wrap("A", 0), wrap("B", 1));
    TemplateProcessing::builder()
        .try_single(single.as_str())?
        .try_pair(pair.as_str())?
        .special_tokens(specials)
        .build()
        .map_err(|e| e.to_string().into())
}
