//! A small version of the paper's Fig. 11 sweep on SmolLM2-135M, run from Rust: the full model, and
//! skip, reverse, parallel and looped parallel (3X) at three middle sizes, on two tasks, with shared
//! schedule prefixes computed once.
//!
//! ```sh
//! scripts/fetch-models.sh
//! cargo run --release -p painters-bench --example paper_sweep -- [MODEL] [LIMIT] [OUT]
//! ```
//!
//! Writes `OUT/results/*.json` (one per schedule × task; run it again and it only reads them back),
//! `OUT/results.json` and `OUT/results.csv` (default `paper_sweep_out/`), and prints each point's
//! normalized median and the block applications prefix reuse saved. `painters sweep` is the same
//! from the command line, for every experiment of the paper.

use std::path::PathBuf;

use burn::tensor::Device;
use painters_bench::models;
use painters_bench::sweep::{
    Experiment, ExperimentOptions, SweepModel, SweepOptions, reuse_line, run_sweep, sweep_points,
};
use painters_llama::{LlamaModel, load_tokenizer};
use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| {
        "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf".to_string()
    });
    let limit: usize = args.next().map_or(Ok(5), |n| n.parse())?;
    let out = PathBuf::from(args.next().unwrap_or_else(|| "paper_sweep_out".into()));

    let model = LlamaModel::load(&path, &Device::flex())?;
    let tokenizer = load_tokenizer(&path)?;
    let sha256 = models::sha256_file(&models::weight_file(path.as_ref()))?;
    let t = model.num_blocks();

    // The paper's experiments, cut down to the full model and N = T/2 − 1, T/2 − 3, T/2 − 5
    // (M = 1, 5, 9 for an even T).
    let experiments = [
        Experiment::Skip,
        Experiment::Reverse,
        Experiment::Parallel,
        Experiment::LoopedParallel,
    ];
    let ns = [t / 2 - 1, t / 2 - 3, t / 2 - 5];
    let points: Vec<_> = sweep_points(&experiments, t, &ExperimentOptions::default())?
        .into_iter()
        .filter(|p| p.n.is_none_or(|n| ns.contains(&n)))
        .collect();

    let mut opts = SweepOptions::new(vec!["arc_easy".into(), "winogrande".into()], out.clone());
    opts.limit = Some(limit);
    opts.progress = true;
    let report = run_sweep(
        &SweepModel {
            model: &model,
            tokenizer: &tokenizer,
            sha256,
        },
        &points,
        &opts,
    )?;
    println!(
        "{} results: {} computed, {} read back, in {:.1} s",
        report.owned, report.computed, report.skipped, report.seconds
    );

    let results: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json"))?)?;
    println!("{:<32} {:>3} {:>8}", "point", "M", "median");
    for p in results["normalized"]["points"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "{:<32} {:>3} {:>8}",
            p["label"].as_str().unwrap_or("?"),
            p["m"].as_u64().map_or("-".into(), |m| m.to_string()),
            p["median"]
                .as_f64()
                .map_or("-".into(), |x| format!("{x:.3}")),
        );
    }
    println!("{}", reuse_line(&report.reuse));
    Ok(())
}
