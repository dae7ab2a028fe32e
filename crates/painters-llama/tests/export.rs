//! Export of the tiny fixture models (HF folders → HF folders): for Llama (untied and tied) and the
//! seven family fixtures, under skip, reverse, middle-repeat and a custom sequence schedule, the
//! exported folder loaded by painters and run under its identity schedule gives the source model's
//! scheduled logits exactly (the weights are the same bytes). What cannot be exported is refused.
//!
//! With `PAINTERS_EXPORT_CHECK_DIR=<dir>`, every export and painters' logits for it are also
//! written to `<dir>/<model>__<schedule>/{model/, logits.safetensors}` for
//! `scripts/check-export.py --cases <dir>`, which runs the exported folders in transformers.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters::LayerSchedule;
use painters::weights::{SafetensorsFile, TensorSource};
use painters_llama::DecoderModel;
use painters_llama::export::{
    ExportDtype, ExportError, ExportFormat, ExportOptions, compare_export, export, read_config,
    scheduled_logits, write_logits_file,
};
use safetensors::tensor::{Dtype, SafeTensors};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("painters-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every tiny decoder fixture: (name, folder).
fn models() -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![
        (
            "tiny-llama",
            root().join("tests/fixtures/models/tiny-llama"),
        ),
        (
            "tiny-llama-tied",
            root().join("tests/fixtures/models/tiny-llama-tied"),
        ),
    ];
    for f in [
        "tiny-qwen2",
        "tiny-qwen3",
        "tiny-mistral",
        "tiny-gemma2",
        "tiny-gemma3",
        "tiny-phi3",
        "tiny-gpt-neox",
    ] {
        v.push((f, root().join("tests/fixtures-families/models").join(f)));
    }
    v
}

/// The fixtures' named schedules on 6 blocks with N = 2 (see tests/fixtures/README.md), and a
/// custom sequence.
const SCHEDULES: &[(&str, &str)] = &[
    ("skip_n2", "0, 1, 4, 5"),
    ("reverse_n2", "0, 1, 3, 2, 4, 5"),
    ("middle_repeat_n2", "0, 1, 3x2, 4, 5"),
    ("custom", "5, 0, 2x3, 1..3, 4"),
];

/// Two rows of 20 ids in [3, 256): longer than the sliding windows (4) of the windowed fixtures.
fn ids() -> Vec<Vec<u32>> {
    (0..2)
        .map(|r| (0..20).map(|i| 3 + (i * 37 + r * 101) % 253).collect())
        .collect()
}

#[test]
fn every_tiny_family_exports_exactly_under_every_schedule() {
    let check_dir = std::env::var_os("PAINTERS_EXPORT_CHECK_DIR").map(PathBuf::from);
    let dir = scratch("families");
    let device = Device::flex();
    for (name, path) in models() {
        for (sname, text) in SCHEDULES {
            let schedule: LayerSchedule = text.parse().unwrap();
            let out = match &check_dir {
                Some(d) => d.join(format!("{name}__{sname}")).join("model"),
                None => dir.join(format!("{name}__{sname}")),
            };
            let mut opts = ExportOptions::new(ExportFormat::Hf);
            opts.overwrite = true;
            let report = export(&path, &schedule, &out, &opts)
                .unwrap_or_else(|e| panic!("{name} {sname}: {e}"));
            assert_eq!(report.blocks, schedule.block_applications());
            let cmp = compare_export(&path, &schedule, &out, &ids(), &device).unwrap();
            assert_eq!(cmp.shape, vec![2, 20, 256]);
            assert_eq!(
                cmp.max_abs_diff, 0.0,
                "{name} {sname}: the export's logits differ from the schedule's by {}",
                cmp.max_abs_diff
            );
            if let Some(d) = &check_dir {
                let model = DecoderModel::load(&path, &device).unwrap();
                let (shape, logits) = scheduled_logits(&model, &schedule, &ids()).unwrap();
                let case = d.join(format!("{name}__{sname}"));
                write_logits_file(
                    &case.join("logits.safetensors"),
                    &ids(),
                    &shape,
                    &logits,
                    &[("schedule", text), ("source", &path.display().to_string())],
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn the_exported_folder_is_a_plain_checkpoint() {
    let dir = scratch("folder");
    let src = root().join("tests/fixtures-families/models/tiny-gemma3");
    let schedule: LayerSchedule = "0, 4, 3, 2, 1, 5, 5".parse().unwrap();
    let out = dir.join("gemma3-painted");
    export(&src, &schedule, &out, &ExportOptions::new(ExportFormat::Hf)).unwrap();

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["num_hidden_layers"], 7);
    // Source layer_types: s s F s s F; blocks 0 4 3 2 1 5 5.
    let s = "sliding_attention";
    let f = "full_attention";
    assert_eq!(
        config["layer_types"],
        serde_json::json!([s, s, s, f, s, f, f])
    );
    // The fixed pattern (every third layer global) no longer holds, so it is not written.
    assert!(config.get("sliding_window_pattern").is_none());
    assert_eq!(
        config["rope_parameters"]["sliding_attention"]["rope_theta"],
        10000.0
    );

    // Block 5 twice: two real copies, with the same bytes as the source's block 5.
    let src_st = SafetensorsFile::open(src.join("model.safetensors")).unwrap();
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let want = src_st.read("model.layers.5.mlp.down_proj.weight").unwrap();
    for j in [5, 6] {
        let t = st
            .tensor(&format!("model.layers.{j}.mlp.down_proj.weight"))
            .unwrap();
        let got: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, want.data, "layer {j}");
    }
    assert!(st.tensor("model.layers.7.mlp.down_proj.weight").is_err());
    let names = src_st.names();
    let per_layer = names
        .iter()
        .filter(|n| n.starts_with("model.layers.0."))
        .count();
    let other = names
        .iter()
        .filter(|n| !n.starts_with("model.layers."))
        .count();
    assert_eq!(st.len(), other + 7 * per_layer);

    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.contains("`0, 4..=1, 5, 5`"), "{readme}");
    let sha = painters_llama_sha(&src.join("model.safetensors"));
    assert!(readme.contains(&sha), "{readme}");
    assert!(readme.contains("layer_range: [4, 5]"), "{readme}");
    assert!(out.join("generation_config.json").is_file());
    // No temporary sibling is left behind.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("gemma3-painted")]);
}

/// sha256 via the `sha2` crate, independent of the export code path.
fn painters_llama_sha(path: &Path) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(std::fs::read(path).unwrap());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_bf16_export_rounds_each_weight_as_half_does() {
    let dir = scratch("bf16");
    let src = root().join("tests/fixtures-families/models/tiny-qwen2");
    let schedule: LayerSchedule = "1, 0".parse().unwrap();
    let out = dir.join("qwen2-bf16");
    let mut opts = ExportOptions::new(ExportFormat::Hf);
    opts.dtype = Some(ExportDtype::Bf16);
    export(&src, &schedule, &out, &opts).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["dtype"], "bfloat16");
    let src_st = SafetensorsFile::open(src.join("model.safetensors")).unwrap();
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    for (from, to) in [
        (
            "model.layers.0.self_attn.q_proj.bias",
            "model.layers.1.self_attn.q_proj.bias",
        ),
        (
            "model.layers.1.mlp.up_proj.weight",
            "model.layers.0.mlp.up_proj.weight",
        ),
        ("model.embed_tokens.weight", "model.embed_tokens.weight"),
    ] {
        let t = st.tensor(to).unwrap();
        assert_eq!(t.dtype(), Dtype::BF16);
        let want: Vec<u8> = src_st
            .read(from)
            .unwrap()
            .data
            .iter()
            .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
            .collect();
        assert_eq!(t.data(), &want[..], "{to}");
    }
    // painters loads it (bf16 → f32) and it computes close to the f32 schedule.
    let cmp = compare_export(&src, &schedule, &out, &ids(), &Device::flex()).unwrap();
    assert!(cmp.max_abs_diff < 0.05 * cmp.max_abs, "{cmp:?}");
}

#[test]
fn small_shards_and_an_index_load_back() {
    let dir = scratch("shards");
    let src = root().join("tests/fixtures/models/tiny-llama");
    let schedule: LayerSchedule = "0..3, 2..6".parse().unwrap();
    let out = dir.join("sharded");
    let mut opts = ExportOptions::new(ExportFormat::Hf);
    opts.max_shard_bytes = 100_000;
    let r = export(&src, &schedule, &out, &opts).unwrap();
    assert!(out.join("model.safetensors.index.json").is_file());
    assert!(!out.join("model.safetensors").exists());
    let shards = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("model-")
        })
        .count();
    assert!(shards > 2, "{shards} shards");
    assert_eq!(r.tensors, 3 + 7 * 9);
    let cmp = compare_export(&src, &schedule, &out, &ids(), &Device::flex()).unwrap();
    assert_eq!(cmp.max_abs_diff, 0.0);
    // The export of an export keeps going (sharded source).
    let again = dir.join("again");
    export(
        &out,
        &"6, 0".parse().unwrap(),
        &again,
        &ExportOptions::new(ExportFormat::Hf),
    )
    .unwrap();
    // Layer 6 of `0..3, 2..6` is block 5.
    let cmp = compare_export(
        &src,
        &"5, 0".parse().unwrap(),
        &again,
        &ids(),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(cmp.max_abs_diff, 0.0);
}

#[test]
fn what_cannot_be_exported_is_refused_before_writing() {
    let dir = scratch("refused");
    let src = root().join("tests/fixtures/models/tiny-llama");
    let hf = ExportOptions::new(ExportFormat::Hf);
    let out = dir.join("out");

    let e = export(&src, &"0, par(1..=3)x2, 4, 5".parse().unwrap(), &out, &hf).unwrap_err();
    assert!(matches!(e, ExportError::Schedule(_)), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("step 1 (`par(1..=3)x2`) averages the outputs of 3 branches"),
        "{e}"
    );
    assert!(!out.exists());

    assert_eq!(read_config(&src).unwrap().num_hidden_layers, 6);
    let e = export(&src, &"0, 6".parse().unwrap(), &out, &hf)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("block 6 is out of range: the model has 6 blocks"),
        "{e}"
    );

    let e = export(&src, &LayerSchedule::empty(), &out, &hf)
        .unwrap_err()
        .to_string();
    assert!(e.contains("runs no block"), "{e}");

    let gguf = dir.join("out.gguf");
    let e = export(
        &src,
        &LayerSchedule::full(6),
        &gguf,
        &ExportOptions::new(ExportFormat::Gguf),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("convert_hf_to_gguf.py"), "{e}");

    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "keep me").unwrap();
    let e = export(&src, &LayerSchedule::full(6), &out, &hf).unwrap_err();
    assert!(matches!(e, ExportError::OutputExists { .. }), "{e}");
    assert_eq!(
        std::fs::read_to_string(out.join("mine.txt")).unwrap(),
        "keep me"
    );

    let e = export(
        &src,
        &LayerSchedule::full(6),
        &src,
        &ExportOptions {
            overwrite: true,
            ..hf.clone()
        },
    )
    .unwrap_err();
    assert!(matches!(e, ExportError::OutputIsSource { .. }), "{e}");
    assert!(src.join("model.safetensors").is_file());

    // A config list with one entry per layer that painters does not know is refused by name.
    let odd = dir.join("odd-src");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::copy(src.join("model.safetensors"), odd.join("model.safetensors")).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    cfg["per_layer_scale"] = serde_json::json!([1, 1, 1, 1, 1, 1]);
    std::fs::write(odd.join("config.json"), cfg.to_string()).unwrap();
    let e = export(&odd, &LayerSchedule::full(6), &dir.join("odd"), &hf)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`per_layer_scale` has one entry per layer"),
        "{e}"
    );

    // A config that counts a block the weights do not have.
    cfg.as_object_mut().unwrap().remove("per_layer_scale");
    cfg["num_hidden_layers"] = 7.into();
    std::fs::write(odd.join("config.json"), cfg.to_string()).unwrap();
    let e = export(&odd, &"0, 6".parse().unwrap(), &dir.join("odd"), &hf)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tensor `model.layers.6.*`: the checkpoint has no tensors of block 6, though its configuration says 7 blocks"), "{e}");
    assert!(!dir.join("odd").exists());
}
