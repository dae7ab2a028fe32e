//! GGUF sources of every family llama.cpp writes that painters loads, made from the tiny family
//! fixtures the way llama.cpp's converter writes them (GGUF names, Llama's Q/K rows permuted,
//! Gemma's norms stored as `1 + w`), exported to HF folders and to GGUF: the exports' plain logits
//! equal the GGUF source's scheduled logits, and a Gemma 2 reordering that llama.cpp cannot
//! express is refused as GGUF but written as HF.
//!
//! With `PAINTERS_EXPORT_CHECK_DIR=<dir>` the HF exports and painters' logits are also written to
//! `<dir>/gguf-<family>__<schedule>/` for `scripts/check-export.py` (transformers).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters::LayerSchedule;
use painters::weights::{SafetensorsFile, TensorSource};

use super::weights::module_map;
use super::{
    ExportError, ExportFormat, ExportOptions, export, scheduled_logits, write_logits_file,
};
use crate::DecoderModel;
use crate::family::names::{GGUF, GGUF_PHI3, TensorNames};
use crate::gguf::permute_rope_rows;
use crate::gguf::test_util::GgufBuilder;

fn fixture(dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests")
        .join(dir)
        .join("models")
        .join(name)
}

/// HF module → GGUF module of one family: the export's map inverted. Llama-style HF names use
/// `post_attention_layernorm` for the MLP's norm, which only Gemma's sandwich has apart.
fn to_gguf(
    hf: &TensorNames,
    gguf: &TensorNames,
    gemma: bool,
) -> HashMap<&'static str, &'static str> {
    module_map(gguf, hf)
        .unwrap()
        .into_iter()
        .filter(|&(g, _)| gemma || (g != gguf.post_attn_norm && g != gguf.post_mlp_norm))
        .map(|(g, h)| (h, g))
        .collect()
}

/// The fixture `name` (HF) written as a llama.cpp GGUF of architecture `arch`.
fn gguf_of(dir: &str, name: &str, arch: &str) -> PathBuf {
    let path = fixture(dir, name);
    let config = crate::DecoderConfig::from_hf_file(&path).unwrap();
    let st = SafetensorsFile::open(path.join("model.safetensors")).unwrap();
    let hf = config.family.hf_names();
    let gguf = if arch == "phi3" { &GGUF_PHI3 } else { &GGUF };
    let gemma = arch.starts_with("gemma");
    let modules = to_gguf(hf, gguf, gemma);
    let key = |k: &str| format!("{arch}.{k}");
    // The GGUF's base is the global layers' (Gemma 3's sliding layers use llama.cpp's fixed 10 000).
    let global_theta = config
        .layers
        .iter()
        .find(|l| l.window.is_none())
        .map_or(config.rope_theta(), |l| config.ropes[l.rope].theta);
    let mut b = GgufBuilder::new()
        .kv_str("general.architecture", arch)
        .kv_u32(&key("block_count"), config.num_hidden_layers as u32)
        .kv_u32(
            &key("context_length"),
            config.max_position_embeddings as u32,
        )
        .kv_u32(&key("embedding_length"), config.hidden_size as u32)
        .kv_u32(&key("feed_forward_length"), config.intermediate_size as u32)
        .kv_u32(
            &key("attention.head_count"),
            config.num_attention_heads as u32,
        )
        .kv_u32(
            &key("attention.head_count_kv"),
            config.num_key_value_heads as u32,
        )
        .kv_u32(&key("attention.key_length"), config.head_dim as u32)
        .kv_u32(
            &key("rope.dimension_count"),
            config.ropes[0].rotary_dims as u32,
        )
        .kv_f32(&key("rope.freq_base"), global_theta as f32)
        .kv_f32(
            &key("attention.layer_norm_rms_epsilon"),
            config.arch.norm_eps as f32,
        )
        .kv_u32("tokenizer.ggml.bos_token_id", 1)
        .kv_u32("tokenizer.ggml.eos_token_id", 2);
    if let Some(w) = config.layers.iter().find_map(|l| l.window) {
        b = b.kv_u32(&key("attention.sliding_window"), w as u32);
    }
    for (k, v) in [
        ("attn_logit_softcapping", config.arch.attn_softcap),
        ("final_logit_softcapping", config.arch.final_softcap),
    ] {
        if let Some(v) = v {
            b = b.kv_f32(&key(k), v as f32);
        }
    }
    for hf_name in st.names() {
        let t = st.read(&hf_name).unwrap();
        let mut data = t.data.clone();
        let gguf_name = match hf_name.as_str() {
            n if n == format!("{}.weight", hf.embed) => "token_embd.weight".to_string(),
            n if n == format!("{}.weight", hf.final_norm) => "output_norm.weight".to_string(),
            n if n == format!("{}.weight", hf.head) => "output.weight".to_string(),
            n => {
                let rest = n.strip_prefix(hf.layers).unwrap();
                let (i, rest) = rest.split_once('.').unwrap();
                let (module, param) = rest.rsplit_once('.').unwrap();
                format!("blk.{i}.{}.{param}", modules[module])
            }
        };
        let is_norm = gguf_name.ends_with("norm.weight");
        if gemma && is_norm {
            data.iter_mut().for_each(|x| *x += 1.0);
        }
        if arch == "llama"
            && let [rows, cols] = t.shape[..]
        {
            if gguf_name.ends_with("attn_q.weight") {
                data = permute_rope_rows(&data, rows, cols, config.num_attention_heads).unwrap();
            } else if gguf_name.ends_with("attn_k.weight") {
                data = permute_rope_rows(&data, rows, cols, config.num_key_value_heads).unwrap();
            }
        }
        let dims: Vec<u64> = t.shape.iter().rev().map(|&d| d as u64).collect();
        b = b.tensor_f32(&gguf_name, &dims, &data);
    }
    b.write(&format!("{name}-as-{arch}"))
}

fn ids() -> Vec<Vec<u32>> {
    (0..2)
        .map(|r| (0..20).map(|i| 3 + (i * 41 + r * 97) % 253).collect())
        .collect()
}

fn logits(path: &Path, schedule: &LayerSchedule) -> (Vec<usize>, Vec<f32>) {
    let m = DecoderModel::load(path, &Device::flex()).unwrap();
    scheduled_logits(&m, schedule, &ids()).unwrap()
}

#[test]
fn gguf_sources_of_every_family_export_to_hf_and_gguf() {
    let check_dir = std::env::var_os("PAINTERS_EXPORT_CHECK_DIR").map(PathBuf::from);
    let tmp = std::env::temp_dir().join(format!("painters-export-gguf-src-{}", std::process::id()));
    let cases = [
        ("fixtures", "tiny-llama", "llama"),
        ("fixtures-families", "tiny-qwen2", "qwen2"),
        ("fixtures-families", "tiny-qwen3", "qwen3"),
        ("fixtures-families", "tiny-gemma2", "gemma2"),
        ("fixtures-families", "tiny-gemma3", "gemma3"),
        ("fixtures-families", "tiny-phi3", "phi3"),
    ];
    // Gemma 2 GGUF layers alternate sliding/global from layer 0 and Gemma 3 GGUF layers are
    // global every sixth: "keep" keeps both patterns; "reverse" breaks Gemma 2's.
    let keep = [("keep", "0..6, 0, 1")];
    for (dir, name, arch) in cases {
        let src = gguf_of(dir, name, arch);
        for (sname, text) in keep.iter().chain(&[("reverse", "0, 4, 3, 2, 1, 5")]) {
            let schedule: LayerSchedule = text.parse().unwrap();
            let (shape, want) = logits(&src, &schedule);
            let case = format!("gguf-{arch}__{sname}");
            let hf = match &check_dir {
                Some(d) => d.join(&case).join("model"),
                None => tmp.join(&case),
            };
            let mut opts = ExportOptions::new(ExportFormat::Hf);
            opts.overwrite = true;
            opts.skip_tokenizer = true;
            export(&src, &schedule, &hf, &opts).unwrap_or_else(|e| panic!("{case}: {e}"));
            let n = schedule.block_applications().len();
            let (s, got) = logits(&hf, &LayerSchedule::full(n));
            assert_eq!(s, shape);
            let d = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(d <= 1e-5, "{case}: HF export differs by {d}");
            if let Some(d) = &check_dir {
                let source = src.display().to_string();
                let meta = [("schedule", *text), ("source", source.as_str())];
                write_logits_file(
                    &d.join(&case).join("logits.safetensors"),
                    &ids(),
                    &shape,
                    &want,
                    &meta,
                )
                .unwrap();
            }

            let out = tmp.join(format!("{case}.gguf"));
            let gguf = ExportOptions {
                overwrite: true,
                ..ExportOptions::new(ExportFormat::Gguf)
            };
            let r = export(&src, &schedule, &out, &gguf);
            if *sname == "reverse" && arch == "gemma2" {
                // Block 4 (sliding) lands on layer 1, which llama.cpp makes global.
                let e = r.unwrap_err();
                assert!(
                    matches!(
                        e,
                        ExportError::Inexpressible {
                            layer: 1,
                            block: 4,
                            ..
                        }
                    ),
                    "{case}: {e:?}"
                );
                continue;
            }
            r.unwrap_or_else(|e| panic!("{case}: {e}"));
            let (_, got) = logits(&out, &LayerSchedule::full(n));
            assert_eq!(got, want, "{case}: the GGUF export differs");
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
