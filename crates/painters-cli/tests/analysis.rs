//! Layer analysis: the similarity modes against the fixtures' PyTorch hidden states and hand-checked
//! toy states, angular distance, Block Influence, the logit lens, and the `painters layers` CLI.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use painters::exec::{HiddenStates, Transformer};
use painters::weights::{SafetensorsFile, TensorSource};
use painters::{KvMode, LayerSchedule, Plan};
use painters_bench::analysis::{
    AnalysisOptions, Matrix, ReadOut, SampleGrams, SimilarityAccumulator, SimilarityMode,
    analyze_llama, angular_distance, angular_distances, block_influence, cosine_matrix,
    read_positions, residual_states, sample_grams, sample_grams_host, write_outputs,
};
use painters_bench::lm::TokenRequest;
use painters_llama::{LlamaInput, LlamaModel};

mod common;
use common::{painters, root, smollm2};

fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("analysis-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_close(got: &Matrix, want: &Matrix, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: size");
    for (a, (gr, wr)) in got.iter().zip(want).enumerate() {
        for (b, (g, w)) in gr.iter().zip(wr).enumerate() {
            assert!(
                (g - w).abs() <= atol,
                "{what}[{a}][{b}] = {g}, expected {w} (atol {atol})"
            );
        }
    }
}

/// Host states `[batch, seq, d]` to device tensors.
fn tensors(states: &[Vec<f32>], batch: usize, seq: usize, d: usize) -> Vec<Tensor<3>> {
    states
        .iter()
        .map(|s| Tensor::from_data(TensorData::new(s.clone(), [batch, seq, d]), &Device::flex()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The paper's mode on the fixture models, against the PyTorch reference hidden states.

/// The paper's definition written out naively (cos_sim_plotter.ipynb): each sample's state
/// `[S, D]` flattened to `S·D` (padding included), cosine per sample, mean over the batch.
fn reference_paper(states: &[(Vec<usize>, Vec<f64>)]) -> Matrix {
    let (b, len) = (states[0].0[0], states[0].1.len() / states[0].0[0]);
    let n = states.len();
    let mut m = vec![vec![0.0; n]; n];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            let mut total = 0.0;
            for s in 0..b {
                let x = &states[i].1[s * len..(s + 1) * len];
                let y = &states[j].1[s * len..(s + 1) * len];
                let dot: f64 = x.iter().zip(y).map(|(p, q)| p * q).sum();
                let nx = x.iter().map(|p| p * p).sum::<f64>().sqrt();
                let ny = y.iter().map(|q| q * q).sum::<f64>().sqrt();
                total += dot / (nx * ny);
            }
            *cell = total / b as f64;
        }
    }
    m
}

/// Per-token cosine averaged over every position of every sample, written out naively.
fn reference_token_mean(states: &[(Vec<usize>, Vec<f64>)]) -> Matrix {
    let d = *states[0].0.last().unwrap();
    let positions = states[0].1.len() / d;
    let n = states.len();
    let mut m = vec![vec![0.0; n]; n];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            let mut total = 0.0;
            for t in 0..positions {
                let x = &states[i].1[t * d..(t + 1) * d];
                let y = &states[j].1[t * d..(t + 1) * d];
                let dot: f64 = x.iter().zip(y).map(|(p, q)| p * q).sum();
                let nx = x.iter().map(|p| p * p).sum::<f64>().sqrt();
                let ny = y.iter().map(|q| q * q).sum::<f64>().sqrt();
                total += dot / (nx * ny);
            }
            *cell = total / positions as f64;
        }
    }
    m
}

/// The golden T+1 states of an identity case: `hidden.emb`, then `hidden.block.j`.
fn golden_states(case: &str, blocks: usize) -> Vec<(Vec<usize>, Vec<f64>)> {
    let f = SafetensorsFile::open(fixtures().join(format!("golden/{case}.safetensors"))).unwrap();
    let mut names = vec!["hidden.emb".to_string()];
    names.extend((0..blocks).map(|j| format!("hidden.block.{j}")));
    names
        .iter()
        .map(|n| {
            let t = f.read(n).unwrap();
            (t.shape, t.data.into_iter().map(f64::from).collect())
        })
        .collect()
}

fn fixture_input(name: &str) -> LlamaInput {
    let f = SafetensorsFile::open(fixtures().join("inputs/tiny-llama.safetensors")).unwrap();
    let (shape, ids) = f.read_i64(&format!("{name}.input_ids")).unwrap();
    LlamaInput {
        ids: ids.into_iter().map(|i| i as u32).collect(),
        batch: shape[0],
        seq: shape[1],
        attention_mask: None,
    }
}

fn identity_states(model: &LlamaModel, input: &LlamaInput) -> Vec<Tensor<3>> {
    let plan = Plan::compile(
        &LayerSchedule::full(model.num_blocks()),
        model.num_blocks(),
        KvMode::Exact,
    )
    .unwrap();
    let mut obs = HiddenStates::default();
    model.forward(&plan, input, None, &mut obs).unwrap();
    residual_states(&obs)
}

#[test]
fn paper_mode_matches_the_reference_hidden_states_of_the_fixture_models() {
    for (model_dir, input, case) in [
        ("tiny-llama", "b2x12", "tiny-llama__b2x12__identity"),
        ("tiny-llama", "b1x5", "tiny-llama__b1x5__identity"),
        (
            "tiny-llama-tied",
            "b2x12",
            "tiny-llama-tied__b2x12__identity",
        ),
    ] {
        let model =
            LlamaModel::load(fixtures().join("models").join(model_dir), &Device::flex()).unwrap();
        let states = identity_states(&model, &fixture_input(input));
        assert_eq!(states.len(), model.num_blocks() + 1);
        let golden = golden_states(case, model.num_blocks());
        let want_paper = reference_paper(&golden);
        let want_token = reference_token_mean(&golden);
        // The fixture matrices are not trivial: the states are far from collinear.
        assert!(want_paper[0][model.num_blocks()] < 0.9, "{case}");

        // Device Gram matrices (f32 products) and host ones (f64) agree with the reference.
        let device = sample_grams(&states, None).unwrap();
        let host_states: Vec<Vec<f32>> = states
            .iter()
            .map(|t| t.clone().into_data().try_to_vec::<f32>().unwrap())
            .collect();
        let [b, s, d] = states[0].dims();
        let views: Vec<&[f32]> = host_states.iter().map(Vec::as_slice).collect();
        let host = sample_grams_host(&views, b, s, d, None).unwrap();
        for (name, grams) in [("device", &device), ("host", &host)] {
            let paper = cosine_matrix(grams, SimilarityMode::Paper).unwrap();
            assert_close(&paper, &want_paper, 2e-5, &format!("{case} {name} paper"));
            let token = cosine_matrix(grams, SimilarityMode::TokenMean).unwrap();
            assert_close(
                &token,
                &want_token,
                2e-5,
                &format!("{case} {name} token-mean"),
            );
            for (a, row) in paper.iter().enumerate() {
                assert!((row[a] - 1.0).abs() < 1e-6, "diagonal");
            }
        }
        // The golden states themselves through the library give the reference to rounding.
        let golden_f32: Vec<Vec<f32>> = golden
            .iter()
            .map(|(_, v)| v.iter().map(|&x| x as f32).collect())
            .collect();
        let views: Vec<&[f32]> = golden_f32.iter().map(Vec::as_slice).collect();
        let from_golden = sample_grams_host(&views, b, s, d, None).unwrap();
        let paper = cosine_matrix(&from_golden, SimilarityMode::Paper).unwrap();
        assert_close(&paper, &want_paper, 1e-12, &format!("{case} golden paper"));
    }
}

/// A minimal safetensors file of f32 tensors.
fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// The conformance runner's `cosine_matrix` kind (the hidden SmolLM2 case's definition: mean over
/// all positions of the per-token cosine) goes through the analysis module; a synthetic case whose
/// golden is the naive reference on the PyTorch states passes, and a perturbed golden fails.
#[test]
fn conformance_cosine_matrix_cases_use_the_token_mean_mode() {
    let dir = out_dir("conformance");
    let fx = fixtures();
    let mut cases = Vec::new();
    for (input, case) in [
        ("b1x5", "tiny-llama__b1x5__identity"),
        ("b2x12", "tiny-llama__b2x12__identity"),
    ] {
        let want = reference_token_mean(&golden_states(case, 6));
        let n = want.len();
        for (suffix, shift) in [("", 0.0), ("_wrong", 1e-3)] {
            let mut values: Vec<f32> = want.concat().iter().map(|&v| v as f32).collect();
            values[1] += shift;
            let golden = dir.join(format!("{case}{suffix}.safetensors"));
            write_safetensors(&golden, &[("cosine", vec![n, n], values)]);
            cases.push(serde_json::json!({
                "id": format!("cos_{input}{suffix}"),
                "kind": "cosine_matrix",
                "model": {"dir": fx.join("models/tiny-llama"), "arch": "llama"},
                "input": {"file": fx.join("inputs/tiny-llama.safetensors"),
                          "tensors": {"input_ids": format!("{input}.input_ids")}},
                "schedule": {"steps": (0..6).map(|b| serde_json::json!({"block": b})).collect::<Vec<_>>()},
                "output": {"file": golden,
                           "tensors": {"cosine": {"shape": [n, n], "dtype": "float32",
                                                  "tolerance": {"atol": 2e-5, "rtol": 1e-4}}}},
            }));
        }
    }
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, serde_json::json!({"cases": cases}).to_string()).unwrap();
    let results = painters_bench::conformance::run_manifest(
        &manifest,
        dir.clone(),
        None,
        Device::flex(),
        |_| {},
    )
    .unwrap();
    assert_eq!(results.len(), 4);
    for r in &results {
        assert_eq!(r.passed, !r.id.ends_with("_wrong"), "{}", r.line());
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-checked toy states.

/// Three states, one sample of three positions (the last is padding), d = 2:
/// s0 = (1,0) (0,1) [5,5]; s1 = (1,0) (1,0) [-5,5]; s2 = (0,1) (0,-1) [1,0].
fn toy() -> (Vec<Vec<f32>>, Vec<u8>) {
    (
        vec![
            vec![1., 0., 0., 1., 5., 5.],
            vec![1., 0., 1., 0., -5., 5.],
            vec![0., 1., 0., -1., 1., 0.],
        ],
        vec![1, 1, 0],
    )
}

fn sym(v: [[f64; 3]; 3]) -> Matrix {
    v.iter().map(|r| r.to_vec()).collect()
}

#[test]
fn three_modes_on_hand_checked_toy_states() {
    let (states, mask) = toy();
    let views: Vec<&[f32]> = states.iter().map(Vec::as_slice).collect();
    let host = sample_grams_host(&views, 1, 3, 2, Some(&mask)).unwrap();
    let device = sample_grams(&tensors(&states, 1, 3, 2), Some(&mask)).unwrap();
    let r156 = 156f64.sqrt();
    // token-mean over t0, t1: cos(s0,s1) = (1 + 0)/2, cos(s0,s2) = (0 − 1)/2, cos(s1,s2) = 0.
    let token = sym([[1.0, 0.5, -0.5], [0.5, 1.0, 0.0], [-0.5, 0.0, 1.0]]);
    // last real token t1: (0,1)·(1,0) = 0, (0,1)·(0,-1) = −1, (1,0)·(0,-1) = 0.
    let last = sym([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]]);
    // paper: flattened with the padding position: s0·s1 = 1, |s0|² = |s1|² = 52, s0·s2 = 4,
    // s1·s2 = −5, |s2|² = 3.
    let paper = sym([
        [1.0, 1.0 / 52.0, 4.0 / r156],
        [1.0 / 52.0, 1.0, -5.0 / r156],
        [4.0 / r156, -5.0 / r156, 1.0],
    ]);
    for (name, grams) in [("host", &host), ("device", &device)] {
        let got = |m| cosine_matrix(grams, m).unwrap();
        assert_close(&got(SimilarityMode::TokenMean), &token, 1e-7, name);
        assert_close(&got(SimilarityMode::LastToken), &last, 1e-7, name);
        assert_close(&got(SimilarityMode::Paper), &paper, 1e-7, name);
        assert_eq!(grams[0].last_valid(), Some(1));
        assert_eq!(
            grams[0].matrix(SimilarityMode::Paper).unwrap(),
            got(SimilarityMode::Paper)
        );
    }
    // Without a mask every position counts: token-mean of cos(s0,s1) adds t2's cos = 0 → 1/3.
    let all = sample_grams_host(&views, 1, 3, 2, None).unwrap();
    let m = cosine_matrix(&all, SimilarityMode::TokenMean).unwrap();
    assert!((m[0][1] - 1.0 / 3.0).abs() < 1e-12);
    let m = cosine_matrix(&all, SimilarityMode::LastToken).unwrap();
    assert!(m[0][1].abs() < 1e-12, "last position is t2 without a mask");
}

#[test]
fn paper_mode_averages_within_batches_then_over_batches_token_mean_over_tokens() {
    // Two states, d = 1 per position so cosines are ±1 per position.
    let grams = |dots: Vec<f64>, valid: Vec<bool>| SampleGrams::new(2, valid, dots).unwrap();
    // Sample A: one position, s0 = 1, s1 = 1 → cos 1. Sample B: one position, s0 = 1, s1 = −1.
    let a = grams(vec![1., 1., 1., 1.], vec![true]);
    let b = grams(vec![1., -1., -1., 1.], vec![true]);
    // Sample C: two real positions, both cos 1.
    let c = grams(vec![1., 1., 1., 1., 4., 4., 4., 4.], vec![true, true]);
    let mut acc = SimilarityAccumulator::default();
    acc.add_batch(&[a, b]).unwrap();
    acc.add_batch(&[c]).unwrap();
    let sim = acc.finish();
    // paper: mean(mean(1, −1), 1) = 0.5; token-mean: (1 − 1 + 1 + 1) / 4 tokens = 0.5 as well,
    // last-token: (1 − 1 + 1) / 3 samples.
    assert!((sim.paper[0][1] - 0.5).abs() < 1e-12);
    assert!((sim.token_mean[0][1] - 0.5).abs() < 1e-12);
    assert!((sim.last_token[0][1] - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!((sim.samples, sim.batches, sim.tokens), (3, 2, 4));
    // angular: mean of arccos/π per sample = (0 + 1 + 0)/3.
    assert!((sim.last_token_angular[0][1] - 1.0 / 3.0).abs() < 1e-12);
    // A batch with a different state count is refused.
    let odd = SampleGrams::new(3, vec![true], vec![1.0; 9]).unwrap();
    assert!(acc.add_batch(&[odd]).is_err());
    assert!(SampleGrams::new(2, vec![true], vec![1.0; 3]).is_err());
}

#[test]
fn angular_distance_and_block_influence_on_states_with_known_angles() {
    // One token, states at 0°, 60°, 90° and 180°.
    let deg = |a: f64| {
        let r = a.to_radians();
        [r.cos() as f32, r.sin() as f32]
    };
    let states: Vec<Vec<f32>> = [0.0, 60.0, 90.0, 180.0]
        .iter()
        .map(|&a| deg(a).to_vec())
        .collect();
    let views: Vec<&[f32]> = states.iter().map(Vec::as_slice).collect();
    let grams = sample_grams_host(&views, 1, 1, 2, None).unwrap();
    let mut acc = SimilarityAccumulator::default();
    acc.add_batch(&grams).unwrap();
    let sim = acc.finish();
    let rows = angular_distances(&sim.last_token_angular);
    assert_eq!(rows.len(), 3);
    // n = 1: d(0,1) = 60/180, d(1,2) = 30/180, d(2,3) = 90/180 → ℓ* = 1.
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
    assert_eq!(rows[0].n, 1);
    assert!(close(rows[0].distances[0], 1.0 / 3.0));
    assert!(close(rows[0].distances[1], 1.0 / 6.0));
    assert!(close(rows[0].distances[2], 0.5));
    assert_eq!(rows[0].best_start, 1);
    assert!(close(rows[0].best, 1.0 / 6.0));
    // n = 2: d(0,2) = 1/2, d(1,3) = 120/180 → ℓ* = 0; n = 3: d(0,3) = 1.
    assert!(close(rows[1].distances[0], 0.5) && close(rows[1].distances[1], 2.0 / 3.0));
    assert_eq!(rows[1].best_start, 0);
    assert_eq!(rows[2].distances.len(), 1);
    assert!(close(rows[2].distances[0], 1.0));
    // BI_i = 1 − cos(x_i, x_{i+1}): 1 − cos 60°, 1 − cos 30°, 1 − cos 90°.
    let bi = block_influence(&sim.token_mean);
    assert_eq!(bi.len(), 3);
    assert!(close(bi[0], 0.5));
    assert!(close(bi[1], 1.0 - 3f64.sqrt() / 2.0));
    assert!(close(bi[2], 1.0));
    assert!(close(angular_distance(1.0 + 1e-9), 0.0) && close(angular_distance(-2.0), 1.0));
}

// ---------------------------------------------------------------------------------------------
// Logit lens.

/// Logits are the hidden state itself (d = vocab).
struct Identity;
impl ReadOut for Identity {
    fn read_out(&self, hidden: Tensor<3>) -> Tensor<3> {
        hidden
    }
}

#[test]
fn logit_lens_ranks_the_target_at_the_given_position() {
    // Batch 2, seq 2, vocab 4; two states. Row 0 reads position 1, row 1 reads position 0.
    let s0 = vec![
        9., 9., 9., 9., /* row 0 t1: */ 1., 2., 3., 4., // row 0
        4., 3., 2., 1., /* row 1 t1: */ 0., 0., 0., 0., // row 1
    ];
    let s1 = vec![
        0., 0., 0., 0., 4., 3., 2., 1., // row 0: t1 = (4,3,2,1)
        1., 5., 2., 7., 0., 0., 0., 0., // row 1: t0 = (1,5,2,7)
    ];
    let states = tensors(&[s0, s1], 2, 2, 4);
    let r = read_positions(&Identity, &states, &[1, 0], &[0, 1], 2).unwrap();
    assert_eq!(r.len(), 2);
    // Row 0, target 0: state 0 logits (1,2,3,4) → rank 4; state 1 (4,3,2,1) → rank 1.
    assert_eq!(r[0][0].rank, 4);
    assert_eq!(r[0][1].rank, 1);
    assert_eq!(r[0][0].top.iter().map(|t| t.id).collect::<Vec<_>>(), [3, 2]);
    // Row 1, target 1: state 0 (4,3,2,1) → rank 2; state 1 (1,5,2,7) → rank 2.
    assert_eq!(r[1][0].rank, 2);
    assert_eq!(r[1][1].rank, 2);
    assert_eq!(r[1][1].top[0].id, 3);
    // log-softmax of (4,3,2,1) at 0.
    let lse = (4f64.exp() + 3f64.exp() + 2f64.exp() + 1f64.exp()).ln();
    assert!((r[0][1].target_logprob - (4.0 - lse)).abs() < 1e-5);
    assert!((r[0][1].top[0].logprob - (4.0 - lse)).abs() < 1e-5);
    // Out-of-range positions and targets are errors, not panics.
    assert!(read_positions(&Identity, &states, &[2, 0], &[0, 1], 2).is_err());
    assert!(read_positions(&Identity, &states, &[1, 0], &[0, 9], 2).is_err());
    assert!(read_positions(&Identity, &states, &[1], &[0], 2).is_err());
}

// ---------------------------------------------------------------------------------------------
// The driver on the tiny fixture model.

fn tiny_requests() -> Vec<TokenRequest> {
    // Different lengths so that batches are padded.
    [(7, 3), (4, 1), (9, 2), (5, 2), (3, 1)]
        .iter()
        .enumerate()
        .map(|(i, &(c, k))| TokenRequest {
            context: (0..c)
                .map(|j| (3 + 17 * i + 5 * j) as u32 % 250 + 3)
                .collect(),
            continuation: (0..k).map(|j| (40 + 11 * i + j) as u32).collect(),
        })
        .collect()
}

#[test]
fn analyze_llama_pads_like_lm_eval_and_reads_the_prediction_position() {
    let model = LlamaModel::load(fixtures().join("models/tiny-llama"), &Device::flex()).unwrap();
    let t = model.num_blocks();
    let plan = Plan::compile(&LayerSchedule::full(t), t, KvMode::Exact).unwrap();
    let reqs = tiny_requests();
    let opts = AnalysisOptions {
        batch_size: 2,
        top_k: 3,
        ..AnalysisOptions::default()
    };
    let mut calls = Vec::new();
    let a = analyze_llama(&model, &plan, &reqs, None, &opts, |d, n| calls.push((d, n))).unwrap();
    assert_eq!(calls, [(2, 5), (4, 5), (5, 5)]);
    let sim = &a.similarity;
    assert_eq!((sim.states, sim.samples, sim.batches), (t + 1, 5, 3));
    assert_eq!(
        sim.tokens,
        reqs.iter().map(TokenRequest::input_len).sum::<usize>()
    );
    assert_eq!(a.labels.len(), t + 1);
    assert_eq!(a.labels[0], "emb");
    assert_eq!(a.block_influence.len(), t);
    assert_eq!(a.angular.len(), t);

    // The same numbers by hand: sort by length (desc), pad with 0, no mask, batches of two.
    let mut order: Vec<usize> = (0..reqs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(reqs[i].input_len()));
    let mut acc = SimilarityAccumulator::default();
    for chunk in order.chunks(2) {
        let rows: Vec<Vec<u32>> = chunk.iter().map(|&i| reqs[i].input()).collect();
        let input = LlamaInput {
            attention_mask: None,
            ..LlamaInput::padded(&rows, 0)
        };
        let mask = LlamaInput::padded(&rows, 0).attention_mask.unwrap();
        let states = identity_states(&model, &input);
        acc.add_batch(&sample_grams(&states, Some(&mask)).unwrap())
            .unwrap();
    }
    let want = acc.finish();
    assert_close(&sim.paper, &want.paper, 1e-9, "paper");
    assert_close(&sim.token_mean, &want.token_mean, 1e-9, "token-mean");
    assert_close(&sim.last_token, &want.last_token, 1e-9, "last-token");

    // Logit lens: one sample per request, in request order, the last state = the model's logits.
    let lens = a.logit_lens.as_ref().unwrap();
    assert_eq!(lens.samples.len(), 5);
    assert_eq!(lens.summary.len(), t + 1);
    for (i, s) in lens.samples.iter().enumerate() {
        assert_eq!(s.doc, i);
        assert_eq!(s.position, reqs[i].context.len() - 1);
        assert_eq!(s.target, reqs[i].continuation[0]);
        assert_eq!(s.states.len(), t + 1);
        let input = LlamaInput::new(&[reqs[i].input()]).unwrap();
        let logits = model.forward(&plan, &input, None, &mut ()).unwrap();
        let v = logits.dims()[2];
        let row: Vec<f32> = logits
            .narrow(1, s.position, 1)
            .reshape([v])
            .into_data()
            .try_to_vec()
            .unwrap();
        let target = row[s.target as usize];
        let rank = row.iter().filter(|&&x| x > target).count() + 1;
        let last = &s.states[t];
        assert_eq!(last.rank, rank, "sample {i}");
        let best = (0..v).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(last.top[0].id as usize, best);
    }

    // JSON and CSV outputs.
    let dir = out_dir("tiny");
    let written = write_outputs(&a, &SimilarityMode::ALL, &dir).unwrap();
    assert!(written.len() >= 8);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(json["similarity"]["paper"].as_array().unwrap().len(), t + 1);
    assert_eq!(json["logit_lens"]["samples"].as_array().unwrap().len(), 5);
    let csv = std::fs::read_to_string(dir.join("similarity_paper.csv")).unwrap();
    assert_eq!(csv.lines().count(), t + 2);
    assert!(csv.starts_with("state,emb,1,"));
    let bi = std::fs::read_to_string(dir.join("block_influence.csv")).unwrap();
    assert_eq!(bi.lines().count(), t + 1);
    assert!(dir.join("logit_lens_samples.csv").is_file());
}

// ---------------------------------------------------------------------------------------------
// The CLI on the real SmolLM2 (a few documents).

fn file_ok(p: &Path) {
    let len = std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .len();
    assert!(len > 0, "{} is empty", p.display());
}

#[test]
fn layers_cli_writes_json_csv_plots_and_report_on_smollm2() {
    let dir = out_dir("cli");
    let model = smollm2();
    let (ok, stdout, err) = painters(&[
        "layers",
        "--model",
        model.to_str().unwrap(),
        "--limit",
        "3",
        "--top-k",
        "3",
        "--no-progress",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{err}");
    for f in [
        "analysis.json",
        "similarity_paper.csv",
        "similarity_token_mean.csv",
        "similarity_last_token.csv",
        "similarity_paper.png",
        "similarity_paper.svg",
        "block_influence.png",
        "angular_distance.svg",
        "logit_lens.png",
        "logit_lens_samples.csv",
        "report.md",
    ] {
        file_ok(&dir.join(f));
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("analysis.json")).unwrap()).unwrap();
    let paper = json["similarity"]["paper"].as_array().unwrap();
    assert_eq!(paper.len(), 31);
    assert_eq!(json["similarity"]["samples"], 3);
    // Adjacent middle states are more alike than the embedding and the last block's output.
    let at = |a: usize, b: usize| paper[a][b].as_f64().unwrap();
    assert!(at(15, 16) > at(0, 30), "{} vs {}", at(15, 16), at(0, 30));
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("![cosine similarity, paper mode](similarity_paper.png)"));

    // User errors are one line plus a hint.
    let (ok, _, err) = painters(&[
        "layers",
        "--model",
        model.to_str().unwrap(),
        "--mode",
        "flat",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("unknown similarity mode") && err.contains("hint:"),
        "{err}"
    );
    let (ok, _, err) = painters(&[
        "layers",
        "--model",
        model.to_str().unwrap(),
        "--task",
        "arc_easy",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("hint:"), "{err}");
}
