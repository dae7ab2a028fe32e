//! A LoRA adapter made and saved by PEFT itself (`scripts/make-peft-reference.py`, PEFT 0.21.2 on
//! the tiny Llama fixture: r = 2, alpha = 5, k/o/up/down projections of layers 0, 3 and 5, random
//! A and B) read with `Adapters::load_peft`: the adapted model's logits equal PEFT's.

use std::path::PathBuf;

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::weights::{SafetensorsFile, TensorSource};
use painters::{KvMode, LayerSchedule, Plan};
use painters_llama::{AdaptedModel, Adapters, DecoderInput, DecoderModel};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn a_peft_adapter_gives_pefts_logits() {
    let device = Device::flex();
    let model =
        DecoderModel::load(repo().join("tests/fixtures/models/tiny-llama"), &device).unwrap();
    let dir = repo().join("tests/fixtures/peft/tiny-llama-lora");
    let (adapters, untied) = Adapters::load_peft(&dir, model.config(), &device).unwrap();
    assert_eq!(untied, None);
    let reference = SafetensorsFile::open(dir.join("reference_logits.safetensors")).unwrap();
    let (shape, ids) = reference.read_i64("input_ids").unwrap();
    let want = reference.read("logits").unwrap();
    let rows: Vec<Vec<u32>> = ids
        .chunks(shape[1])
        .map(|r| r.iter().map(|&x| x as u32).collect())
        .collect();
    let plan = Plan::compile(
        &LayerSchedule::full(model.num_blocks()),
        model.num_blocks(),
        KvMode::Exact,
    )
    .unwrap();
    let adapted = AdaptedModel::new(&model, adapters).unwrap();
    let got = adapted
        .logits(&plan, &DecoderInput::new(&rows).unwrap())
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert_eq!(got.len(), want.data.len());
    let diff = got
        .iter()
        .zip(&want.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("max |painters - PEFT| = {diff}");
    // The tiny fixtures' logits tolerance (tests/fixtures/README.md).
    assert!(diff <= 1e-4, "max |painters - PEFT| = {diff}");
    // And the adapter matters: the base model's logits are far from PEFT's.
    let base = model
        .forward(&plan, &DecoderInput::new(&rows).unwrap(), None, &mut ())
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let moved = base
        .iter()
        .zip(&want.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        moved > 1e-2,
        "the adapter changes the logits by only {moved}"
    );
}
