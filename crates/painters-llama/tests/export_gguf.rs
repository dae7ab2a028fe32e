//! Export of the real GGUF models: SmolLM2-135M-Instruct (Q4_1, Llama) to GGUF and to an HF folder
//! under one custom sequence schedule, and Gemma-3-270M (Q4_K_M) to GGUF, whose sliding/global
//! layer pattern llama.cpp derives from the layer index.
//!
//! The models are not in the repository: `scripts/fetch-models.sh` puts them in
//! `<workspace>/models` (or `$PAINTERS_MODELS_DIR`). A missing file fails the test.
//! With `PAINTERS_EXPORT_CHECK_DIR=<dir>`, the SmolLM2 HF export and painters' logits for it are
//! written to `<dir>/smollm2__custom/` for `scripts/check-export.py`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters::LayerSchedule;
use painters_llama::export::{
    ExportError, ExportFormat, ExportOptions, export, scheduled_logits, write_logits_file,
};
use painters_llama::gguf::{GgmlType, GgufFile};
use painters_llama::{DecoderModel, load_tokenizer};

fn model(rel: &str) -> PathBuf {
    let dir = std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let path = dir.join(rel);
    assert!(
        path.is_file(),
        "{} not found; run `scripts/fetch-models.sh`",
        path.display()
    );
    path
}

fn smollm2() -> PathBuf {
    model("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn gemma3() -> PathBuf {
    model("gemma3-270m/gemma-3-270m-q4_k_m.gguf")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("painters-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Skip 10..15 reversed and block 12 twice: 32 layers from 30.
const SMOLLM2_SCHEDULE: &str = "0..=9, 14..=10, 12x2, 15..30";
const TEXT: &str = "The capital of France is Paris, and the capital of Italy is";

fn logits_of(path: &Path, schedule: &LayerSchedule, ids: &[Vec<u32>]) -> (Vec<usize>, Vec<f32>) {
    let m = DecoderModel::load(path, &Device::flex()).unwrap();
    scheduled_logits(&m, schedule, ids).unwrap()
}

#[test]
fn smollm2_exports_to_gguf_and_to_an_hf_folder_under_one_schedule() {
    let src = smollm2();
    let dir = match std::env::var_os("PAINTERS_EXPORT_CHECK_DIR") {
        Some(d) => PathBuf::from(d).join("smollm2__custom"),
        None => scratch("smollm2"),
    };
    let schedule: LayerSchedule = SMOLLM2_SCHEDULE.parse().unwrap();
    let tok = load_tokenizer(&src).unwrap();
    let ids = vec![tok.encode(TEXT).unwrap()];
    let (shape, want) = logits_of(&src, &schedule, &ids);

    // GGUF → GGUF: the same quantised bytes, renumbered.
    let out = dir.join("smollm2-painted.gguf");
    let mut opts = ExportOptions::new(ExportFormat::Gguf);
    opts.overwrite = true;
    let r = export(&src, &schedule, &out, &opts).unwrap();
    assert_eq!(r.blocks.len(), 32);
    let (a, b) = (GgufFile::open(&src).unwrap(), GgufFile::open(&out).unwrap());
    assert_eq!(b.get_u32("llama.block_count").unwrap(), 32);
    assert_eq!(b.tensors().len(), 2 + 32 * 9);
    assert_eq!(
        b.tensor_info("blk.16.attn_q.weight").unwrap().ggml_type,
        GgmlType::Q4_1
    );
    for (new, old) in [(10, 14), (15, 12), (16, 12), (31, 29)] {
        let name = |i: usize| format!("blk.{i}.ffn_down.weight");
        assert_eq!(
            b.tensor_bytes(&name(new)).unwrap(),
            a.tensor_bytes(&name(old)).unwrap()
        );
    }
    for key in [
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
        "tokenizer.chat_template",
    ] {
        assert_eq!(a.metadata(key), b.metadata(key), "{key}");
    }
    let (s, got) = logits_of(&out, &LayerSchedule::full(32), &ids);
    assert_eq!(s, shape);
    assert_eq!(max_abs_diff(&got, &want), 0.0, "GGUF export");

    // GGUF → HF folder: dequantised f32, Q/K permutation undone, tokenizer.json written.
    let hf = dir.join("model");
    let mut opts = ExportOptions::new(ExportFormat::Hf);
    opts.overwrite = true;
    export(&src, &schedule, &hf, &opts).unwrap();
    let (s, got) = logits_of(&hf, &LayerSchedule::full(32), &ids);
    assert_eq!(s, shape);
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-5, "HF export: max logit difference {d}");
    let exported_tok = load_tokenizer(&hf).unwrap();
    assert_eq!(exported_tok.encode_with(TEXT, true).unwrap(), ids[0]);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hf.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["num_hidden_layers"], 32);
    assert_eq!(config["tie_word_embeddings"], true);
    assert_eq!(config["rope_theta"], 100000.0);
    if std::env::var_os("PAINTERS_EXPORT_CHECK_DIR").is_some() {
        write_logits_file(
            &dir.join("logits.safetensors"),
            &ids,
            &shape,
            &want,
            &[
                ("schedule", SMOLLM2_SCHEDULE),
                ("source", &src.display().to_string()),
                ("text", TEXT),
            ],
        )
        .unwrap();
    } else {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn gemma3_gguf_export_keeps_llama_cpps_layer_pattern_or_refuses() {
    let src = gemma3();
    let dir = scratch("gemma3");
    let opts = ExportOptions::new(ExportFormat::Gguf);
    // 18 layers, every sixth global: blocks 6..18 again after 0..12 keep each global block at a
    // global position.
    let out = dir.join("gemma3-dup.gguf");
    let r = export(&src, &"0..12, 6..18".parse().unwrap(), &out, &opts).unwrap();
    assert_eq!(r.blocks.len(), 24);
    let (a, b) = (GgufFile::open(&src).unwrap(), GgufFile::open(&out).unwrap());
    assert_eq!(b.get_u32("gemma3.block_count").unwrap(), 24);
    assert_eq!(
        a.metadata("tokenizer.ggml.tokens"),
        b.metadata("tokenizer.ggml.tokens")
    );
    let q = |f: &GgufFile, i: usize| {
        f.tensor_bytes(&format!("blk.{i}.attn_q.weight"))
            .unwrap()
            .to_vec()
    };
    assert_eq!(q(&b, 23), q(&a, 17));
    assert_eq!(q(&b, 12), q(&a, 6));
    drop(b);

    // Reversing the middle moves global block 11 to layer 6 and sliding block 6 to layer 11.
    let bad = dir.join("gemma3-reversed.gguf");
    let e = export(&src, &"0..6, 11..=6, 12..18".parse().unwrap(), &bad, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            ExportError::Inexpressible {
                layer: 6,
                block: 11,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains(
            "its attention type cannot be expressed in a GGUF file of architecture gemma3"
        ),
        "{msg}"
    );
    assert!(!bad.exists());
    // The same schedule is fine as an HF folder (layer_types), checked before any weight is written.
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Gemma-3-270M to an HF folder (f32, ~1 GB), for `scripts/check-export.py` with transformers.
/// Outside CI: `PAINTERS_EXPORT_CHECK_DIR=/tmp/export-check cargo test --release -p painters-llama
/// --test export_gguf -- --ignored gemma3_to_hf`.
#[test]
#[ignore = "writes a 1 GB checkpoint; run by hand with PAINTERS_EXPORT_CHECK_DIR (docs/export.md)"]
fn gemma3_to_hf_for_transformers() {
    let src = gemma3();
    let dir = std::env::var_os("PAINTERS_EXPORT_CHECK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch("gemma3-hf"))
        .join("gemma3-270m__reverse");
    let text = "0..6, 11..=6, 12..18";
    let schedule: LayerSchedule = text.parse().unwrap();
    let hf = dir.join("model");
    let mut opts = ExportOptions::new(ExportFormat::Hf);
    opts.overwrite = true;
    export(&src, &schedule, &hf, &opts).unwrap();
    let ids = vec![load_tokenizer(&src).unwrap().encode(TEXT).unwrap()];
    assert_eq!(
        load_tokenizer(&hf)
            .unwrap()
            .encode_with(TEXT, true)
            .unwrap(),
        ids[0]
    );
    let (shape, want) = logits_of(&src, &schedule, &ids);
    let (s, got) = logits_of(&hf, &LayerSchedule::full(18), &ids);
    assert_eq!(s, shape);
    let d = max_abs_diff(&got, &want);
    assert!(d <= 1e-4, "max logit difference {d}");
    write_logits_file(
        &dir.join("logits.safetensors"),
        &ids,
        &shape,
        &want,
        &[
            ("schedule", text),
            ("source", &src.display().to_string()),
            ("text", TEXT),
        ],
    )
    .unwrap();
}
