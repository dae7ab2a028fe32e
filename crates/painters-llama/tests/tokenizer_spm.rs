//! SentencePiece (`tokenizer.ggml.model == "llama"`) GGUF tokenizers against transformers.
//!
//! * The real Gemma-3-270M GGUF: every text of `tests/fixtures-gemma3/tokenizer_cases.json`
//!   (the fixture texts plus spaces, newlines, tabs, digits, accents, CJK, emoji and byte
//!   fallback, a chat turn, literal special tokens, the empty string) gives exactly the ids,
//!   token strings and decoded text of transformers' GGUF tokenizer.
//! * Small synthetic vocabularies (`tokenizer_synthetic.json`: Llama-style with and without
//!   `add_space_prefix`, Gemma-style): the GGUF is written here from the vocabulary stored in
//!   the JSON, and must give transformers' ids for it (merges by score vs by file order, byte
//!   fallback, the space prefix, control / unknown / user-defined tokens).
//! * Broken vocabularies are refused with an error naming the file and the key.
//!
//! The references come from `scripts/make-gemma-reference.py`. The Gemma GGUF is not in the
//! repository: it is looked up in `$PAINTERS_MODELS_DIR` if set, else `<workspace>/models`, and a
//! missing file fails the test (it is never skipped).

use std::path::PathBuf;

use painters_llama::gguf::GgufError;
use painters_llama::tokenizer::{SpecialTokenIds, TextTokenizer, TokenizerError};
use serde_json::Value;

const GEMMA_REL: &str = "gemma3-270m/gemma-3-270m-q4_k_m.gguf";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gemma_path() -> PathBuf {
    let dir = std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"));
    let path = dir.join(GEMMA_REL);
    assert!(
        path.is_file(),
        "Gemma-3-270M GGUF not found at {}.\nRun `scripts/fetch-models.sh` (or \
         `bash scripts/fetch-models.sh <dir>` and set PAINTERS_MODELS_DIR=<dir>) to fetch it.",
        path.display()
    );
    path
}

fn fixture(name: &str) -> Value {
    let path = workspace_root().join("tests/fixtures-gemma3").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("an array of ids")
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("an id")).expect("a u32 id"))
        .collect()
}

fn owned(v: &Value) -> Vec<String> {
    strs(v).into_iter().map(String::from).collect()
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("an array of strings")
        .iter()
        .map(|x| x.as_str().expect("a string"))
        .collect()
}

/// Checks ids, token strings and decoding of every reference case; returns how many ran.
fn check_cases(tok: &TextTokenizer, cases: &Value, label: &str) -> usize {
    let cases = cases.as_array().expect("a list of cases");
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let want = u32s(&case["input_ids"]);
        let got = tok
            .encode(text)
            .unwrap_or_else(|e| panic!("{label} {text:?}: {e}"));
        assert_eq!(got, want, "{label}: ids for {text:?}");
        let tokens: Vec<String> = got
            .iter()
            .map(|&id| tok.hf().id_to_token(id).unwrap_or_default())
            .collect();
        assert_eq!(
            tokens,
            strs(&case["tokens"]),
            "{label}: tokens for {text:?}"
        );
        let decoded = tok.decode(&got, true).unwrap();
        assert_eq!(
            decoded,
            case["decoded"].as_str().unwrap(),
            "{label}: decode of {text:?}"
        );
    }
    cases.len()
}

#[test]
fn gemma3_gguf_tokenizer_matches_transformers() {
    let tok = TextTokenizer::from_gguf_path(gemma_path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(tok.adds_bos() && !tok.adds_eos());
    assert_eq!(
        tok.special_tokens(),
        SpecialTokenIds {
            bos: Some(2),
            eos: Some(1),
            unk: Some(3),
            pad: Some(0)
        }
    );
    assert_eq!(tok.vocab_size(), 262_144);
    assert_eq!(tok.token_to_id("<start_of_turn>"), Some(105));
    // Gemma's GGUF spells its two-space token with real spaces; the tokenizer knows it as "▁▁"
    assert_eq!(tok.token_to_id("▁▁"), Some(138));

    let v = fixture("tokenizer_cases.json");
    let n = check_cases(&tok, &v["cases"], "gemma3");
    assert!(n >= 20, "only {n} reference texts");
    // without special tokens: no BOS, the rest unchanged
    let first = &v["cases"][0];
    let ids = tok
        .encode_with(first["text"].as_str().unwrap(), false)
        .unwrap();
    assert_eq!(ids, u32s(&first["input_ids"])[1..]);
}

// ---------------------------------------------------------------------------- a tiny GGUF writer

/// A GGUF metadata value, written as the GGUF spec lays it out (little-endian, version 3).
enum Meta {
    Str(String),
    U32(u32),
    Bool(bool),
    Strs(Vec<String>),
    F32s(Vec<f32>),
    I32s(Vec<i32>),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// GGUF v3 bytes holding `kvs` and no tensors.
fn gguf_bytes(kvs: &[(String, Meta)]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
    for (key, value) in kvs {
        put_str(&mut out, key);
        let array = |out: &mut Vec<u8>, elem: u32, n: usize| {
            out.extend_from_slice(&9u32.to_le_bytes());
            out.extend_from_slice(&elem.to_le_bytes());
            out.extend_from_slice(&(n as u64).to_le_bytes());
        };
        match value {
            Meta::Str(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                put_str(&mut out, s);
            }
            Meta::U32(x) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
            }
            Meta::Bool(b) => {
                out.extend_from_slice(&7u32.to_le_bytes());
                out.push(u8::from(*b));
            }
            Meta::Strs(v) => {
                array(&mut out, 8, v.len());
                v.iter().for_each(|s| put_str(&mut out, s));
            }
            Meta::F32s(v) => {
                array(&mut out, 6, v.len());
                v.iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
            }
            Meta::I32s(v) => {
                array(&mut out, 5, v.len());
                v.iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
            }
        }
    }
    out
}

fn write_gguf(name: &str, kvs: &[(String, Meta)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("painters-tokenizer-spm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.gguf"));
    std::fs::write(&path, gguf_bytes(kvs)).unwrap();
    path
}

/// The metadata of one synthetic vocabulary from `tokenizer_synthetic.json`, in GGUF form.
fn synthetic_kvs(v: &Value) -> Vec<(String, Meta)> {
    let mut kvs = Vec::new();
    for (key, value) in v["metadata"].as_object().expect("metadata") {
        let meta = match value {
            Value::String(s) => Meta::Str(s.clone()),
            Value::Bool(b) => Meta::Bool(*b),
            Value::Number(n) => Meta::U32(u32::try_from(n.as_u64().unwrap()).unwrap()),
            other => panic!("{key}: {other}"),
        };
        kvs.push((key.clone(), meta));
    }
    kvs.push((
        "tokenizer.ggml.tokens".into(),
        Meta::Strs(owned(&v["tokens"])),
    ));
    let scores = v["scores"].as_array().unwrap();
    let scores = scores.iter().map(|x| x.as_f64().unwrap() as f32).collect();
    kvs.push(("tokenizer.ggml.scores".into(), Meta::F32s(scores)));
    let types = v["token_type"].as_array().unwrap();
    let types = types.iter().map(|x| x.as_i64().unwrap() as i32).collect();
    kvs.push(("tokenizer.ggml.token_type".into(), Meta::I32s(types)));
    kvs
}

fn synthetic(name: &str) -> Value {
    let all = fixture("tokenizer_synthetic.json");
    let found = all["vocabularies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name);
    found
        .unwrap_or_else(|| panic!("no synthetic vocabulary {name}"))
        .clone()
}

#[test]
fn synthetic_sentencepiece_vocabularies_match_transformers() {
    for name in ["llama", "llama_no_prefix", "gemma", "phi3"] {
        let v = synthetic(name);
        let path = write_gguf(name, &synthetic_kvs(&v));
        let tok = TextTokenizer::from_gguf_path(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(tok.adds_bos(), "{name}: add_bos_token defaults to true");
        assert!(check_cases(&tok, &v["cases"], name) >= 10);
    }
}

/// Builds the `llama` synthetic vocabulary after `edit` changed its metadata.
fn build_edited(name: &str, edit: impl FnOnce(&mut Vec<(String, Meta)>)) -> TokenizerError {
    let v = synthetic("llama");
    let mut kvs = synthetic_kvs(&v);
    edit(&mut kvs);
    let path = write_gguf(name, &kvs);
    match TextTokenizer::from_gguf_path(&path) {
        Ok(_) => panic!("{name}: built a tokenizer from a broken vocabulary"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("{name}.gguf")),
                "{name}: no file in '{msg}'"
            );
            e
        }
    }
}

fn set(kvs: &mut Vec<(String, Meta)>, key: &str, value: Meta) {
    kvs.retain(|kv| kv.0 != key);
    kvs.push((key.into(), value));
}

fn assert_names(e: &TokenizerError, key: &str) {
    let msg = e.to_string();
    assert!(msg.contains(key), "'{msg}' does not name {key}");
}

#[test]
fn broken_sentencepiece_vocabularies_are_refused() {
    let e = build_edited("no-scores", |kvs| {
        kvs.retain(|kv| kv.0 != "tokenizer.ggml.scores")
    });
    assert!(
        matches!(e, TokenizerError::Gguf(GgufError::MissingKey { .. })),
        "{e}"
    );
    assert_names(&e, "tokenizer.ggml.scores");

    let e = build_edited("short-scores", |kvs| {
        set(kvs, "tokenizer.ggml.scores", Meta::F32s(vec![0.0; 3]))
    });
    assert!(
        matches!(e, TokenizerError::PerTokenCount { entries: 3, .. }),
        "{e}"
    );
    assert_names(&e, "tokenizer.ggml.scores");

    let e = build_edited("nan-score", |kvs| {
        let v = synthetic("llama");
        let n = v["tokens"].as_array().unwrap().len();
        let mut scores = vec![-1.0f32; n];
        scores[270] = f32::NAN;
        set(kvs, "tokenizer.ggml.scores", Meta::F32s(scores))
    });
    assert!(
        matches!(e, TokenizerError::InvalidScore { index: 270, .. }),
        "{e}"
    );
    assert_names(&e, "tokenizer.ggml.scores");

    // without an unknown token, a missing byte token would drop text: refused
    let e = build_edited("no-fallback", |kvs| {
        kvs.retain(|kv| kv.0 != "tokenizer.ggml.unknown_token_id");
        let v = synthetic("llama");
        let mut tokens = owned(&v["tokens"]);
        assert_eq!(tokens[3 + 0x41], "<0x41>");
        tokens[3 + 0x41] = "A".into();
        set(kvs, "tokenizer.ggml.tokens", Meta::Strs(tokens));
    });
    assert!(
        matches!(e, TokenizerError::NoByteFallback { ref token, .. } if token == "<0x41>"),
        "{e}"
    );
    assert_names(&e, "tokenizer.ggml.unknown_token_id");

    let e = build_edited("spm-pre", |kvs| {
        set(kvs, "tokenizer.ggml.pre", Meta::Str("llama-bpe".into()))
    });
    assert!(
        matches!(e, TokenizerError::UnsupportedSpmPreTokenizer { .. }),
        "{e}"
    );
    assert_names(&e, "tokenizer.ggml.pre");

    let e = build_edited("prefix-type", |kvs| {
        set(
            kvs,
            "tokenizer.ggml.add_space_prefix",
            Meta::Str("yes".into()),
        )
    });
    assert!(
        matches!(e, TokenizerError::Gguf(GgufError::WrongType { .. })),
        "{e}"
    );
    assert_names(&e, "tokenizer.ggml.add_space_prefix");

    let e = build_edited("bos-range", |kvs| {
        set(kvs, "tokenizer.ggml.bos_token_id", Meta::U32(100_000))
    });
    assert!(
        matches!(
            e,
            TokenizerError::SpecialTokenOutOfRange { id: 100_000, .. }
        ),
        "{e}"
    );
    assert_names(&e, "tokenizer.ggml.bos_token_id");

    let e = build_edited("unigram", |kvs| {
        set(kvs, "tokenizer.ggml.model", Meta::Str("t5".into()))
    });
    assert!(
        matches!(e, TokenizerError::UnsupportedModel { ref model, .. } if model == "t5"),
        "{e}"
    );
    assert_names(&e, "tokenizer.ggml.model");
}

#[test]
fn special_tokens_and_byte_fallback_in_the_synthetic_vocabulary() {
    // Spelled out on top of the reference comparison above, so a failure says what broke.
    let v = synthetic("llama");
    let tok = TextTokenizer::from_gguf_path(write_gguf("facts", &synthetic_kvs(&v))).unwrap();
    let id = |t: &str| tok.token_to_id(t).unwrap();
    // byte fallback: "ü" is not a piece, its UTF-8 bytes are
    let ids = tok.encode_with("ü", false).unwrap();
    assert_eq!(ids, [id("▁"), id("<0xC3>"), id("<0xBC>")]);
    assert_eq!(tok.decode(&ids, false).unwrap(), "ü");
    // control and user-defined tokens are single tokens; control ones are skippable
    let ids = tok.encode_with("<start_of_turn><tool>", false).unwrap();
    assert_eq!(ids, [id("<start_of_turn>"), id("<tool>")]);
    assert_eq!(tok.decode(&ids, true).unwrap(), "<tool>");
}

#[test]
fn merges_in_the_file_win_over_scores() {
    // By score "▁h" merges first ("hel" -> ▁h e l, as transformers gives above); a file that
    // lists its merges gets exactly those, here only "h e".
    let v = synthetic("llama");
    let mut kvs = synthetic_kvs(&v);
    set(
        &mut kvs,
        "tokenizer.ggml.merges",
        Meta::Strs(vec!["h e".into()]),
    );
    let tok = TextTokenizer::from_gguf_path(write_gguf("merges", &kvs)).unwrap();
    let id = |t: &str| tok.token_to_id(t).unwrap();
    assert_eq!(
        tok.encode_with("hel", false).unwrap(),
        [id("▁"), id("he"), id("l")]
    );
}
