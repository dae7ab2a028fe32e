//! SentencePiece BPE vocabularies (`tokenizer.ggml.model == "llama"`: Llama 1/2, Mistral,
//! TinyLlama, Gemma 1/2/3, Phi-3), built as the HF tokenizer transformers builds from the same
//! GGUF (`transformers/integrations/gguf/gguf_tokenizer_mapping.py`, 5.25).
//!
//! * **Model**: `BPE` over the vocabulary (id = position in `tokenizer.ggml.tokens`) with
//!   `byte_fallback` (a character outside the vocabulary becomes its UTF-8 bytes as `<0xNN>`
//!   tokens) and the unknown token. The GGUF holds no merges (SentencePiece ranks pieces, not
//!   pairs), so they are derived as transformers' `generate_merges` does: every split of every
//!   piece into two vocabulary pieces, best first. "Best" is the piece's score
//!   (`tokenizer.ggml.scores`), except for Gemma, whose merges follow the file order (its scores do
//!   not). A file that does carry `tokenizer.ggml.merges` uses those.
//! * **Whitespace**: spaces become `▁`. `tokenizer.ggml.add_space_prefix` (absent: true, except
//!   false for Gemma) puts a `▁` in front of the text: Llama-style files through
//!   `Metaspace(prepend_scheme = first)`, so only at the start of the text, not after a special
//!   token (as transformers; llama.cpp also prefixes the text after each special token). Gemma
//!   uses `Replace(" ", "▁")` as its normalizer, Phi-3 `Prepend("▁") + Replace`, as transformers.
//! * **Gemma's spaces**: its GGUF stores the tokens made of two or more spaces with real spaces;
//!   they are spelled with `▁` again (as transformers does) so that text finds them.
//! * **Decoder**: `▁` back to spaces, `<0xNN>` runs back to UTF-8, and the prefix space stripped
//!   when one was added.
//! * **Whole tokens**: control and unknown-type tokens (`<s>`, `<start_of_turn>`, `<unk>`) are
//!   special added tokens, user-defined ones (Gemma's `\n`, `<start_of_image>`) plain added
//!   tokens; both are matched in the raw text before anything else, keeping their ids.
//! * **BOS/EOS**: `tokenizer.ggml.add_bos_token` (absent: true, as llama.cpp and transformers) and
//!   `add_eos_token` (absent: false).
//!
//! Nothing is dropped silently: a vocabulary with neither all 256 byte tokens nor an unknown token
//! is refused, as are NaN scores and a `tokenizer.ggml.pre` other than `default`.

use std::borrow::Cow;
use std::cmp::Ordering;

use ahash::AHashMap;
use tokenizers::SplitDelimiterBehavior;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::replace::Replace;
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};

use crate::gguf::GgufFile;

use super::error::TokenizerError;
use super::text::TextTokenizer;
use super::vocab::{GgufVocab, check_count, read_merges};

/// SentencePiece's whitespace symbol (U+2581).
const SPACE: char = '▁';

/// The tokenizer shape, picked by `general.architecture` as transformers does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// Llama, Mistral, TinyLlama and every other architecture: `Metaspace`.
    Llama,
    /// `gemma`, `gemma2`, `gemma3`: `Replace` normalizer, merges by file order, `▁`-respelled
    /// space tokens.
    Gemma,
    /// `phi3`: `Prepend` + `Replace` normalizer.
    Phi3,
}

impl Flavour {
    fn of(arch: Option<&str>) -> Self {
        match arch {
            Some("gemma" | "gemma2" | "gemma3") => Self::Gemma,
            Some("phi3") => Self::Phi3,
            _ => Self::Llama,
        }
    }
}

/// Builds the tokenizer of a SentencePiece GGUF (`tokenizer.ggml.model == "llama"`).
pub(super) fn build(file: &GgufFile) -> Result<TextTokenizer, TokenizerError> {
    let path = file.path();
    if file.metadata("tokenizer.ggml.pre").is_some() {
        let pre = file.get_str("tokenizer.ggml.pre")?;
        if pre != "default" {
            return Err(TokenizerError::UnsupportedSpmPreTokenizer {
                path: path.into(),
                pre: pre.into(),
            });
        }
    }
    let arch = match file.metadata("general.architecture") {
        None => None,
        Some(_) => Some(file.get_str("general.architecture")?),
    };
    let flavour = Flavour::of(arch);
    let v = GgufVocab::read(file, true)?;
    let add_prefix = match file.metadata("tokenizer.ggml.add_space_prefix") {
        None => flavour != Flavour::Gemma,
        Some(_) => file.get_bool("tokenizer.ggml.add_space_prefix")?,
    };

    let spellings: Vec<Cow<'_, str>> = v
        .tokens
        .iter()
        .map(|t| match flavour {
            Flavour::Gemma if is_space_run(t) => {
                Cow::Owned(SPACE.to_string().repeat(t.chars().count()))
            }
            _ => Cow::Borrowed(t.as_str()),
        })
        .collect();
    // As a Python dict built in order: a repeated spelling keeps its last id.
    let mut vocab = AHashMap::with_capacity(spellings.len());
    for (id, tok) in spellings.iter().enumerate() {
        let Ok(id) = u32::try_from(id) else { break };
        vocab.insert(tok.to_string(), id);
    }

    let merges = if file.metadata("tokenizer.ggml.merges").is_some() {
        read_merges(file)?
    } else if flavour == Flavour::Gemma {
        // transformers ranks Gemma's pieces by position: earlier is better.
        derive_merges(&spellings, &vocab, |i| -(i as f64))
    } else {
        let scores = file.get_f32_array("tokenizer.ggml.scores")?;
        check_count(path, "tokenizer.ggml.scores", v.tokens.len(), scores.len())?;
        if let Some(index) = scores.iter().position(|s| s.is_nan()) {
            return Err(TokenizerError::InvalidScore {
                path: path.into(),
                index,
                token: v.tokens[index].clone(),
            });
        }
        derive_merges(&spellings, &vocab, |i| f64::from(scores[i]))
    };

    let unk = v.special.unk.map(|id| spellings[id as usize].to_string());
    if unk.is_none()
        && let Some(missing) = (0..=255u8)
            .map(|b| format!("<0x{b:02X}>"))
            .find(|t| !vocab.contains_key(t))
    {
        return Err(TokenizerError::NoByteFallback {
            path: path.into(),
            token: missing,
        });
    }
    let in_model = |t: &str| vocab.contains_key(t);
    let (special, user) = v.added_tokens(true, in_model);

    let mut bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .fuse_unk(true)
        .byte_fallback(true)
        // No word cache: it leaks in tokenizers 0.23 (see the byte-level builder).
        .cache_capacity(0);
    if let Some(unk) = unk {
        bpe = bpe.unk_token(unk);
    }
    let bpe = bpe.build().map_err(|e| v.build_err(e))?;
    let mut hf = tokenizers::Tokenizer::new(bpe);

    let space = SPACE.to_string();
    let replace = |from: &str, to: &str| Replace::new(from, to).map_err(|e| v.build_err(e));
    match flavour {
        Flavour::Llama => {
            let scheme = if add_prefix {
                PrependScheme::First
            } else {
                PrependScheme::Never
            };
            hf.with_pre_tokenizer(Some(Metaspace::new(SPACE, scheme, false)));
        }
        Flavour::Gemma | Flavour::Phi3 => {
            let mut steps: Vec<NormalizerWrapper> = Vec::new();
            if add_prefix {
                steps.push(Prepend::new(space.clone()).into());
            }
            steps.push(replace(" ", &space)?.into());
            hf.with_normalizer(Some(NormalizerSequence::new(steps)))
                .map_err(|e| v.build_err(e))?;
            if flavour == Flavour::Gemma {
                // A no-op after the normalizer (no spaces are left), kept to match the reference.
                let split = Split::new(
                    SplitPattern::String(" ".into()),
                    SplitDelimiterBehavior::MergedWithPrevious,
                    false,
                )
                .map_err(|e| v.build_err(e))?;
                hf.with_pre_tokenizer(Some(split));
            }
        }
    }
    let mut decoders: Vec<DecoderWrapper> = vec![
        replace(&space, " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    hf.with_decoder(Some(DecoderSequence::new(decoders)));
    if let Some(template) = v.template()? {
        hf.with_post_processor(Some(template));
    }
    hf.add_special_tokens(special).map_err(|e| v.build_err(e))?;
    hf.add_tokens(user).map_err(|e| v.build_err(e))?;
    Ok(TextTokenizer::new(hf, &v))
}

/// A token made only of whitespace, with at least one space: how Gemma's GGUF spells its `▁▁…`
/// tokens (transformers: `" " in t and not t.strip()`; Python's `strip` also
/// takes the separators U+001C..U+001F as whitespace).
fn is_space_run(t: &str) -> bool {
    t.contains(' ')
        && t.chars()
            .all(|c| c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}'))
}

/// Merge rules recovered from a SentencePiece vocabulary, ordered as transformers'
/// `generate_merges(vocab, vocab_scores)` orders them: for each distinct piece (first occurrence
/// order, key of its last occurrence), every split into two vocabulary pieces, by the pieces'
/// ids; then all of them by the merged piece's key, then the left and right lengths (in
/// characters), largest first, keeping that order among equals.
fn derive_merges(
    spellings: &[Cow<'_, str>],
    vocab: &AHashMap<String, u32>,
    key: impl Fn(usize) -> f64,
) -> Vec<(String, String)> {
    let mut pieces: Vec<(&str, f64)> = Vec::with_capacity(spellings.len());
    let mut seen: AHashMap<&str, usize> = AHashMap::with_capacity(spellings.len());
    for (i, t) in spellings.iter().enumerate() {
        match seen.get(t.as_ref()) {
            Some(&at) => pieces[at].1 = key(i),
            None => {
                seen.insert(t.as_ref(), pieces.len());
                pieces.push((t.as_ref(), key(i)));
            }
        }
    }
    struct Candidate<'a> {
        left: &'a str,
        right: &'a str,
        key: f64,
        left_chars: usize,
        right_chars: usize,
    }
    let mut merges = Vec::new();
    let mut local = Vec::new();
    for (piece, key) in pieces {
        local.clear();
        for (at, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(at);
            if let (Some(&l), Some(&r)) = (vocab.get(left), vocab.get(right)) {
                local.push(((l, r), left, right));
            }
        }
        local.sort_by_key(|c| c.0);
        merges.extend(local.iter().map(|&(_, left, right)| Candidate {
            left,
            right,
            key,
            left_chars: left.chars().count(),
            right_chars: right.chars().count(),
        }));
    }
    // Stable sort, descending; keys are never NaN (checked by the caller).
    merges.sort_by(|a, b| {
        b.key
            .partial_cmp(&a.key)
            .unwrap_or(Ordering::Equal)
            .then(b.left_chars.cmp(&a.left_chars))
            .then(b.right_chars.cmp(&a.right_chars))
    });
    merges
        .into_iter()
        .map(|c| (c.left.to_string(), c.right.to_string()))
        .collect()
}
