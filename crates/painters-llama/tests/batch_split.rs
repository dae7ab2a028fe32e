//! Work split across rayon's threads against one computation, on the tiny fixture Llama.
//!
//! Batches split into row groups (`LlamaModel::batch_parts`): logits and last hidden states of
//! padded batches of uneven row counts, under schedules with repeats and parallel steps, agree
//! within 1e-5 with whole batches; a cache or an observer keeps the batch whole. Fused projections
//! run as two column parts at once (`LlamaModel::set_projection_split`) agree with one GEMM, with
//! and without a cache.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use painters::exec::{ExecOptions, HiddenStates, ObservePoint, Transformer};
use painters::{KvCache, KvMode, LayerSchedule, Plan};
use painters_llama::{LlamaInput, LlamaModel};

fn tiny() -> LlamaModel {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama");
    LlamaModel::load(dir, &Device::flex()).unwrap()
}

fn flat<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    flat(a)
        .iter()
        .zip(flat(b))
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Five rows of different lengths (right-padded and masked).
fn padded_rows() -> LlamaInput {
    let rows: Vec<Vec<u32>> = (0..5u32)
        .map(|r| (0..(7 + 3 * r)).map(|i| (i * 37 + r * 11) % 256).collect())
        .collect();
    LlamaInput::padded(&rows, 0)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[test]
fn a_cpu_model_splits_batches_one_group_per_thread() {
    let model = tiny();
    pool(3).install(|| {
        assert_eq!(model.batch_parts(5), 3);
        assert_eq!(model.batch_parts(2), 2);
        assert_eq!(model.batch_parts(1), 1);
    });
    let settings = model.settings();
    let model = model.with_settings(painters_llama::ExecSettings {
        batch_split: false,
        ..settings
    });
    pool(3).install(|| assert_eq!(model.batch_parts(5), 1));
}

#[test]
fn split_batches_equal_whole_batches() {
    let split = tiny();
    let settings = split.settings();
    let split = split.with_settings(painters_llama::ExecSettings {
        batch_split: true,
        ..settings
    });
    let whole = tiny();
    let settings = whole.settings();
    let whole = whole.with_settings(painters_llama::ExecSettings {
        batch_split: false,
        ..settings
    });
    let input = padded_rows();
    for text in ["0..=5", "0, 1x3, par(2, 3, 4)x2, 5", "0, 5"] {
        let s: LayerSchedule = text.parse().unwrap();
        let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
        for threads in [2, 3, 5] {
            let (a, b, ha, hb) = pool(threads).install(|| {
                assert_eq!(split.batch_parts(5), threads);
                (
                    split.forward(&plan, &input, None, &mut ()).unwrap(),
                    whole.forward(&plan, &input, None, &mut ()).unwrap(),
                    split
                        .hidden_states(&plan, &input, None, ExecOptions::default())
                        .unwrap(),
                    whole
                        .hidden_states(&plan, &input, None, ExecOptions::default())
                        .unwrap(),
                )
            });
            let d = max_diff(a, b);
            assert!(d < 1e-5, "{text}, {threads} threads: logits differ by {d}");
            let d = max_diff(ha, hb);
            assert!(d < 1e-5, "{text}, {threads} threads: hidden differ by {d}");
        }
    }
}

/// With an observer or a cache the batch stays whole: the observer sees whole-batch states, and
/// the cache holds every row.
#[test]
fn observers_and_caches_see_the_whole_batch() {
    let model = tiny();
    let input = padded_rows();
    let s: LayerSchedule = "0..=5".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    pool(3).install(|| {
        let mut states = HiddenStates::default();
        let logits = model.forward(&plan, &input, None, &mut states).unwrap();
        assert_eq!(logits.dims()[0], 5);
        for at in [
            ObservePoint::Embedding,
            ObservePoint::Step(3),
            ObservePoint::FinalNorm,
        ] {
            assert_eq!(states.get(at).unwrap().dims()[0], 5, "{at:?}");
        }
        let mut cache = KvCache::for_plan(&plan);
        let h = model
            .hidden_states(&plan, &input, Some(&mut cache), ExecOptions::default())
            .unwrap();
        assert_eq!(h.dims()[0], 5);
        assert_eq!(cache.len(), input.seq);
    });
}

/// A malformed input is an error before any split, never a panic in the slicing.
#[test]
fn malformed_inputs_are_errors_when_split() {
    let model = tiny();
    let s: LayerSchedule = "0..=5".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    let mut input = padded_rows();
    input.ids.pop();
    let mut bad_mask = padded_rows();
    if let Some(m) = bad_mask.attention_mask.as_mut() {
        m.truncate(m.len() - 3);
    }
    pool(3).install(|| {
        let e = model.forward(&plan, &input, None, &mut ()).err().unwrap();
        assert!(e.to_string().contains("ids for batch 5"), "{e}");
        let e = model
            .hidden_states(&plan, &bad_mask, None, ExecOptions::default())
            .err()
            .unwrap();
        assert!(e.to_string().contains("attention_mask has"), "{e}");
    });
}

/// Continuations after one cached prefix (shared-prefix scoring): split into row groups, each with
/// its own copy of the prefix, they equal one computation against the prefix repeated per row.
#[test]
fn continuations_after_a_shared_prefix_split_like_whole_batches() {
    let split = tiny();
    let settings = split.settings();
    let split = split.with_settings(painters_llama::ExecSettings {
        batch_split: true,
        ..settings
    });
    let whole = tiny();
    let settings = whole.settings();
    let whole = whole.with_settings(painters_llama::ExecSettings {
        batch_split: false,
        ..settings
    });
    let s: LayerSchedule = "0, 1x2, par(2, 3, 4), 5".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    let prefix_ids: Vec<u32> = (0..9).map(|i| (i * 29 + 3) % 256).collect();
    let mut prefix = KvCache::for_plan(&plan);
    whole
        .hidden_states(
            &plan,
            &LlamaInput::new(&[prefix_ids]).unwrap(),
            Some(&mut prefix),
            ExecOptions::default(),
        )
        .unwrap();
    // Five continuations of different lengths, masked over the prefix and their padding.
    let rows: Vec<Vec<u32>> = (0..5u32)
        .map(|r| (0..(2 + r)).map(|i| (i * 53 + r * 7) % 256).collect())
        .collect();
    let seq = rows.iter().map(Vec::len).max().unwrap();
    let mut input = LlamaInput::padded(&rows, 0);
    let mask = rows
        .iter()
        .flat_map(|r| {
            let mut m = vec![1u8; 9 + r.len()];
            m.resize(9 + seq, 0);
            m
        })
        .collect();
    input.attention_mask = Some(mask);
    let (a, b) = pool(3).install(|| {
        assert_eq!(split.batch_parts(5), 3);
        let a = split
            .hidden_states_after(&plan, &prefix, &input, ExecOptions::default())
            .unwrap();
        let mut repeated = prefix.repeat_batch(5);
        let b = whole
            .hidden_states(&plan, &input, Some(&mut repeated), ExecOptions::default())
            .unwrap();
        (a, b)
    });
    let d = max_diff(a, b);
    assert!(d < 1e-5, "hidden states differ by {d}");
    assert_eq!(prefix.len(), 9, "the prefix cache is left as it was");
    // A prefix cache of several rows is refused.
    let two = prefix.repeat_batch(2);
    let e = split
        .hidden_states_after(&plan, &two, &input, ExecOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("holds 2 rows"), "{e}");
}

/// The two column parts of each fused projection (Q | KV, gate | up) on two threads give what one
/// GEMM gives: a padded prompt, then cached one-token steps, under a schedule with repeats and a
/// parallel step (sequential and batched).
#[test]
fn split_projections_equal_fused_projections() {
    let split = tiny();
    let settings = split.settings();
    let split = split.with_settings(painters_llama::ExecSettings {
        projection_split: true,
        ..settings
    });
    let settings = split.settings();
    let split = split.with_settings(painters_llama::ExecSettings {
        batch_split: false,
        ..settings
    });
    let fused = tiny();
    let settings = fused.settings();
    let fused = fused.with_settings(painters_llama::ExecSettings {
        projection_split: false,
        ..settings
    });
    let settings = fused.settings();
    let fused = fused.with_settings(painters_llama::ExecSettings {
        batch_split: false,
        ..settings
    });
    let input = padded_rows();
    for text in ["0..=5", "0, 1x3, par(2, 3, 4)x2, 5"] {
        let s: LayerSchedule = text.parse().unwrap();
        let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
        for options in [ExecOptions::sequential(), ExecOptions::batched()] {
            pool(2).install(|| {
                let mut ca = KvCache::for_plan(&plan);
                let mut cb = KvCache::for_plan(&plan);
                // The same call on both models, each with its own cache: their logits' difference.
                let mut both = |input: &LlamaInput| {
                    let a = split
                        .forward_with(&plan, input, Some(&mut ca), &mut (), options)
                        .unwrap();
                    let b = fused
                        .forward_with(&plan, input, Some(&mut cb), &mut (), options)
                        .unwrap();
                    max_diff(a, b)
                };
                let d = both(&input);
                assert!(d < 1e-5, "{text}: prompt logits differ by {d}");
                let mut masks: Vec<Vec<u8>> = input
                    .attention_mask
                    .clone()
                    .unwrap()
                    .chunks(input.seq)
                    .map(<[u8]>::to_vec)
                    .collect();
                for step in 0..3u32 {
                    let ids: Vec<Vec<u32>> =
                        (0..5u32).map(|r| vec![(r * 31 + step * 7) % 256]).collect();
                    let mut next = LlamaInput::new(&ids).unwrap();
                    masks.iter_mut().for_each(|m| m.push(1));
                    next.attention_mask = Some(masks.concat());
                    let d = both(&next);
                    assert!(d < 1e-5, "{text}: step {step} logits differ by {d}");
                }
            });
        }
    }
}
