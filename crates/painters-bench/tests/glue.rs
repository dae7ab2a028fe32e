//! GLUE fine-tuning under a layer schedule (gradients, loss, determinism, frozen encoder, the real
//! MiniLM) and GLUE TSV loading (header-named columns, HF label orders, line-numbered errors).

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Device;
use painters::LayerSchedule;
use painters_bench::glue::{
    Dataset, Example, FinetuneConfig, FinetuneMode, GlueTask, evaluate, finetune, linear_schedule,
    load_glue_tsv,
};
use painters_bert::{BertForSequenceClassification, BertModel, BertTokenizer, to_host};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    workspace().join("tests/fixtures")
}

fn device() -> Device {
    Device::flex()
}

/// The real all-MiniLM-L6-v2 folder; a missing one fails the test (never skips) and says how to
/// fetch it.
fn minilm_dir() -> PathBuf {
    let root = std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("models"));
    let dir = root.join("all-minilm-l6-v2");
    assert!(
        dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file(),
        "{} is missing all-MiniLM-L6-v2: run scripts/fetch-models.sh (or point PAINTERS_MODELS_DIR \
         at a folder that has all-minilm-l6-v2/)",
        dir.display()
    );
    dir
}

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

fn mean_loss(steps: &[painters_bench::glue::StepLog], epoch: usize) -> f64 {
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

#[test]
fn frozen_encoder_head_learns_on_the_real_model() {
    let enc = painters_bert::SentenceEncoder::load(minilm_dir(), &device()).expect("loads");
    let items: Vec<(&str, Option<&str>, f32)> = [
        ("What a wonderful, delightful film.", 1.0),
        ("I loved every minute of it.", 1.0),
        ("A joyful and moving story.", 1.0),
        ("Brilliant acting and a great script.", 1.0),
        ("A dull, tedious waste of time.", 0.0),
        ("I hated it and left early.", 0.0),
        ("Boring, clumsy and far too long.", 0.0),
        ("The worst movie I have seen this year.", 0.0),
    ]
    .into_iter()
    .map(|(t, l)| (t, None, l))
    .collect();
    let data = Dataset::tokenize(enc.tokenizer(), &items, 128).expect("data");
    let model = BertForSequenceClassification::new(enc.model().clone(), 2, 0).expect("head");
    let cfg = FinetuneConfig {
        mode: FinetuneMode::FrozenEncoder,
        learning_rate: 5e-3,
        batch_size: 4,
        epochs: 8,
        ..Default::default()
    };
    let schedule: LayerSchedule = "0, par(1..=4)x2, 5".parse().expect("schedule");
    let (_, report) = finetune(model, &schedule, &data, Some(&data), &cfg).expect("train");
    let first = report.steps[..2].iter().map(|s| s.loss).sum::<f64>();
    let last = report.steps[report.steps.len() - 2..]
        .iter()
        .map(|s| s.loss)
        .sum::<f64>();
    assert!(last < first, "loss {first} -> {last}");
    assert!(
        report
            .eval
            .last()
            .and_then(|m| m.accuracy)
            .is_some_and(|a| a >= 0.75),
        "{:?}",
        report.eval.last()
    );
}

#[test]
fn glue_tsv_files_load() {
    let dir = std::env::temp_dir().join(format!("painters-bert-{}-glue", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let tok = BertTokenizer::from_file(minilm_dir()).expect("tokenizer");
    let mrpc = dir.join("mrpc.tsv");
    std::fs::write(
        &mrpc,
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said \"yes\".\tHe agreed.\n0\t3\t4\tA cat.\tThe stock market.\n",
    )
    .expect("write");
    let d = load_glue_tsv(&mrpc, GlueTask::Mrpc, &tok, 128).expect("mrpc");
    assert_eq!(d.len(), 2);
    assert_eq!(d.examples[0].label, 1.0);
    assert!(
        d.examples[0].token_type_ids.contains(&1),
        "pairs get token type 1"
    );
    let rte = dir.join("rte.tsv");
    std::fs::write(
        &rte,
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tnot_entailment\n1\tc\td\tmaybe\n",
    )
    .expect("write");
    let err = load_glue_tsv(&rte, GlueTask::Rte, &tok, 128).expect_err("bad label");
    assert!(err.to_string().contains("rte.tsv:3"), "{err}");
    let cola = dir.join("cola.tsv");
    std::fs::write(
        &cola,
        "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n",
    )
    .expect("write");
    let d =
        load_glue_tsv(&cola, GlueTask::from_name("CoLA").expect("task"), &tok, 8).expect("cola");
    assert_eq!(d.examples[0].input_ids.len(), 8, "truncated to max length");
    let _ = std::fs::remove_dir_all(&dir);
}
