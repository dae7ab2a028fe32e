//! Byte-level BPE vocabularies (`tokenizer.ggml.model == "gpt2"`: SmolLM2, Llama 3, GPT-2,
//! StarCoder-style models).
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

use tokenizers::SplitDelimiterBehavior;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::processors::sequence::Sequence as PostSequence;

use crate::gguf::GgufFile;

use super::error::TokenizerError;
use super::text::TextTokenizer;
use super::vocab::{GgufVocab, read_merges};

/// Llama 3's pre-tokenizer split regex (from its `tokenizer.json`).
const LLAMA3_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

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

/// Builds the tokenizer of a byte-level BPE GGUF (`tokenizer.ggml.model == "gpt2"`).
pub(super) fn build(file: &GgufFile) -> Result<TextTokenizer, TokenizerError> {
    let path = file.path();
    // A missing pre-tokenizer name means llama.cpp's "default" (GPT-2 regex).
    let pre = match file.metadata("tokenizer.ggml.pre") {
        None => "default",
        Some(_) => file.get_str("tokenizer.ggml.pre")?,
    };
    let kind = pre_kind(pre).ok_or_else(|| TokenizerError::UnsupportedPreTokenizer {
        path: path.into(),
        pre: pre.into(),
    })?;
    // Byte-level BPE tokenizers add nothing unless the file says so (HF's GPT-2 / SmolLM2
    // behaviour); Llama 3 files set add_bos_token = true.
    let v = GgufVocab::read(file, false)?;
    let merges = read_merges(file)?;

    // Token ids are positions in the list (indices fit in u32: get_str_array's length came from a
    // u64 count bounded by the file size, and the vocab is far smaller in practice).
    let mut vocab = ahash::AHashMap::with_capacity(v.tokens.len());
    for (id, tok) in v.tokens.iter().enumerate() {
        let Ok(id) = u32::try_from(id) else { break };
        vocab.insert(tok.clone(), id);
    }
    // No word cache: tokenizers 0.23 keeps each BPE instance's cache in a thread-local map that is
    // never freed when the instance is dropped, so every tokenizer built in a process leaked up to
    // 10 000 cached words (found by the `gguf` fuzz target). Tokenizing is a rounding error next to
    // the forward passes; leaking is not.
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(matches!(kind, PreKind::Llama3))
        .cache_capacity(0)
        .build()
        .map_err(|e| v.build_err(e))?;

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
            .map_err(|e| v.build_err(e))?;
            PreSequence::new(vec![split.into(), byte_level(false).into()]).into()
        }
    };
    hf.with_pre_tokenizer(Some(pre_tokenizer));
    hf.with_decoder(Some(ByteLevelDecoder::default()));

    // ByteLevel post-processing only fixes offsets; a template adds BOS/EOS when asked for.
    let offsets = ByteLevel::new(false, false, true);
    let post: PostProcessorWrapper = match v.template()? {
        Some(template) => PostSequence::new(vec![offsets.into(), template.into()]).into(),
        None => offsets.into(),
    };
    hf.with_post_processor(Some(post));

    // Control tokens (and user-defined ones) are matched in the raw text as whole tokens, before
    // pre-tokenisation, as llama.cpp and HF do. Unknown-type tokens stay ordinary here: byte-level
    // vocabularies have none, and this path is pinned by SmolLM2's reference ids.
    let (special, user) = v.added_tokens(false, |_| true);
    hf.add_special_tokens(special).map_err(|e| v.build_err(e))?;
    hf.add_tokens(user).map_err(|e| v.build_err(e))?;
    Ok(TextTokenizer::new(hf, &v))
}
