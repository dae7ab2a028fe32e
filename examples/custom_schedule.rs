//! A custom layer schedule in Rust, run on a real model.
//!
//! Builds "repeat the centre block, then run the upper middle in parallel twice" for SmolLM2-135M,
//! prints its plan, and compares the next-token prediction with the full model's.
//!
//! ```sh
//! scripts/fetch-models.sh
//! cargo run --release -p painters-llama --example custom_schedule
//! ```

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule as S, Plan};
use painters_llama::{LlamaInput, LlamaModel, load_tokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf".to_string()
    });
    let model = LlamaModel::load(&path, &Device::flex())?;
    let tok = load_tokenizer(&path)?;
    let t = model.num_blocks();

    // Builder, text and JSON are three spellings of the same value.
    let custom = S::seq([
        S::range(0..=10),
        S::repeat(S::block(t / 2), 3),
        S::looped(S::parallel_range(16..=20), 2),
        S::range(21..t),
    ]);
    assert_eq!(custom, custom.to_string().parse::<S>()?);
    println!("schedule: {custom}\njson:     {}", custom.to_json());

    let prompt = tok.encode("The capital of France is")?;
    let input = LlamaInput::new(&[prompt])?;
    for (name, s) in [("full", S::full(t)), ("custom", custom)] {
        let plan = Plan::compile(&s, t, KvMode::Exact)?;
        let logits = model.forward(&plan, &input, None, &mut ())?;
        let [_, n, v] = logits.dims();
        let last = logits
            .narrow(1, n - 1, 1)
            .reshape([v])
            .argmax(0)
            .into_data();
        let id = last.try_to_vec::<i64>().map_err(|e| format!("{e:?}"))?[0] as u32;
        println!(
            "{name:>7}: {}  → next token {:?}",
            plan.stats(),
            tok.decode(&[id], true)?
        );
    }
    Ok(())
}
