//! Fine-tuning under a layer schedule: gradients, loss, determinism, frozen encoder, checkpoints.

mod common;

use burn::module::Module;
use common::*;
use painters::LayerSchedule;
use painters_bert::finetune::{
    Dataset, Example, FinetuneConfig, FinetuneMode, evaluate, finetune, linear_schedule,
};
use painters_bert::{BertForSequenceClassification, BertModel, to_host};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

fn tiny() -> BertModel {
    BertModel::load(fixtures().join("models/tiny-bert"), &device()).expect("tiny-bert")
}

/// Sequences of 4..10 random ids; class 1 when the first token after [CLS] is >= 130, and a
/// regression target that is that token scaled to [0, 1].
fn toy(n: usize, seed: u64, regression: bool) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let examples = (0..n)
        .map(|_| {
            let len = 4 + (rng.next_u32() % 7) as usize;
            let mut ids = vec![2i64];
            ids.extend((1..len).map(|_| 5 + (rng.next_u32() % 250) as i64));
            let label = match regression {
                true => (ids[1] - 5) as f32 / 250.0,
                false => (ids[1] >= 130) as u8 as f32,
            };
            Example {
                token_type_ids: vec![0; ids.len()],
                input_ids: ids,
                label,
            }
        })
        .collect();
    Dataset {
        examples,
        pad_id: 0,
    }
}

fn quick(mode: FinetuneMode, seed: u64) -> FinetuneConfig {
    FinetuneConfig {
        learning_rate: 1e-3,
        batch_size: 8,
        epochs: 6,
        warmup_steps: 2,
        mode,
        seed,
        ..Default::default()
    }
}

fn mean_loss(steps: &[painters_bert::finetune::StepLog], epoch: usize) -> f64 {
    let v: Vec<f64> = steps
        .iter()
        .filter(|s| s.epoch == epoch)
        .map(|s| s.loss)
        .collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn gradients_reach_every_block_the_schedule_uses() {
    let schedule: LayerSchedule = "0, par(1..=3)x2, 5".parse().expect("schedule");
    let model = BertForSequenceClassification::new(tiny(), 2, 7)
        .expect("head")
        .train();
    let plan = model.bert.plan(&schedule).expect("plan");
    let (input, labels) = toy(6, 1, false).batch(&[0, 1, 2, 3, 4, 5]).expect("batch");
    let logits = model
        .forward(&plan, &input, None, &mut ())
        .expect("forward");
    let grads = model.loss(logits, &labels).expect("loss").backward();
    let norm =
        |t: Option<burn::tensor::Tensor<2>>| t.map(|g| to_host(g.abs().sum()).expect("host")[0]);
    for (i, layer) in model.bert.layers.iter().enumerate() {
        for (what, w) in [
            ("query", &layer.attention.query.weight),
            ("output", &layer.output.weight),
        ] {
            let g = norm(w.val().grad(&grads));
            if i == 4 {
                assert!(
                    g.is_none_or(|g| g == 0.0),
                    "block 4 is not in the schedule, got {g:?}"
                );
            } else {
                assert!(
                    g.is_some_and(|g| g > 0.0),
                    "block {i} {what}: no gradient ({g:?})"
                );
            }
        }
    }
    let emb = norm(
        model
            .bert
            .embeddings
            .word_embeddings
            .weight
            .val()
            .grad(&grads),
    );
    assert!(emb.is_some_and(|g| g > 0.0), "embeddings get gradients");
    assert!(norm(model.classifier.weight.val().grad(&grads)).is_some_and(|g| g > 0.0));
}

#[test]
fn looped_parallel_schedule_trains() {
    let schedule: LayerSchedule = "0, par(1..=4)x2, 5".parse().expect("schedule");
    let data = toy(48, 2, false);
    let model = BertForSequenceClassification::new(tiny(), 2, 3).expect("head");
    let (trained, report) = finetune(
        model,
        &schedule,
        &data,
        Some(&data),
        &quick(FinetuneMode::Full, 5),
    )
    .expect("train");
    let (first, last) = (mean_loss(&report.steps, 0), mean_loss(&report.steps, 5));
    println!(
        "loss epoch 0 {first:.4} -> epoch 5 {last:.4}; eval {:?}",
        report.eval.last()
    );
    assert!(last < 0.8 * first, "loss should fall: {first} -> {last}");
    assert_eq!(report.steps.len(), 6 * 6);
    assert!(
        report
            .steps
            .iter()
            .all(|s| s.loss.is_finite() && s.grad_norm > 0.0)
    );
    assert_eq!(report.steps[0].learning_rate, 0.0, "warmup starts at 0");
    assert!(
        !trained.classifier.weight.val().is_autodiff(),
        "returned model is for inference"
    );
    let plan = trained.bert.plan(&schedule).expect("plan");
    let m = evaluate(&trained, &plan, &data, 16).expect("eval");
    assert!(m.accuracy.is_some_and(|a| a > 0.6), "{m:?}");
}

#[test]
fn runs_are_deterministic_under_a_seed() {
    let schedule = LayerSchedule::full(6).skip([3]);
    let data = toy(20, 4, false);
    let cfg = FinetuneConfig {
        epochs: 1,
        ..quick(FinetuneMode::Full, 11)
    };
    let run = |seed| {
        let model = BertForSequenceClassification::new(tiny(), 3, seed).expect("head");
        finetune(model, &schedule, &data, None, &cfg).expect("train")
    };
    let (a, ra) = run(1);
    let (b, rb) = run(1);
    assert_eq!(ra, rb, "same seed, same losses and gradient norms");
    let wa = to_host(a.bert.layers[0].attention.query.weight.val()).expect("a");
    let wb = to_host(b.bert.layers[0].attention.query.weight.val()).expect("b");
    assert_eq!(wa, wb, "same seed, same weights");
    let (_, rc) = run(2);
    assert_ne!(
        ra.steps[0].loss, rc.steps[0].loss,
        "another head seed gives another run"
    );
}

#[test]
fn frozen_encoder_trains_only_the_head_and_regression_works() {
    let data = toy(32, 6, true);
    let before = tiny();
    let w0 = to_host(before.layers[2].intermediate.weight.val()).expect("w0");
    let e0 = to_host(before.embeddings.word_embeddings.weight.val()).expect("e0");
    let model = BertForSequenceClassification::new(before, 1, 9).expect("head");
    let c0 = to_host(model.classifier.weight.val()).expect("c0");
    let (trained, report) = finetune(
        model,
        &LayerSchedule::full(6),
        &data,
        Some(&data),
        &quick(FinetuneMode::FrozenEncoder, 8),
    )
    .expect("train");
    assert_eq!(
        to_host(trained.bert.layers[2].intermediate.weight.val()).expect("w1"),
        w0,
        "layers frozen"
    );
    assert_eq!(
        to_host(trained.bert.embeddings.word_embeddings.weight.val()).expect("e1"),
        e0,
        "embeddings frozen"
    );
    assert_ne!(
        to_host(trained.classifier.weight.val()).expect("c1"),
        c0,
        "head trained"
    );
    assert!(
        mean_loss(&report.steps, 5) < mean_loss(&report.steps, 0),
        "MSE falls"
    );
    assert!(report.eval.last().and_then(|m| m.pearson).is_some());
}

#[test]
fn checkpoints_round_trip() {
    let dir = std::env::temp_dir().join(format!("painters-bert-{}-ckpt", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = BertForSequenceClassification::new(tiny(), 3, 1).expect("head");
    model.save(&dir).expect("save");
    let again = BertForSequenceClassification::load(&dir, &device()).expect("load");
    assert_eq!(again.num_labels, 3);
    let plan = model
        .bert
        .plan(&"0, 2, 1, 3x2, 5".parse().expect("schedule"))
        .expect("plan");
    let (input, _) = toy(4, 3, false).batch(&[0, 1, 2, 3]).expect("batch");
    let a = to_host(model.forward(&plan, &input, None, &mut ()).expect("a")).expect("a");
    let b = to_host(again.forward(&plan, &input, None, &mut ()).expect("b")).expect("b");
    assert_eq!(a, b);
    model.save_head(dir.join("head.safetensors")).expect("head");
    let head =
        painters::weights::SafetensorsFile::open(dir.join("head.safetensors")).expect("open");
    assert_eq!(
        head.names(),
        [
            "bert.pooler.dense.bias",
            "bert.pooler.dense.weight",
            "classifier.bias",
            "classifier.weight"
        ]
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(config["id2label"].as_object().map(|m| m.len()), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn schedule_and_label_errors() {
    assert_eq!(linear_schedule(0, 0, 10), 1.0);
    assert_eq!(linear_schedule(5, 0, 10), 0.5);
    assert_eq!(linear_schedule(1, 4, 12), 0.25);
    assert_eq!(linear_schedule(12, 4, 12), 0.0);
    let model = BertForSequenceClassification::new(tiny(), 2, 1).expect("head");
    let mut data = toy(4, 1, false);
    data.examples[2].label = 2.0;
    let err = finetune(
        model,
        &LayerSchedule::full(6),
        &data,
        None,
        &FinetuneConfig::default(),
    )
    .expect_err("bad label");
    assert!(err.to_string().contains("example 2"), "{err}");
    let model = BertForSequenceClassification::new(tiny(), 2, 1).expect("head");
    let mut data = toy(4, 1, false);
    data.examples[3].input_ids[1] = 999;
    let err = finetune(
        model,
        &LayerSchedule::full(6),
        &data,
        None,
        &FinetuneConfig::default(),
    )
    .expect_err("id past the vocabulary");
    assert!(err.to_string().contains("row 3"), "{err}");
}
