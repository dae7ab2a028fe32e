//! The real all-MiniLM-L6-v2 (BertModel, no `bert.` prefix) and its tokenizer.
//! A missing model directory fails these tests with the fetch instructions; it never skips them.

mod common;

use common::*;
use painters::LayerSchedule;
use painters_bert::sentence::cosine;
use painters_bert::{BertTokenizer, SentenceEncoder};

fn texts() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("inputs/texts.json")).expect("texts.json");
    serde_json::from_str(&text).expect("texts.json parses")
}

#[test]
fn loads_with_pooler_and_no_mlm_head() {
    let enc = SentenceEncoder::load(minilm_dir(), &device()).expect("loads");
    let m = enc.model();
    assert_eq!(m.layers.len(), 6);
    assert_eq!(m.config().hidden_size, 384);
    assert!(m.pooler.is_some(), "the checkpoint has a pooler");
    assert!(m.mlm.is_none());
    assert_eq!(
        enc.tokenizer().max_length(),
        128,
        "tokenizer.json truncates at 128"
    );
}

#[test]
fn tokenizer_reproduces_reference_ids() {
    let dir = minilm_dir();
    let tok = BertTokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
    let t = texts();
    let cases = t["minilm"].as_array().expect("minilm");
    for (k, case) in cases.iter().enumerate() {
        let text = case["text"].as_str().expect("text");
        let want: Vec<i64> = case["input_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_i64().expect("id"))
            .collect();
        let want_tokens: Vec<&str> = case["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|v| v.as_str().expect("token"))
            .collect();
        let got = tok.encode(text).expect("encode");
        assert_eq!(got.input_ids(), &want[..], "text {k}");
        assert_eq!(tok.tokens(text).expect("tokens"), want_tokens, "text {k}");
        let reference = read_input("inputs/minilm.safetensors", &format!("text{k}"));
        assert_eq!(got, reference, "text {k}: ids, mask and token types");
    }
    let texts: Vec<&str> = cases
        .iter()
        .map(|c| c["text"].as_str().expect("text"))
        .collect();
    let batch = tok.encode_batch(&texts).expect("batch");
    assert_eq!(
        batch,
        read_input("inputs/minilm.safetensors", "batch2"),
        "padded batch"
    );
}

#[test]
fn pairs_get_token_types_and_truncation() {
    let tok = BertTokenizer::from_file(minilm_dir()).expect("tokenizer");
    let p = tok.encode_pair("the dog", "a cat sat").expect("pair");
    // [CLS] the dog [SEP] a cat sat [SEP]
    assert_eq!(p.input_ids()[0], 101);
    assert_eq!(p.token_type_ids(), &[0, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!(p.input_ids().iter().filter(|&&i| i == 102).count(), 2);
    let long = "word ".repeat(500);
    let tok = tok.with_max_length(16).expect("max length");
    let p = tok
        .encode_pair_batch(&[(&long, &long), ("a", "b")])
        .expect("pairs");
    assert_eq!((p.batch(), p.seq()), (2, 16));
    assert_eq!(
        p.attention_mask()[16..],
        [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
}

#[test]
fn batched_embeddings_equal_single_ones() {
    let enc = SentenceEncoder::load(minilm_dir(), &device()).expect("loads");
    let t = texts();
    let texts: Vec<&str> = t["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|v| v.as_str().expect("text"))
        .collect();
    for schedule in [
        LayerSchedule::full(6),
        "0, par(1..=4), 5".parse().expect("schedule"),
    ] {
        let enc = SentenceEncoder::new(
            enc.model().clone(),
            BertTokenizer::for_model(minilm_dir(), enc.model().config()).expect("tok"),
        )
        .expect("encoder")
        .with_schedule(&schedule)
        .expect("schedule");
        let batch = enc.embed(&texts).expect("batch");
        for (k, text) in texts.iter().enumerate() {
            let alone = enc.embed(&[text]).expect("alone");
            let max = batch[k]
                .iter()
                .zip(&alone[0])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                max <= 1e-5,
                "{schedule}: text {k} differs by {max} between batch and alone"
            );
            let norm: f32 = alone[0].iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "normalised, got {norm}");
        }
    }
}

#[test]
fn similar_sentences_score_higher() {
    let enc = SentenceEncoder::load(minilm_dir(), &device()).expect("loads");
    let e = enc
        .embed(&[
            "A man is playing a guitar.",
            "Someone is playing an instrument.",
            "The stock market fell sharply today.",
            "A cat sleeps on the sofa.",
            "A kitten is napping on the couch.",
        ])
        .expect("embed");
    let close = cosine(&e[0], &e[1]);
    let far = cosine(&e[0], &e[2]);
    assert!(
        close > far + 0.2,
        "guitar/instrument {close} vs guitar/stocks {far}"
    );
    assert!(cosine(&e[3], &e[4]) > cosine(&e[3], &e[2]) + 0.2);
}
