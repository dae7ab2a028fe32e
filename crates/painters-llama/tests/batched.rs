//! Batched parallel steps on the tiny fixture Llama: a parallel step whose branches are single
//! blocks runs as one computation over the members' stacked weights (`ExecOptions::batched()`), and must equal
//! the sequential form (`ExecOptions::sequential()`) within 1e-5: logits, every observed hidden
//! state, looped steps, padded batches, and incremental decoding with both KV modes, caches included.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use painters::exec::{self, ExecOptions, HiddenStates, Transformer};
use painters::{KvCache, KvMode, LayerSchedule, Plan};
use painters_llama::{LlamaBlock, LlamaInput, LlamaModel};

fn tiny() -> LlamaModel {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama");
    LlamaModel::load(dir, &Device::flex()).unwrap()
}

const TOL: f32 = 1e-5;

fn flat<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone().into_data().try_to_vec::<f32>().unwrap()
}

/// Largest `|a − b| / max(1, |b|)`.
fn diff<const D: usize>(a: &Tensor<D>, b: &Tensor<D>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    flat(a)
        .iter()
        .zip(flat(b))
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f32::max)
}

fn plan(text: &str, mode: KvMode) -> Plan {
    let s: LayerSchedule = text.parse().unwrap();
    Plan::compile(&s, 6, mode).unwrap()
}

const SCHEDULES: [&str; 7] = [
    "0, par(1..=4), 5",
    "0, par(1..=4)x3, 5",
    "par(0..=5)",
    "0, par(1, 1, 2), 5",
    "0, sum(1, 2, 3), 4, 5",
    "par(0, 5), par(1, 2)x2, par(3, 4)",
    // Nested branches do not qualify: they run sequentially in both forms.
    "0, par((1, 2), 3, par(4, 1)), 5",
];

/// Forward both ways, observing every state; asserts agreement and returns the batched model's
/// stacked-group count.
fn check_forward(model: &LlamaModel, text: &str, input: &LlamaInput) {
    let p = plan(text, KvMode::Exact);
    let mut ob = HiddenStates::default();
    let mut os = HiddenStates::default();
    let lb = model
        .forward_with(&p, input, None, &mut ob, ExecOptions::batched())
        .unwrap();
    let ls = model
        .forward_with(&p, input, None, &mut os, ExecOptions::sequential())
        .unwrap();
    let d = diff(&lb, &ls);
    assert!(d <= TOL, "{text}: logits differ by {d}");
    assert_eq!(ob.states.len(), os.states.len());
    assert_eq!(
        ob.states.len(),
        p.stats().steps + 2,
        "embedding, steps, final norm"
    );
    for ((pb, hb), (ps, hs)) in ob.states.iter().zip(&os.states) {
        assert_eq!(pb, ps);
        let d = diff(hb, hs);
        assert!(d <= TOL, "{text}: hidden state at {pb:?} differs by {d}");
    }
}

#[test]
fn forward_batched_equals_sequential() {
    let model = tiny();
    // Keep every stack (the default budget, the blocks' own bytes, would drop old ones).
    let settings = model.settings();
    let model = model.with_settings(painters_llama::ExecSettings {
        stacked_weight_budget: Some(usize::MAX),
        ..settings
    });
    let input = LlamaInput::new(&[vec![17, 200, 3, 45, 99, 120, 8, 1, 250]]).unwrap();
    for text in SCHEDULES {
        check_forward(&model, text, &input);
    }
    // One stacked copy per distinct member list: par(1..=4) (looped too), par(0..=5), par(1, 1, 2),
    // sum(1, 2, 3), par(0, 5), par(1, 2), par(3, 4), and the nested par(4, 1).
    assert_eq!(model.stacked_groups(), 8);
}

#[test]
fn padded_batches_agree() {
    let model = tiny();
    let rows = [
        vec![17, 200, 3, 45, 99, 120, 8],
        vec![5, 6, 7],
        vec![250, 1, 2, 3, 4],
    ];
    let input = LlamaInput::padded(&rows, 0);
    for text in SCHEDULES {
        check_forward(&model, text, &input);
    }
}

/// Prompt (batch rows, right-padded), then `steps` single tokens per row with the cache.
/// Returns the logits of every call and the final cache.
fn decode(
    model: &LlamaModel,
    p: &Plan,
    options: ExecOptions,
    rows: &[Vec<u32>],
    steps: usize,
) -> (Vec<Tensor<3>>, KvCache) {
    let mut cache = KvCache::for_plan(p);
    let prompt = LlamaInput::padded(rows, 0);
    let mut mask = prompt.attention_mask.clone().unwrap();
    let mut out = vec![
        model
            .forward_with(p, &prompt, Some(&mut cache), &mut (), options)
            .unwrap(),
    ];
    let b = rows.len();
    for t in 0..steps {
        let ids: Vec<u32> = (0..b)
            .map(|r| ((t * 31 + r * 7) % 250 + 3) as u32)
            .collect();
        let past = cache.len();
        let mut m = Vec::with_capacity(b * (past + 1));
        for r in 0..b {
            m.extend_from_slice(&mask[r * past..(r + 1) * past]);
            m.push(1);
        }
        mask = m;
        let input = LlamaInput {
            ids,
            batch: b,
            seq: 1,
            attention_mask: Some(mask.clone()),
        };
        out.push(
            model
                .forward_with(p, &input, Some(&mut cache), &mut (), options)
                .unwrap(),
        );
    }
    (out, cache)
}

fn assert_same_caches(text: &str, a: &KvCache, b: &KvCache) {
    assert_eq!(a.num_slots(), b.num_slots());
    assert_eq!(a.len(), b.len());
    for slot in 0..a.num_slots() {
        let (Some(x), Some(y)) = (a.slot(slot), b.slot(slot)) else {
            panic!("{text}: slot {slot} empty");
        };
        let (dk, dv) = (diff(&x.key(), &y.key()), diff(&x.value(), &y.value()));
        assert!(
            dk <= TOL && dv <= TOL,
            "{text}: slot {slot} differs by {dk}/{dv}"
        );
    }
}

#[test]
fn incremental_decoding_agrees_in_both_kv_modes() {
    let model = tiny();
    let one = vec![vec![17u32, 200, 3, 45, 99, 120]];
    let two = vec![vec![17u32, 200, 3, 45, 99, 120], vec![9, 8, 7]];
    for mode in [KvMode::Exact, KvMode::PaperAveraged] {
        for text in ["0, par(1..=4)x3, 5", "par(0, 5), par(1, 2)x2, par(3, 4)"] {
            let p = plan(text, mode);
            for rows in [&one, &two] {
                let (lb, cb) = decode(&model, &p, ExecOptions::batched(), rows, 5);
                let (ls, cs) = decode(&model, &p, ExecOptions::sequential(), rows, 5);
                for (k, (a, b)) in lb.iter().zip(&ls).enumerate() {
                    let d = diff(a, b);
                    assert!(
                        d <= TOL,
                        "{text} {mode:?} batch {}: call {k} differs by {d}",
                        rows.len()
                    );
                }
                assert_same_caches(text, &cb, &cs);
            }
        }
    }
}

#[test]
fn batched_cached_decoding_equals_recomputation() {
    let model = tiny();
    let rows = vec![vec![17u32, 200, 3, 45, 99, 120]];
    let p = plan("0, par(1..=4)x3, 5", KvMode::Exact);
    let (steps, _) = decode(&model, &p, ExecOptions::batched(), &rows, 5);
    let mut seq = rows[0].clone();
    for (t, cached) in steps.iter().enumerate().skip(1) {
        seq.push(((t - 1) * 31 % 250 + 3) as u32);
        let full = model
            .forward(&p, &LlamaInput::new(&[seq.clone()]).unwrap(), None, &mut ())
            .unwrap();
        let [_, s, v] = full.dims();
        let last = full.narrow(1, s - 1, 1).reshape([1, 1, v]);
        let d = diff(cached, &last);
        assert!(d <= 1e-4, "step {t}: cached differs from uncached by {d}");
    }
}

#[test]
fn stacked_weights_are_cached_and_reported() {
    let model = tiny();
    let c = model.config();
    let (d, hd) = (c.hidden_size, c.head_dim);
    let per_block = 4
        * (2 * d
            + d * (c.num_attention_heads + 2 * c.num_key_value_heads) * hd
            + c.num_attention_heads * hd * d
            + 3 * d * c.intermediate_size);
    let p = plan("0, par(1..=4)x3, 5", KvMode::Exact);
    assert_eq!(
        model.stacked_weight_bytes(),
        0,
        "nothing is stacked at load"
    );
    assert_eq!(model.prepare(&p), 4 * per_block, "one copy of four blocks");
    let input = LlamaInput::new(&[vec![1, 2, 3]]).unwrap();
    model.forward(&p, &input, None, &mut ()).unwrap();
    assert_eq!(
        model.stacked_groups(),
        1,
        "the three loop iterations share one stack"
    );
    assert_eq!(model.stacked_weight_bytes(), 4 * per_block);
    model.clear_stacked_weights();
    assert_eq!(model.stacked_weight_bytes(), 0);
    model
        .forward_with(&p, &input, None, &mut (), ExecOptions::sequential())
        .unwrap();
    assert_eq!(
        model.stacked_groups(),
        0,
        "the sequential form stacks nothing"
    );
}

#[test]
fn a_foreign_block_slice_runs_sequentially() {
    // The stacked weights are keyed by indices into the model's own blocks; another slice (here a
    // reordered copy) with the model's context must not use them.
    let model = tiny();
    let p = plan("0, par(1..=4), 5", KvMode::Exact);
    let input = LlamaInput::new(&[vec![1, 2, 3, 4]]).unwrap();
    let mut blocks: Vec<LlamaBlock> = model.blocks().to_vec();
    blocks.swap(1, 2);
    let (h, ctx) = model.embed(&input, 0).unwrap();
    let got = exec::run(&p, &blocks, h.clone(), &ctx, None, &mut ()).unwrap();
    assert_eq!(model.stacked_groups(), 0);
    let want = exec::run_with(
        &p,
        &blocks,
        h,
        &ctx,
        None,
        &mut (),
        ExecOptions::sequential(),
    )
    .unwrap();
    assert_eq!(flat(&got), flat(&want));
}

#[test]
fn the_stacked_weight_budget_evicts_and_falls_back() {
    let model = tiny();
    let p4 = plan("0, par(1..=4), 5", KvMode::Exact);
    let four = model.prepare(&p4);
    model.clear_stacked_weights();
    // Room for four blocks: par(1..=4), then par(0, 5) evicts it.
    let settings = model.settings();
    let model = model.with_settings(painters_llama::ExecSettings {
        stacked_weight_budget: Some(four),
        ..settings
    });
    let p = "par(1..=4), par(0, 5)";
    let input = LlamaInput::new(&[vec![3, 1, 4, 1, 5]]).unwrap();
    check_forward(&model, p, &input);
    assert_eq!(model.stacked_groups(), 1);
    assert_eq!(
        model.stacked_weight_bytes(),
        four / 2,
        "only par(0, 5) is left"
    );
    // A list larger than the budget runs sequentially.
    check_forward(&model, "par(0..=5)", &input);
    assert!(model.stacked_weight_bytes() <= four);
    let settings = model.settings();
    let model = model.with_settings(painters_llama::ExecSettings {
        stacked_weight_budget: Some(0),
        ..settings
    });
    check_forward(&model, p, &input);
    assert_eq!(model.stacked_groups(), 0, "a zero budget batches nothing");
    let settings = model.settings();
    let model = model.with_settings(painters_llama::ExecSettings {
        stacked_weight_budget: None,
        ..settings
    });
    assert_eq!(
        model.prepare(&plan("par(0..=5)", KvMode::Exact)),
        6 * four / 4
    );
}

#[test]
fn generation_runs_batched_when_asked_and_agrees() {
    use painters_llama::generate::{GenerateOptions, generate};
    let model = tiny();
    let prompt = [17, 200, 3, 45, 99];
    for text in ["0, par(1..=4), 5", "0, par(1..=4)x3, 5"] {
        let p = plan(text, KvMode::Exact);
        let run = |exec| {
            let opts = GenerateOptions {
                max_new_tokens: 6,
                keep_logits: true,
                exec,
                ..Default::default()
            };
            generate(&model, &p, &prompt, &opts, |_| false).unwrap()
        };
        model.clear_stacked_weights();
        let seq = run(ExecOptions::sequential());
        assert_eq!(
            model.stacked_groups(),
            0,
            "{text}: sequential stacks nothing"
        );
        let bat = run(ExecOptions::batched());
        assert_eq!(
            model.stacked_groups(),
            1,
            "{text}: the options reached the executor"
        );
        assert_eq!(bat.new_ids, seq.new_ids, "{text}");
        for (step, (b, s)) in bat.step_logits.iter().zip(&seq.step_logits).enumerate() {
            let d = b
                .iter()
                .zip(s)
                .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
                .fold(0.0, f32::max);
            assert!(d <= TOL, "{text}: step {step} logits differ by {d}");
        }
    }
}
