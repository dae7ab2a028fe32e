//! Integration test on the real SmolLM2-135M-Instruct Q4_1 GGUF: metadata, the embedded tokenizer
//! against HF's reference ids, and dequantisation of real Q8_0 / Q4_1 / F32 tensors.
//!
//! The model is not in the repository. It is looked up in `$PAINTERS_MODELS_DIR` if set, else in
//! `<workspace>/models`; `scripts/fetch-models.sh` puts it there. A missing file fails the test
//! (it is never skipped), so a green run always means the real file was checked.

use std::path::PathBuf;

use painters_llama::gguf::{
    GgmlType, GgufFile, llama_config_from_gguf, permute_rope_rows, unpermute_rope_rows,
};
use painters_llama::tokenizer::{SpecialTokenIds, TextTokenizer};

const MODEL_REL: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model_path() -> PathBuf {
    let dir = std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("models"));
    let path = dir.join(MODEL_REL);
    assert!(
        path.is_file(),
        "SmolLM2 GGUF not found at {}.\nRun `scripts/fetch-models.sh` (or \
         `bash scripts/fetch-models.sh <dir>` and set PAINTERS_MODELS_DIR=<dir>) to download it.",
        path.display()
    );
    path
}

fn open() -> GgufFile {
    let path = model_path();
    GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn smollm2_metadata() {
    let f = open();
    assert_eq!(f.version(), 3);
    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    let m = llama_config_from_gguf(&f).unwrap();
    assert_eq!(m.block_count, 30);
    assert_eq!(m.embedding_length, 576);
    assert_eq!(m.feed_forward_length, 1536);
    assert_eq!(m.head_count, 9);
    assert_eq!(m.head_count_kv, 3);
    assert_eq!(m.head_dim(), 64);
    assert_eq!(m.rope_freq_base, 100000.0);
    assert_eq!(m.rms_eps, 1e-5);
    assert_eq!(m.context_length, 8192);
    assert_eq!(m.vocab_size, 49152);
    assert_eq!(m.rope_dimension_count, Some(64));

    // 30 blocks x 9 tensors + token_embd + output_norm; the head is tied (no output.weight)
    assert_eq!(f.tensors().len(), 272);
    assert!(f.tensor_info("output.weight").is_none());
    let ty = |n: &str| f.tensor_info(n).unwrap().ggml_type;
    assert_eq!(ty("token_embd.weight"), GgmlType::Q8_0);
    assert_eq!(ty("output_norm.weight"), GgmlType::F32);
    for b in [0, 29] {
        for t in [
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
        ] {
            assert_eq!(
                ty(&format!("blk.{b}.{t}.weight")),
                GgmlType::Q4_1,
                "blk.{b}.{t}"
            );
        }
        for t in ["attn_norm", "ffn_norm"] {
            assert_eq!(
                ty(&format!("blk.{b}.{t}.weight")),
                GgmlType::F32,
                "blk.{b}.{t}"
            );
        }
    }
}

#[test]
fn smollm2_tokenizer_matches_reference_ids() {
    let f = open();
    assert_eq!(f.get_str("tokenizer.ggml.model").unwrap(), "gpt2");
    assert_eq!(f.get_str("tokenizer.ggml.pre").unwrap(), "smollm");
    let tok = TextTokenizer::from_gguf(&f).unwrap();
    assert!(!tok.adds_bos());
    assert_eq!(
        tok.special_tokens(),
        SpecialTokenIds {
            bos: Some(1),
            eos: Some(2),
            unk: Some(0),
            pad: Some(2)
        }
    );
    assert_eq!(tok.vocab_size(), 49152);

    let fixture = workspace_root().join("tests/fixtures/inputs/texts.json");
    let json =
        std::fs::read_to_string(&fixture).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cases = v["smollm2"]
        .as_array()
        .expect("texts.json has a smollm2 list");
    assert_eq!(cases.len(), 2);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
            .collect();
        let got = tok.encode(text).unwrap();
        assert_eq!(got, want, "ids for {text:?}");
        let want_tokens: Vec<&str> = case["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        let got_tokens = tok.hf().encode(text, true).unwrap().get_tokens().to_vec();
        assert_eq!(got_tokens, want_tokens, "tokens for {text:?}");
        assert_eq!(tok.decode(&got, false).unwrap(), text);
    }

    // chat markup is matched as special tokens
    let ids = tok.encode("<|im_start|>user\nHi<|im_end|>").unwrap();
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    // the "smollm" pre-tokenizer splits numbers into single digits
    let ids = tok.encode("2024").unwrap();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(tok.decode(&ids, false).unwrap(), "2024");
}

#[test]
fn smollm2_dequantises_real_tensors() {
    let f = open();

    // token_embd: Q8_0, GGUF dims [576, 49152] -> HF [49152, 576]
    let (shape, emb) = f.tensor_f32("token_embd.weight").unwrap();
    assert_eq!(shape, [49152, 576]);
    assert_eq!(emb.len(), 49152 * 576);
    assert!(emb.iter().all(|x| x.is_finite()));
    assert!(emb.iter().any(|&x| x != 0.0));
    // first block by hand: f16 scale then 32 x i8
    let raw = f.tensor_bytes("token_embd.weight").unwrap();
    let d = half::f16::from_bits(u16::from_le_bytes([raw[0], raw[1]])).to_f32();
    for j in 0..32 {
        assert_eq!(emb[j], f32::from(raw[2 + j] as i8) * d, "element {j}");
    }

    // a Q4_1 projection: attn_q [576, 576]; first block by hand: d, m, then nibbles
    let (shape, q) = f.tensor_f32("blk.0.attn_q.weight").unwrap();
    assert_eq!(shape, [576, 576]);
    assert!(q.iter().all(|x| x.is_finite()));
    let raw = f.tensor_bytes("blk.0.attn_q.weight").unwrap();
    let d = half::f16::from_bits(u16::from_le_bytes([raw[0], raw[1]])).to_f32();
    let m = half::f16::from_bits(u16::from_le_bytes([raw[2], raw[3]])).to_f32();
    for j in 0..16 {
        assert_eq!(q[j], f32::from(raw[4 + j] & 15) * d + m);
        assert_eq!(q[j + 16], f32::from(raw[4 + j] >> 4) * d + m);
    }
    // and back to HF row order (9 query heads); the permutation round-trips
    let hf_q = unpermute_rope_rows(&q, 576, 576, 9).unwrap();
    assert_eq!(permute_rope_rows(&hf_q, 576, 576, 9).unwrap(), q);

    // attn_k [192, 576] uses the 3 KV heads
    let (shape, k) = f.tensor_f32("blk.29.attn_k.weight").unwrap();
    assert_eq!(shape, [192, 576]);
    assert!(k.iter().all(|x| x.is_finite()));
    assert_eq!(unpermute_rope_rows(&k, 192, 576, 3).unwrap().len(), k.len());

    // ffn_down: GGUF [1536, 576] -> HF [576, 1536]
    let (shape, down) = f.tensor_f32("blk.0.ffn_down.weight").unwrap();
    assert_eq!(shape, [576, 1536]);
    assert!(down.iter().all(|x| x.is_finite()));

    // norms are F32
    let (shape, norm) = f.tensor_f32("output_norm.weight").unwrap();
    assert_eq!(shape, [576]);
    assert!(norm.iter().all(|x| x.is_finite() && *x != 0.0));
}
