//! Weights kept in their storage precision (`--weights f16|bf16|native`) compute what the exact f32
//! path computes, within each mode's stated tolerance, on every fixture family and on the real
//! SmolLM2 (Q4_1) and Gemma-3 (Q4_K_M) GGUFs. The f32 path itself is held to the PyTorch goldens by
//! the conformance suite; here it is the reference.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan};
use painters_llama::{DecoderInput, DecoderModel, LoadOptions, WeightMode};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn logits(model: &DecoderModel, ids: &[u32]) -> Vec<f32> {
    let n = model.num_blocks();
    let plan = Plan::compile(&LayerSchedule::full(n), n, KvMode::Exact).unwrap();
    let input = DecoderInput::new(&[ids.to_vec()]).unwrap();
    model
        .forward(&plan, &input, None, &mut ())
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

fn load(path: &Path, weights: WeightMode) -> DecoderModel {
    DecoderModel::load_with(
        path,
        &Device::flex(),
        LoadOptions {
            weights,
            exec: None,
        },
    )
    .unwrap()
}

/// Max |a − b| over the logits, relative to the largest |logit| of the reference.
///
/// Tolerances, measured on the fixtures: f32 stored as packed f32 ≤ 2.2e-6 (summation order only);
/// f16 ≤ 5.4e-3 and bf16 ≤ 4.3e-2 (the weights' rounding, through 6 blocks of std-0.2 weights).
fn rel_max_diff(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

#[test]
fn every_family_in_every_mode_is_within_tolerance_of_f32() {
    let ids: Vec<u32> = (0..12).map(|i| 3 + (i * 37) % 250).collect();
    let mut models: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/fixtures-families/models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    models.push(repo().join("tests/fixtures/models/tiny-llama"));
    models.sort();
    assert_eq!(models.len(), 8);
    for path in &models {
        let exact = logits(&load(path, WeightMode::F32), &ids);
        // Native on these f32 files is the f32 path up to summation order; the half modes are
        // held to their stated tolerances.
        for (mode, tol) in [
            (WeightMode::Native, 1e-5),
            (WeightMode::F16, WeightMode::F16.logit_tolerance()),
            (WeightMode::BF16, WeightMode::BF16.logit_tolerance()),
        ] {
            let m = load(path, mode);
            assert_eq!(m.weight_mode(), mode);
            let got = logits(&m, &ids);
            let d = rel_max_diff(&got, &exact);
            println!(
                "{} {mode}: {d:.2e}",
                path.file_name().unwrap().to_string_lossy()
            );
            assert!(
                d <= tol,
                "{} {mode}: relative max difference {d:.2e} > {tol:e}",
                path.display()
            );
            if mode != WeightMode::Native {
                assert!(d > 0.0, "{mode} should round the weights");
            }
        }
    }
}

#[test]
fn quantised_ggufs_keep_their_blocks_and_agree_with_the_dequantised_path() {
    for (file, ids) in [
        (
            "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
            vec![1u32, 504, 3458, 282, 4649, 314],
        ),
        (
            "gemma3-270m/gemma-3-270m-q4_k_m.gguf",
            vec![2, 818, 5279, 529, 7001, 563],
        ),
    ] {
        let path = repo().join("models").join(file);
        assert!(
            path.exists(),
            "{} is missing: run scripts/fetch-models.sh",
            path.display()
        );
        let exact_model = load(&path, WeightMode::F32);
        let native = load(&path, WeightMode::Native);
        let ratio = native.weight_bytes() as f64 / std::fs::metadata(&path).unwrap().len() as f64;
        println!(
            "{file}: native weights {:.1} MB = {ratio:.2} × the file",
            native.weight_bytes() as f64 / 1e6
        );
        assert!(
            ratio < 1.05,
            "native weights should be about the file's size, are {ratio:.2}×"
        );
        assert!(exact_model.weight_bytes() as f64 > 3.0 * native.weight_bytes() as f64);
        let exact = logits(&exact_model, &ids);
        let got = logits(&native, &ids);
        let d = rel_max_diff(&got, &exact);
        let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        let diff: Vec<f32> = got.iter().zip(&exact).map(|(a, b)| a - b).collect();
        let vocab = native.config().vocab_size;
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
                .0
        };
        let tops: Vec<(usize, usize)> = got
            .chunks(vocab)
            .zip(exact.chunks(vocab))
            .map(|(a, b)| (argmax(a), argmax(b)))
            .collect();
        println!(
            "{file}: native vs f32 relative max difference {d:.2e}, rms diff / rms {:.2e}, argmax {tops:?}",
            rms(&diff) / rms(&exact)
        );
        // 8-bit activations (as llama.cpp's Q8 activation blocks): measured 5.5e-2 (SmolLM2,
        // whose residual stream carries |h| ≈ 3000 outliers) and 2.5e-2 (Gemma-3) on AVX-512.
        assert!(rms(&diff) / rms(&exact) < 0.08, "{file}");
        assert!(d < 0.15, "{file}: {d:.2e}");
        let same = tops.iter().filter(|(a, b)| a == b).count();
        assert!(
            same + 1 >= tops.len(),
            "{file}: argmax differs at more than one position: {tops:?}"
        );
    }
}
