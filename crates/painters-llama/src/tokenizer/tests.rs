//! Unit tests of the byte-level GGUF tokenizer (the SentencePiece path is tested in
//! `tests/tokenizer_spm.rs` against transformers' ids).

use super::*;
use crate::gguf::GgufError;
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
    assert!(matches!(e, TokenizerError::UnsupportedPreTokenizer { ref pre, .. } if pre == "qwen2"));
    let b = vocab_builder(None).kv_str("tokenizer.ggml.model", "llama");
    // a second tokenizer.ggml.model key is a GGUF-level error, passed through
    assert!(matches!(
        build(&b, "tok-dup").unwrap_err(),
        TokenizerError::Gguf(GgufError::DuplicateKey { .. })
    ));
    let mut b = vocab_builder(None);
    b.kvs[0].2 = crate::gguf::test_util::enc_str("bert");
    let e = build(&b, "tok-bert").unwrap_err();
    assert!(matches!(e, TokenizerError::UnsupportedModel { ref model, .. } if model == "bert"));
    let msg = e.to_string();
    assert!(msg.contains("tok-bert") && msg.contains("'bert'"), "{msg}");
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
        TokenizerError::PerTokenCount {
            key: "tokenizer.ggml.token_type",
            tokens: 12,
            entries: 2,
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

/// Found by the `tokenizer_json` fuzz target: a JSON syntax error inside the `decoder` object made
/// `tokenizers` 0.23 panic (`expect("Helper")`) instead of returning an error. Both the fuzzer's
/// input and its minimised form must be a typed error naming the file.
#[test]
fn tokenizer_json_with_a_syntax_error_in_its_decoder_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("painters-tok-syntax-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokenizer.json");
    for text in [
        r#"{"decoder":{"type":"BPEDecoder" "suffix":"</w>"}}"#,
        include_str!("testdata/fuzz-decoder-syntax-error.json"),
    ] {
        std::fs::write(&path, text).unwrap();
        match TextTokenizer::from_file(&path) {
            Err(e @ TokenizerError::Load { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("tokenizer.json"), "{msg}");
                assert!(msg.contains("expected `,` or `}`"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Found by the `tokenizer_json` fuzz target: a template post-processor naming a special token that
/// its `special_tokens` lacks loaded, then panicked in `tokenizers` on the first encode (`no entry
/// found for key`); the same for a single template using sequence B and a special token whose ids
/// and tokens differ in number. Each is a load error naming the file and the field.
#[test]
fn template_post_processors_that_would_panic_on_encode_are_load_errors() {
    let dir = std::env::temp_dir().join(format!("painters-tok-template-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokenizer.json");
    let with = |post: &str| format!(r#"{{"post_processor": {post}}}"#);
    let s = r#"{"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}"#;
    let cases = [
        (
            include_str!("testdata/fuzz-template-missing-special-token.json").to_string(),
            r#"post_processor.single: special token "<x>" is not in `special_tokens`"#,
        ),
        (
            with(&format!(
                r#"{{"type": "Sequence", "processors": [{{"type": "TemplateProcessing",
                "single": [{{"Sequence": {{"id": "B", "type_id": 0}}}}], "pair": [],
                "special_tokens": {s}}}]}}"#
            )),
            "post_processor.processors[0].single: uses sequence B",
        ),
        (
            with(
                r#"{"type": "TemplateProcessing", "single": [], "pair": [],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [0, 1], "tokens": ["<s>"]}}}"#,
            ),
            "`ids` and `tokens` differ in length",
        ),
        (
            include_str!("testdata/fuzz-template-without-type.json").to_string(),
            r#"post_processor.single: special token "[SEP]" is not in `special_tokens`"#,
        ),
        (
            include_str!("testdata/fuzz-template-unknown-type.json").to_string(),
            r#"post_processor.single: special token "[MEP]" is not in `special_tokens`"#,
        ),
        (
            // The fuzzer's fifth find: it loads and encodes, inserting id 8 into a 7-token
            // vocabulary.
            include_str!("testdata/fuzz-special-id-outside-vocab.json").to_string(),
            r#"post_processor.special_tokens["[CLS]"]: id 8 is not in the vocabulary"#,
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&path, &text).unwrap();
        match TextTokenizer::from_file(&path) {
            Err(e @ TokenizerError::Load { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("tokenizer.json"), "{msg}");
                assert!(msg.contains(expected), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
