//! Healing on the tiny Llama fixture: gradients reach the adapters and nothing else (and agree
//! with finite differences), training lowers the held-out loss under a schedule with a repeated
//! block, runs are deterministic under a seed, and the base weights stay bit-identical.

use std::ops::ControlFlow;
use std::path::PathBuf;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use painters::{KvMode, LayerSchedule, Plan};
use painters_bench::heal::{
    HealConfig, HealReport, LoraSpec, LoraTarget, Objective, heal, next_token_loss, window_batch,
};
use painters_llama::{AdaptedModel, Adapters, DecoderModel};

fn model() -> DecoderModel {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama");
    DecoderModel::load(path, &Device::flex()).unwrap()
}

/// Windows of a repetitive token pattern the tiny model can learn.
fn text_windows(n: usize, seq: usize, offset: u32) -> Vec<Vec<u32>> {
    (0..n)
        .map(|w| {
            (0..=seq)
                .map(|i| 3 + ((w as u32 * 7 + i as u32 * 5 + offset) % 23) * 9 % 200)
                .collect()
        })
        .collect()
}

/// Adapters whose `B` are small non-zero values (so that `A` gets gradients too).
fn nonzero(m: &DecoderModel, spec: &LoraSpec) -> Adapters {
    let a = Adapters::new(m, spec).unwrap();
    let device = Device::flex();
    let lora = a
        .lora
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let [r, o] = p.b.val().dims();
            let v: Vec<f32> = (0..r * o)
                .map(|i| ((i * 31 + k * 17) % 97) as f32 / 97.0 * 0.02 - 0.01)
                .collect();
            (
                p.a.val(),
                Tensor::from_data(TensorData::new(v, [r, o]), &device),
            )
        })
        .collect();
    let full = a.full.iter().map(|d| d.val()).collect();
    Adapters::from_tensors(m.config(), a.layout.clone(), lora, full).unwrap()
}

fn loss_of(
    m: &DecoderModel,
    plan: &Plan,
    adapters: Adapters,
    windows: &[Vec<u32>],
) -> (Tensor<1>, Adapters) {
    let (input, targets) = window_batch(windows).unwrap();
    let a = AdaptedModel::new(m, adapters).unwrap();
    let loss = next_token_loss(a.logits(plan, &input).unwrap(), &targets);
    (loss, a.into_adapters())
}

fn value(t: Tensor<1>) -> f64 {
    t.into_data().try_to_vec::<f32>().unwrap()[0] as f64
}

#[test]
fn gradients_flow_only_into_adapters_and_match_finite_differences() {
    let m = model();
    let before = m.weight_fingerprint();
    let plan = Plan::compile(&"0..=3, 2..=3, 4, 5".parse().unwrap(), 6, KvMode::Exact).unwrap();
    let spec = LoraSpec {
        rank: 2,
        targets: vec![
            LoraTarget::Q,
            LoraTarget::V,
            LoraTarget::Up,
            LoraTarget::Down,
        ],
        full_blocks: vec![4],
        ..LoraSpec::default()
    };
    let windows = text_windows(2, 9, 0);
    let adapters = nonzero(&m, &spec).train();
    let (loss, adapters) = loss_of(&m, &plan, adapters, &windows);
    let grads = GradientsParams::from_grads(loss.backward(), &adapters);
    // Exactly one gradient per adapter tensor: the base weights are not parameters at all.
    let tensors = 2 * adapters.lora.len() + adapters.full.len();
    assert_eq!(grads.len(), tensors);
    let norm = |t: Tensor<2>| {
        let v = t.into_data().try_to_vec::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
        v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
    };
    for p in &adapters.lora {
        assert!(norm(grads.get::<2>(p.a.id).expect("grad of A")) > 0.0);
        assert!(norm(grads.get::<2>(p.b.id).expect("grad of B")) > 0.0);
    }
    for d in &adapters.full {
        assert!(norm(grads.get::<2>(d.id).expect("grad of a delta")) > 0.0);
    }

    // Central differences on one element of one B (block 3's up_proj, used twice by the schedule)
    // and of the full delta, in f64 arithmetic on f32 forward passes.
    let plain = adapters.valid();
    let check = |which: usize, grad: f64| {
        let eps = 1e-2f32;
        let shifted = |sign: f32| {
            let mut lora: Vec<(Tensor<2>, Tensor<2>)> =
                plain.lora.iter().map(|p| (p.a.val(), p.b.val())).collect();
            let mut full: Vec<Tensor<2>> = plain.full.iter().map(|d| d.val()).collect();
            let t = if which < lora.len() {
                &mut lora[which].1
            } else {
                &mut full[0]
            };
            let dims = t.dims();
            let mut v = t.clone().into_data().try_to_vec::<f32>().unwrap();
            v[0] += sign * eps;
            *t = Tensor::from_data(TensorData::new(v, dims), &Device::flex());
            let a = Adapters::from_tensors(m.config(), plain.layout.clone(), lora, full).unwrap();
            value(loss_of(&m, &plan, a, &windows).0)
        };
        let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * eps as f64);
        assert!(
            (fd - grad).abs() <= 0.05 * grad.abs().max(1e-3),
            "finite difference {fd} vs autodiff {grad}"
        );
    };
    let site = plain
        .layout
        .lora
        .iter()
        .position(|s| s.block == 3 && s.target == LoraTarget::Up)
        .unwrap();
    let first = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap()[0] as f64;
    check(
        site,
        first(grads.get::<2>(adapters.lora[site].b.id).unwrap()),
    );
    check(
        plain.lora.len(),
        first(grads.get::<2>(adapters.full[0].id).unwrap()),
    );
    assert_eq!(m.weight_fingerprint(), before);
}

fn run(m: &DecoderModel, schedule: &LayerSchedule, cfg: &HealConfig) -> HealReport {
    let train = text_windows(24, 12, 0);
    let eval = text_windows(6, 12, 11);
    heal(m, schedule, &train, &eval, cfg, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap()
    .1
}

#[test]
fn healing_lowers_held_out_loss_deterministically_and_leaves_the_base_alone() {
    let m = model();
    let before = m.weight_fingerprint();
    let schedule: LayerSchedule = "0..=3, 2..=3, 4, 5".parse().unwrap();
    let cfg = HealConfig {
        lora: LoraSpec {
            rank: 4,
            seed: 5,
            ..LoraSpec::default()
        },
        steps: 12,
        batch_size: 4,
        seq_len: 12,
        learning_rate: 1e-2,
        warmup_steps: 2,
        eval_every: 6,
        seed: 5,
        ..HealConfig::default()
    };
    let a = run(&m, &schedule, &cfg);
    assert_eq!(a.steps.len(), 12);
    assert_eq!(
        a.evals.iter().map(|e| e.step).collect::<Vec<_>>(),
        vec![0, 6, 12]
    );
    let (first, last) = (a.evals[0].nll, a.evals[2].nll);
    assert!(last < first - 0.05, "held-out loss {first} -> {last}");
    assert_eq!(a.steps[0].learning_rate, 0.0, "warmup starts at 0");
    let b = run(&m, &schedule, &cfg);
    let strip = |r: &HealReport| {
        (
            r.steps
                .iter()
                .map(|s| (s.loss, s.grad_norm))
                .collect::<Vec<_>>(),
            r.evals.iter().map(|e| e.nll).collect::<Vec<_>>(),
        )
    };
    assert_eq!(strip(&a), strip(&b), "same seed, same run");
    let c = run(
        &m,
        &schedule,
        &HealConfig {
            seed: 6,
            ..cfg.clone()
        },
    );
    assert_ne!(strip(&a), strip(&c), "another seed, another run");
    // Distillation and untied adapters train too.
    let d = run(
        &m,
        &schedule,
        &HealConfig {
            objective: Objective::Distill { temperature: 2.0 },
            untie: true,
            ..cfg
        },
    );
    assert_eq!(d.untied_from, Some(vec![0, 1, 2, 3, 2, 3, 4, 5]));
    assert!(
        d.steps
            .iter()
            .all(|s| s.loss.is_finite() && s.loss >= -1e-6)
    );
    assert_eq!(
        m.weight_fingerprint(),
        before,
        "the base model is untouched"
    );
}
