//! One lm-eval task under one layer schedule through the library, without the CLI: SmolLM2-135M
//! with its middle blocks (N = 8) run in parallel, on the first 20 ARC-Easy questions. A rerun
//! after an interruption resumes from the checkpoints beside the results file.
//!
//! ```sh
//! scripts/fetch-models.sh
//! cargo run --release -p painters-bench --example eval_task
//! ```

use painters_bench::eval::EvalRun;
use painters_bench::schedules::ScheduleSpec;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut run = EvalRun::new(
        "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        &["arc_easy"],
        std::env::temp_dir().join("eval_task.json"),
    );
    run.schedule = ScheduleSpec::preset("parallel", 8);
    run.limit = Some(20);
    let outcome = run.execute()?;
    print!("{}", outcome.summary);
    Ok(())
}
