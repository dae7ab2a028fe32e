//! Helpers shared by the test binaries that run the real models or the `painters` binary. Each test
//! binary uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A real model fetched by `scripts/fetch-models.sh`; a missing one fails the test, never skips it.
fn fetched(rel: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(
        p.exists(),
        "{} missing; run scripts/fetch-models.sh",
        p.display()
    );
    p
}

/// SmolLM2-135M-Instruct (GGUF Q4_1).
pub fn smollm2() -> PathBuf {
    fetched("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The all-MiniLM-L6-v2 folder.
pub fn minilm() -> PathBuf {
    fetched("models/all-minilm-l6-v2/model.safetensors");
    root().join("models/all-minilm-l6-v2")
}

/// An empty scratch folder for one test, unique to this process.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("painters-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the `painters` binary from the repository root: (success, stdout, stderr).
pub fn painters(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_painters"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Words of [`tiny_bert_with_tokenizer`]'s vocabulary (and of the tiny GLUE files tests write).
pub const TINY_BERT_WORDS: &[&str] = &[
    "the", "a", "cat", "dog", "sun", "sea", "red", "blue", "good", "bad", "film", "song", "is",
    "was", "very", "not", "big", "small", "and", "it", "runs", "sleeps", "same", "other", ".", ",",
    "?",
];

/// A copy of the tiny fixture BERT (`tests/fixtures/models/tiny-bert`: 6 layers, hidden 64, vocab
/// 256, 64 positions) in `dir/tiny-bert` with a `tokenizer.json` it lacks: a lower-casing WordPiece
/// tokenizer over [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0–4) and [`TINY_BERT_WORDS`] (ids 5…),
/// built like all-MiniLM-L6-v2's. Returns the model folder.
pub fn tiny_bert_with_tokenizer(dir: &std::path::Path) -> PathBuf {
    let src = root().join("tests/fixtures/models/tiny-bert");
    let out = dir.join("tiny-bert");
    std::fs::create_dir_all(&out).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), out.join(f)).unwrap();
    }
    let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
    let mut vocab = serde_json::Map::new();
    for (i, t) in specials.iter().chain(TINY_BERT_WORDS).enumerate() {
        vocab.insert(t.to_string(), serde_json::json!(i));
    }
    let added: Vec<serde_json::Value> = specials
        .iter()
        .enumerate()
        .map(|(i, t)| {
            serde_json::json!({"id": i, "special": true, "content": t, "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false})
        })
        .collect();
    let special =
        |name: &str, id: u32| serde_json::json!({"id": name, "ids": [id], "tokens": [name]});
    let tok = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": special("[CLS]", 2), "[SEP]": special("[SEP]", 3)},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab},
    });
    std::fs::write(out.join("tokenizer.json"), tok.to_string()).unwrap();
    out
}
