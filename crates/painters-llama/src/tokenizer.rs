//! Text tokenisation for Llama-family checkpoints.
//!
//! Two sources are supported:
//!
//! * a GGUF file's embedded vocabulary ([`TextTokenizer::from_gguf`]): the `tokenizer.ggml.*`
//!   metadata is turned into a Hugging Face [`tokenizers::Tokenizer`] equivalent to the
//!   `tokenizer.json` the GGUF was converted from, so ids match what HF (and llama.cpp) produce;
//! * a `tokenizer.json` next to a safetensors checkpoint ([`TextTokenizer::from_file`]).
//!
//! Only byte-level BPE vocabularies (`tokenizer.ggml.model == "gpt2"`, used by SmolLM2, Llama 3,
//! GPT-2 and StarCoder-style models) are built from GGUF; SentencePiece (`"llama"`) vocabularies
//! give [`TokenizerError::UnsupportedModel`].
//!
//! # Pre-tokenizer (`tokenizer.ggml.pre`)
//!
//! BPE merges only apply inside the chunks a pre-tokenizer splits the text into, and the GGUF only
//! names that splitter. The names are mapped to the HF pre-tokenizers that llama.cpp's
//! `llama-vocab.cpp` regexes are equivalent to:
//!
//! | `tokenizer.ggml.pre` | HF pre-tokenizer |
//! |---|---|
//! | absent, `default`, `gpt2` | `ByteLevel` with GPT-2's regex (`'s\|'t\|…\| ?\p{L}+\| ?\p{N}+\| ?[^\s\p{L}\p{N}]+\|\s+(?!\S)\|\s+`) |
//! | `smollm`, `starcoder`, `refact`, `codeshell` | `Sequence[Digits(individual), ByteLevel]`: llama.cpp runs `\p{N}` (every digit alone) before the GPT-2 regex — the same as SmolLM2's / StarCoder's `tokenizer.json` |
//! | `llama3`, `llama-v3`, `llama-bpe` | `Sequence[Split(Llama 3 regex, isolated), ByteLevel(no regex)]`, with `ignore_merges` as in Llama 3's `tokenizer.json` |
//!
//! All use `add_prefix_space = false` (GGUF's `tokenizer.ggml.add_space_prefix` is false for
//! byte-level vocabularies). Other names give [`TokenizerError::UnsupportedPreTokenizer`] rather
//! than silently producing different ids.

use std::path::{Path, PathBuf};

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::processors::sequence::Sequence as PostSequence;
use tokenizers::processors::template::{SpecialToken, TemplateProcessing};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::gguf::{GgufError, GgufFile};

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

/// Llama 3's pre-tokenizer split regex (from its `tokenizer.json`).
const LLAMA3_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.ggml.pre` values this module knows how to reproduce.
pub const SUPPORTED_PRE_TOKENIZERS: &[&str] = &[
    "default",
    "gpt2",
    "smollm",
    "starcoder",
    "refact",
    "codeshell",
    "llama3",
    "llama-v3",
    "llama-bpe",
];

/// Why a tokenizer could not be built or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// Reading the GGUF (or one of its tokenizer keys) failed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// `tokenizer.ggml.model` names a vocabulary type that is not implemented.
    #[error(
        "{}: tokenizer.ggml.model is '{model}'; only 'gpt2' (byte-level BPE) vocabularies are supported",
        .path.display()
    )]
    UnsupportedModel { path: PathBuf, model: String },
    /// `tokenizer.ggml.pre` names a pre-tokenizer that is not mapped.
    #[error(
        "{}: tokenizer.ggml.pre is '{pre}', which is not supported (supported: {})",
        .path.display(),
        SUPPORTED_PRE_TOKENIZERS.join(", ")
    )]
    UnsupportedPreTokenizer { path: PathBuf, pre: String },
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
    /// `tokenizer.ggml.token_type` does not have one entry per token.
    #[error(
        "{}: tokenizer.ggml.token_type has {types} entries for {tokens} tokens",
        .path.display()
    )]
    TokenTypeCount {
        path: PathBuf,
        tokens: usize,
        types: usize,
    },
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

/// How a `tokenizer.ggml.pre` value is reproduced.
enum PreKind {
    Gpt2,
    DigitsThenGpt2,
    Llama3,
}

fn pre_kind(pre: &str) -> Option<PreKind> {
    Some(match pre {
        "default" | "gpt2" => PreKind::Gpt2,
        "smollm" | "starcoder" | "refact" | "codeshell" => PreKind::DigitsThenGpt2,
        "llama3" | "llama-v3" | "llama-bpe" => PreKind::Llama3,
        _ => return None,
    })
}

fn build_from_gguf(file: &GgufFile) -> Result<TextTokenizer, TokenizerError> {
    let path = file.path();
    let model = file.get_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(TokenizerError::UnsupportedModel {
            path: path.into(),
            model: model.into(),
        });
    }
    // A missing pre-tokenizer name means llama.cpp's "default" (GPT-2 regex).
    let pre = match file.metadata("tokenizer.ggml.pre") {
        None => "default",
        Some(_) => file.get_str("tokenizer.ggml.pre")?,
    };
    let kind = pre_kind(pre).ok_or_else(|| TokenizerError::UnsupportedPreTokenizer {
        path: path.into(),
        pre: pre.into(),
    })?;

    let tokens = file.get_str_array("tokenizer.ggml.tokens")?;
    let types = match file.metadata("tokenizer.ggml.token_type") {
        None => vec![token_type::NORMAL; tokens.len()],
        Some(_) => file.get_i32_array("tokenizer.ggml.token_type")?,
    };
    if types.len() != tokens.len() {
        return Err(TokenizerError::TokenTypeCount {
            path: path.into(),
            tokens: tokens.len(),
            types: types.len(),
        });
    }
    let merges = file
        .get_str_array("tokenizer.ggml.merges")?
        .iter()
        .enumerate()
        .map(|(index, m)| match m.split_once(' ') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => {
                Ok((a.to_string(), b.to_string()))
            }
            _ => Err(TokenizerError::InvalidMerge {
                path: path.into(),
                index,
                merge: m.clone(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;

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
    let optional_bool = |key: &str| -> Result<bool, GgufError> {
        match file.metadata(key) {
            None => Ok(false),
            Some(_) => file.get_bool(key),
        }
    };
    // Byte-level BPE tokenizers add nothing unless the file says so (HF's GPT-2 / SmolLM2
    // behaviour); Llama 3 files set add_bos_token = true.
    let add_bos = optional_bool("tokenizer.ggml.add_bos_token")? && special.bos.is_some();
    let add_eos = optional_bool("tokenizer.ggml.add_eos_token")? && special.eos.is_some();

    // Token ids are positions in the list (indices fit in u32: get_str_array's length came from a
    // u64 count bounded by the file size, and the vocab is far smaller in practice).
    let mut vocab = ahash::AHashMap::with_capacity(tokens.len());
    for (id, tok) in tokens.iter().enumerate() {
        let Ok(id) = u32::try_from(id) else { break };
        vocab.insert(tok.clone(), id);
    }
    let build_err = |source| TokenizerError::Build {
        path: path.into(),
        source,
    };
    // No word cache: tokenizers 0.23 keeps each BPE instance's cache in a thread-local map that is
    // never freed when the instance is dropped, so every tokenizer built in a process leaked up to
    // 10 000 cached words (found by the `gguf` fuzz target). Tokenizing is a rounding error next to
    // the forward passes; leaking is not.
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(matches!(kind, PreKind::Llama3))
        .cache_capacity(0)
        .build()
        .map_err(build_err)?;

    let mut hf = tokenizers::Tokenizer::new(bpe);
    let byte_level = |use_regex: bool| ByteLevel::new(false, true, use_regex);
    let pre_tokenizer: PreTokenizerWrapper = match kind {
        PreKind::Gpt2 => byte_level(true).into(),
        PreKind::DigitsThenGpt2 => {
            PreSequence::new(vec![Digits::new(true).into(), byte_level(true).into()]).into()
        }
        PreKind::Llama3 => {
            let split = Split::new(
                SplitPattern::Regex(LLAMA3_SPLIT_REGEX.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(build_err)?;
            PreSequence::new(vec![split.into(), byte_level(false).into()]).into()
        }
    };
    hf.with_pre_tokenizer(Some(pre_tokenizer));
    hf.with_decoder(Some(ByteLevelDecoder::default()));

    // ByteLevel post-processing only fixes offsets; a template adds BOS/EOS when asked for.
    let offsets = ByteLevel::new(false, false, true);
    let post: PostProcessorWrapper = if add_bos || add_eos {
        let template = special_template(tokens, special, add_bos, add_eos).map_err(build_err)?;
        PostSequence::new(vec![offsets.into(), template.into()]).into()
    } else {
        offsets.into()
    };
    hf.with_post_processor(Some(post));

    // Control tokens (and user-defined ones) are matched in the raw text as whole tokens, before
    // pre-tokenisation, as llama.cpp and HF do; control tokens are "special" (skippable when
    // decoding). They keep their vocabulary ids because the model already knows them.
    let mut control = Vec::new();
    let mut user = Vec::new();
    for (tok, &t) in tokens.iter().zip(&types) {
        match t {
            token_type::CONTROL => control.push(AddedToken::from(tok.clone(), true)),
            token_type::USER_DEFINED => {
                user.push(AddedToken::from(tok.clone(), false).normalized(false))
            }
            _ => {}
        }
    }
    hf.add_special_tokens(control).map_err(build_err)?;
    hf.add_tokens(user).map_err(build_err)?;

    Ok(TextTokenizer {
        hf,
        special,
        add_bos,
        add_eos,
    })
}

/// A template adding BOS in front of (and/or EOS after) each sequence, like HF's Llama templates.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::test_util::{GgufBuilder, enc_i32_arr, ty};

    /// A byte-level vocabulary: control tokens, the characters used below, and two merges.
    fn vocab_builder(pre: Option<&str>) -> GgufBuilder {
        let tokens = [
            "<|endoftext|>",
            "<|im_start|>",
            "h",
            "i",
            "Ġ",
            "1",
            "2",
            "hi",
            "Ġh",
            "12",
            "Ġ1",
            "!",
        ];
        let types = [3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let mut b = GgufBuilder::new()
            .kv_str("tokenizer.ggml.model", "gpt2")
            .kv_str_arr("tokenizer.ggml.tokens", &tokens)
            .kv("tokenizer.ggml.token_type", ty::ARRAY, enc_i32_arr(&types))
            .kv_str_arr("tokenizer.ggml.merges", &["h i", "Ġ h", "1 2", "Ġ 1"])
            .kv_u32("tokenizer.ggml.bos_token_id", 1)
            .kv_u32("tokenizer.ggml.eos_token_id", 0)
            .kv_u32("tokenizer.ggml.unknown_token_id", 0)
            .kv_u32("tokenizer.ggml.padding_token_id", 0);
        if let Some(pre) = pre {
            b = b.kv_str("tokenizer.ggml.pre", pre);
        }
        b
    }

    fn build(b: &GgufBuilder, name: &str) -> Result<TextTokenizer, TokenizerError> {
        TextTokenizer::from_gguf_path(b.write(name))
    }

    #[test]
    fn smollm_pre_splits_digits_and_matches_specials() {
        let t = build(&vocab_builder(Some("smollm")), "tok-smollm").unwrap();
        // "hi 12": digits are split one by one, so the "1 2" and "Ġ 1" merges never apply
        assert_eq!(t.encode("hi 12").unwrap(), [7, 4, 5, 6]);
        // special tokens in the text are single tokens
        assert_eq!(t.encode("<|im_start|>hi").unwrap(), [1, 7]);
        assert_eq!(
            t.decode(&[1, 7, 4, 5, 6], false).unwrap(),
            "<|im_start|>hi 12"
        );
        assert_eq!(t.decode(&[1, 7], true).unwrap(), "hi");
        assert!(!t.adds_bos());
        assert_eq!(
            t.special_tokens(),
            SpecialTokenIds {
                bos: Some(1),
                eos: Some(0),
                unk: Some(0),
                pad: Some(0)
            }
        );
        assert_eq!(t.vocab_size(), 12);
    }

    #[test]
    fn gpt2_pre_keeps_digit_runs() {
        // default pre-tokenizer: " 12" is one chunk "Ġ12"; merges apply by rank, so "1 2"
        // (rank 2) wins over "Ġ 1" (rank 3), giving [Ġ, 12]
        let t = build(&vocab_builder(None), "tok-default").unwrap();
        assert_eq!(t.encode("hi 12").unwrap(), [7, 4, 9]);
        let t = build(&vocab_builder(Some("gpt2")), "tok-gpt2").unwrap();
        // "Ġhi": "h i" (rank 0) beats "Ġ h" (rank 1)
        assert_eq!(t.encode(" hi").unwrap(), [4, 7]);
    }

    #[test]
    fn add_bos_token_prepends_bos() {
        let b = vocab_builder(Some("smollm")).kv_bool("tokenizer.ggml.add_bos_token", true);
        let t = build(&b, "tok-bos").unwrap();
        assert!(t.adds_bos());
        assert_eq!(t.encode("hi").unwrap(), [1, 7]);
        assert_eq!(t.encode_with("hi", false).unwrap(), [7]);
        let b = b.kv_bool("tokenizer.ggml.add_eos_token", true);
        let t = build(&b, "tok-eos").unwrap();
        assert_eq!(t.encode("hi!").unwrap(), [1, 7, 11, 0]);
    }

    #[test]
    fn llama3_pre_tokenizer_builds() {
        let t = build(&vocab_builder(Some("llama-bpe")), "tok-llama3").unwrap();
        // Llama 3 groups up to three digits, with the space split off before them
        assert_eq!(t.encode("hi 12").unwrap(), [7, 4, 9]);
    }

    #[test]
    fn unsupported_or_broken_vocabularies_are_refused() {
        let e = build(&vocab_builder(Some("qwen2")), "tok-qwen").unwrap_err();
        assert!(
            matches!(e, TokenizerError::UnsupportedPreTokenizer { ref pre, .. } if pre == "qwen2")
        );
        let b = vocab_builder(None).kv_str("tokenizer.ggml.model", "llama");
        // a second tokenizer.ggml.model key is a GGUF-level error, passed through
        assert!(matches!(
            build(&b, "tok-dup").unwrap_err(),
            TokenizerError::Gguf(GgufError::DuplicateKey { .. })
        ));
        let mut b = vocab_builder(None);
        b.kvs[0].2 = crate::gguf::test_util::enc_str("llama");
        assert!(matches!(
            build(&b, "tok-spm").unwrap_err(),
            TokenizerError::UnsupportedModel { ref model, .. } if model == "llama"
        ));
        let mut b = vocab_builder(None);
        b.kvs.retain(|kv| kv.0 != b"tokenizer.ggml.merges");
        let b = b.kv_str_arr("tokenizer.ggml.merges", &["h i", "nospace"]);
        assert!(matches!(
            build(&b, "tok-merge").unwrap_err(),
            TokenizerError::InvalidMerge { index: 1, .. }
        ));
        let mut b = vocab_builder(None);
        b.kvs.retain(|kv| kv.0 != b"tokenizer.ggml.merges");
        let b = b.kv_str_arr("tokenizer.ggml.merges", &["x y"]);
        assert!(matches!(
            build(&b, "tok-merge-oov").unwrap_err(),
            TokenizerError::Build { .. }
        ));
        let mut b = vocab_builder(None);
        b.kvs.retain(|kv| kv.0 != b"tokenizer.ggml.token_type");
        let b = b.kv("tokenizer.ggml.token_type", ty::ARRAY, enc_i32_arr(&[1, 1]));
        assert!(matches!(
            build(&b, "tok-types").unwrap_err(),
            TokenizerError::TokenTypeCount {
                tokens: 12,
                types: 2,
                ..
            }
        ));
        let mut b = vocab_builder(None);
        b.kvs.retain(|kv| kv.0 != b"tokenizer.ggml.bos_token_id");
        let b = b.kv_u32("tokenizer.ggml.bos_token_id", 12);
        assert!(matches!(
            build(&b, "tok-bos-range").unwrap_err(),
            TokenizerError::SpecialTokenOutOfRange { id: 12, .. }
        ));
        let mut b = vocab_builder(None);
        b.kvs.retain(|kv| kv.0 != b"tokenizer.ggml.tokens");
        match build(&b, "tok-missing").unwrap_err() {
            TokenizerError::Gguf(GgufError::MissingKey { key, .. }) => {
                assert_eq!(key, "tokenizer.ggml.tokens")
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn tokenizer_json_round_trip() {
        let t = build(&vocab_builder(Some("smollm")), "tok-json").unwrap();
        let dir = std::env::temp_dir().join(format!("painters-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokenizer.json");
        t.hf().save(&path, false).unwrap();
        let loaded = TextTokenizer::from_file(&path).unwrap();
        assert_eq!(loaded.encode("<|im_start|>hi 12").unwrap(), [1, 7, 4, 5, 6]);
        assert_eq!(loaded.special_tokens(), SpecialTokenIds::default());
        assert!(matches!(
            TextTokenizer::from_file(dir.join("missing.json")),
            Err(TokenizerError::Load { .. })
        ));
    }
}
