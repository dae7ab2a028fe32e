//! A `tokenizer.json` (what a safetensors checkpoint folder brings, and what `painters tokenize`
//! and the BERT commands read): any file content loads or gives a typed error; a tokenizer that
//! loads encodes and decodes text without panicking, and its ids are in its vocabulary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use painters_llama::tokenizer::TextTokenizer;

const TEXTS: &[&str] = &[
    "The quick brown fox jumps over the lazy dog.",
    "",
    "  two  spaces\tand\na newline",
    "naïve café — 東京 🎨",
    "<|im_start|>user\nhi<|im_end|>",
];

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let path = painters_fuzz::scratch_dir().join("tokenizer.json");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(tok) = TextTokenizer::from_file(&path) else {
        return;
    };
    let vocab = tok.vocab_size();
    for text in TEXTS {
        for special in [false, true] {
            let Ok(ids) = tok.encode_with(text, special) else {
                continue;
            };
            let _ = tok.decode(&ids, true);
            let _ = tok.decode(&ids, false);
            for &id in &ids {
                assert!(
                    (id as usize) < vocab.max(1) || tok.hf().id_to_token(id).is_some(),
                    "id {id} outside a vocabulary of {vocab}"
                );
            }
        }
    }
});
