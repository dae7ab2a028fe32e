//! Incremental decoding with per-slot KV caches on the tiny fixture Llama: cached generation equals
//! recomputing the whole sequence without a cache, for schedules with repeated blocks, loops and
//! parallel steps; the paper-averaged cache is the authors' approximation and differs.

use std::path::PathBuf;

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan};
use painters_llama::generate::{GenerateOptions, generate};
use painters_llama::{LlamaInput, LlamaModel};

fn tiny() -> LlamaModel {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama");
    LlamaModel::load(dir, &Device::flex()).unwrap()
}

const PROMPT: [u32; 6] = [17, 200, 3, 45, 99, 120];

fn uncached_steps(model: &LlamaModel, plan: &Plan, new_ids: &[u32]) -> Vec<Vec<f32>> {
    (0..new_ids.len())
        .map(|k| {
            let seq: Vec<u32> = PROMPT.iter().chain(&new_ids[..k]).copied().collect();
            let logits = model
                .forward(plan, &LlamaInput::new(&[seq]).unwrap(), None, &mut ())
                .unwrap();
            let [_, s, v] = logits.dims();
            logits
                .narrow(1, s - 1, 1)
                .reshape([v])
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        })
        .collect()
}

fn cached(model: &LlamaModel, plan: &Plan) -> (Vec<u32>, Vec<Vec<f32>>) {
    let opts = GenerateOptions {
        max_new_tokens: 6,
        keep_logits: true,
        ..Default::default()
    };
    let g = generate(model, plan, &PROMPT, &opts, |_| false).unwrap();
    (g.new_ids, g.step_logits)
}

#[test]
fn exact_cache_equals_recomputation() {
    let model = tiny();
    for text in [
        "0..=5",
        "0, 2x3, 5",
        "0, par(1..=4)x2, 5",
        "0, par((1, 2), 3, (4, 4))x2, 5",
        "(0, 1)x2, sum(2, 3), 4, 5",
    ] {
        let s: LayerSchedule = text.parse().unwrap();
        let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
        let (ids, steps) = cached(&model, &plan);
        let reference = uncached_steps(&model, &plan, &ids);
        for (k, (a, b)) in steps.iter().zip(&reference).enumerate() {
            let err = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-4, "{text}: step {k} differs by {err}");
            // The greedy choice of the uncached logits is the token the cached run produced.
            let argmax = b
                .iter()
                .enumerate()
                .fold(0, |m, (i, x)| if *x > b[m] { i } else { m });
            assert_eq!(argmax as u32, ids[k], "{text}: step {k}");
        }
    }
}

#[test]
fn paper_averaged_cache_is_an_approximation() {
    let model = tiny();
    let s: LayerSchedule = "0, par(1..=4)x2, 5".parse().unwrap();
    let exact = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    let avg = Plan::compile(&s, 6, KvMode::PaperAveraged).unwrap();
    assert_eq!(
        avg.stats().cache_slots,
        4,
        "one pooled slot per loop iteration"
    );
    let (_, e) = cached(&model, &exact);
    let (_, a) = cached(&model, &avg);
    let diff = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max)
    };
    assert!(
        diff(&e[0], &a[0]) < 1e-5,
        "the prompt pass is the same in both modes"
    );
    assert!(
        diff(&e[1], &a[1]) > 1e-3,
        "decoding with averaged keys/values differs"
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let model = tiny();
    let plan = Plan::compile(&LayerSchedule::full(6), 6, KvMode::Exact).unwrap();
    let e = model
        .forward(
            &plan,
            &LlamaInput::new(&[vec![1, 999]]).unwrap(),
            None,
            &mut (),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("token id 999 is outside the vocabulary (size 256)"),
        "{e}"
    );
    let long = vec![vec![5u32; 129]];
    let e = model
        .forward(&plan, &LlamaInput::new(&long).unwrap(), None, &mut ())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("129 positions exceeds the model's maximum of 128"),
        "{e}"
    );
    assert!(LlamaInput::new(&[vec![1, 2], vec![3]]).is_err());
    let wrong = Plan::compile(&LayerSchedule::full(4), 4, KvMode::Exact).unwrap();
    let e = model
        .forward(&wrong, &LlamaInput::new(&[vec![1]]).unwrap(), None, &mut ())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("compiled for 4 blocks but the model has 6"),
        "{e}"
    );
}
