//! Adapters beside a loaded model (`AdaptedModel`): with zero `B` matrices the adapted model *is*
//! the base model (bit for bit, under any schedule); trained-looking adapters change the logits,
//! merging them into the weights gives the same logits within float rounding, and adapters written
//! in PEFT's layout read back to the same logits.

use std::path::PathBuf;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan};
use painters_llama::{
    AdaptedModel, Adapters, DecoderInput, DecoderModel, LoraSpec, LoraTarget, untie_order,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model() -> DecoderModel {
    DecoderModel::load(
        repo().join("tests/fixtures/models/tiny-llama"),
        &Device::flex(),
    )
    .unwrap()
}

fn plan(model: &DecoderModel, text: &str) -> Plan {
    let s: LayerSchedule = text.parse().unwrap();
    Plan::compile(&s, model.num_blocks(), KvMode::Exact).unwrap()
}

fn input() -> DecoderInput {
    let a: Vec<u32> = (0..11).map(|i| 3 + (i * 37) % 250).collect();
    let b: Vec<u32> = (0..11).map(|i| 5 + (i * 53) % 240).collect();
    DecoderInput::new(&[a, b]).unwrap()
}

fn host(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Every `B` (and delta) filled with small deterministic values, as if trained.
fn perturbed(a: Adapters, device: &Device) -> Adapters {
    let fill = |p: &Param<Tensor<2>>, k: usize| {
        let [r, c] = p.val().dims();
        let v: Vec<f32> = (0..r * c)
            .map(|i| (((i * 7919 + k * 104_729) % 1009) as f32 / 1009.0 - 0.5) * 0.05)
            .collect();
        Param::from_tensor(Tensor::from_data(TensorData::new(v, [r, c]), device))
    };
    Adapters {
        lora: a
            .lora
            .iter()
            .enumerate()
            .map(|(k, p)| painters_llama::LoraPair {
                a: p.a.clone(),
                b: fill(&p.b, k),
            })
            .collect(),
        full: a
            .full
            .iter()
            .enumerate()
            .map(|(k, d)| fill(d, 1000 + k))
            .collect(),
        layout: a.layout.clone(),
    }
}

#[test]
fn zero_b_lora_equals_the_base_model_bit_for_bit() {
    let m = model();
    let before = m.weight_fingerprint();
    for schedule in [
        "0..=5",
        "0..=3, 2..=3, 4, 5",
        "0, par(1, 2, 3), 4, 5",
        "0, (1..=2)x2, 5",
    ] {
        let p = plan(&m, schedule);
        let base = host(m.forward(&p, &input(), None, &mut ()).unwrap());
        let spec = LoraSpec {
            seed: 3,
            ..LoraSpec::default()
        };
        let adapted = AdaptedModel::new(&m, Adapters::new(&m, &spec).unwrap()).unwrap();
        let got = host(adapted.logits(&p, &input()).unwrap());
        assert_eq!(
            got, base,
            "{schedule}: zero B must leave every logit unchanged"
        );
        // A full-rank delta of zero on some blocks too.
        let spec = LoraSpec {
            full_blocks: vec![1, 4],
            ..spec
        };
        let adapted = AdaptedModel::new(&m, Adapters::new(&m, &spec).unwrap()).unwrap();
        assert_eq!(host(adapted.logits(&p, &input()).unwrap()), base);
    }
    assert_eq!(
        m.weight_fingerprint(),
        before,
        "the base model is untouched"
    );
}

#[test]
fn adapters_change_logits_and_merging_them_agrees() {
    let m = model();
    let device = Device::flex();
    let p = plan(&m, "0..=3, 2..=3, 4, 5");
    let base = host(m.forward(&p, &input(), None, &mut ()).unwrap());
    let spec = LoraSpec {
        rank: 4,
        alpha: 8.0,
        targets: vec![
            LoraTarget::Q,
            LoraTarget::V,
            LoraTarget::Down,
            LoraTarget::Gate,
        ],
        full_blocks: vec![5],
        ..LoraSpec::default()
    };
    let adapters = perturbed(Adapters::new(&m, &spec).unwrap(), &device);
    assert_eq!(adapters.layout.lora.len(), 5 * 4);
    assert_eq!(adapters.layout.full.len(), 7);
    let adapted = AdaptedModel::new(&m, adapters).unwrap();
    let got = host(adapted.logits(&p, &input()).unwrap());
    let diff = got
        .iter()
        .zip(&base)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        diff > 1e-3,
        "adapters must change the logits (max diff {diff})"
    );
    let merged = adapted.merged().unwrap();
    let via_merge = host(merged.forward(&p, &input(), None, &mut ()).unwrap());
    let scale = base.iter().fold(0f32, |m, x| m.max(x.abs()));
    for (a, b) in via_merge.iter().zip(&got) {
        assert!((a - b).abs() <= 2e-5 * scale, "{a} vs {b}");
    }
}

#[test]
fn peft_layout_round_trips_to_identical_logits() {
    let m = model();
    let device = Device::flex();
    let p = plan(&m, "0, 1, 2, 3, 3, 4, 5");
    let spec = LoraSpec {
        rank: 2,
        alpha: 5.0,
        rslora: true,
        targets: vec![LoraTarget::K, LoraTarget::O, LoraTarget::Up],
        blocks: Some(vec![0, 3, 5]),
        full_blocks: vec![2],
        seed: 11,
    };
    let adapters = perturbed(Adapters::new(&m, &spec).unwrap(), &device);
    let dir = std::env::temp_dir().join(format!("painters-lora-peft-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = adapters
        .save_peft(&dir, m.config(), Some("tiny-llama"), None)
        .unwrap();
    assert_eq!(written.len(), 3, "{written:?}");
    let adapted = AdaptedModel::new(&m, adapters).unwrap();
    let want = host(adapted.logits(&p, &input()).unwrap());

    // PEFT's names and shapes: lora_A [r, in], lora_B [out, r].
    let file =
        painters::weights::SafetensorsFile::open(dir.join("adapter_model.safetensors")).unwrap();
    use painters::weights::TensorSource;
    assert_eq!(
        file.shape("base_model.model.model.layers.3.self_attn.k_proj.lora_A.weight"),
        Some(vec![2, 64])
    );
    assert_eq!(
        file.shape("base_model.model.model.layers.3.self_attn.k_proj.lora_B.weight"),
        Some(vec![m.config().num_key_value_heads * 16, 2])
    );
    assert_eq!(file.names().len(), 3 * 3 * 2);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["r"], 2);
    assert_eq!(cfg["lora_alpha"], 5.0);
    assert_eq!(cfg["use_rslora"], true);
    assert_eq!(
        cfg["target_modules"],
        serde_json::json!(["k_proj", "o_proj", "up_proj"])
    );

    let (loaded, untied) = Adapters::load_peft(&dir, m.config(), &device).unwrap();
    assert_eq!(untied, None);
    assert_eq!(loaded.layout, adapted.adapters().layout);
    let again = AdaptedModel::new(&m, loaded).unwrap();
    assert_eq!(host(again.logits(&p, &input()).unwrap()), want);

    // A tensor the model has no place for is an error naming it.
    std::fs::write(
        dir.join("adapter_config.json"),
        r#"{"peft_type": "LORA", "r": 2, "use_dora": true}"#,
    )
    .unwrap();
    let err = Adapters::load_peft(&dir, m.config(), &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("use_dora"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn untied_adapters_give_each_occurrence_its_own_adapter() {
    let m = model();
    let device = Device::flex();
    let p = plan(&m, "0..=3, 2..=3, 4, 5");
    let order = untie_order(&p).unwrap();
    assert_eq!(order, vec![0, 1, 2, 3, 2, 3, 4, 5]);
    let spec = LoraSpec::default();
    let adapters = Adapters::for_blocks(m.config(), order.len(), &spec, &device).unwrap();
    let untied = AdaptedModel::untied(&m, &order, adapters).unwrap();
    let flat = Plan::compile(
        &LayerSchedule::full(order.len()),
        order.len(),
        KvMode::Exact,
    )
    .unwrap();
    let base = host(m.forward(&p, &input(), None, &mut ()).unwrap());
    assert_eq!(host(untied.logits(&flat, &input()).unwrap()), base);
    // Adapters made for the model's 6 blocks do not fit a list of 8.
    let wrong = Adapters::new(&m, &spec).unwrap();
    assert!(AdaptedModel::untied(&m, &order, wrong).is_err());
    // Parallel steps cannot be untied.
    assert!(untie_order(&plan(&m, "0, par(1, 2), 3..=5")).is_err());
}
