//! `painters`: the command-line front end of the painters workspace. Each command parses its
//! arguments, calls one entry point of the `painters-bench` harness library, and prints what it
//! returns; a failure prints one line of cause and one of hint and exits non-zero.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod commands;
mod error;
mod output;

/// Counts live and peak heap bytes for `painters bench` (peak memory of a forward pass). Cost: two
/// relaxed atomic operations per allocation and one per deallocation; `painters bench` prints the
/// measured overhead on one forward pass (within run-to-run noise on the SmolLM2 CPU run).
#[global_allocator]
static ALLOC: painters_bench::perf::CountingAlloc = painters_bench::perf::CountingAlloc;

/// Run a pretrained transformer's layers under layer schedules, and measure what that does.
#[derive(Parser)]
#[command(name = "painters", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a schedule (text, JSON, or a paper preset), print its steps and plan figures.
    Schedule(commands::schedule::Args),
    /// Run the cases of a golden-fixture manifest and compare every output with the reference.
    Conformance(commands::conformance::Args),
    /// Evaluate a model under a layer schedule on lm-eval tasks; write lm-eval-shaped results JSON.
    Eval(commands::eval::Args),
    /// Fine-tune a BERT model under a layer schedule on a GLUE task; write the dev metrics as JSON.
    Glue(commands::glue::Args),
    /// Run the paper's experiments (many schedules) on lm-eval tasks, or on GLUE tasks (fine-tuned
    /// under each schedule) for a BERT model: one result file per schedule and task, resumable and
    /// shardable, shared schedule prefixes computed once.
    Sweep(commands::sweep::Args),
    /// Join the result folders of a sweep's shards; write the combined results.json and results.csv.
    Merge(commands::merge::Args),
    /// Draw a sweep folder's results as the paper's figures (SVG/PNG) and a Markdown report.
    Report(commands::report::Args),
    /// Layer analysis (similarity matrices as in the paper's Figure 3, angular distance, Block
    /// Influence, logit lens) on task data; writes JSON, CSV, SVG/PNG plots and a Markdown report.
    Layers(commands::layers::Args),
    /// Whole-model timings (forward, decode, per schedule) and peak heap memory as a fixed Markdown
    /// table, optionally JSON.
    Bench(commands::bench::Args),
    /// Write a model under a sequence schedule as a standalone checkpoint (HF folder or GGUF file)
    /// whose plain forward is the schedule's forward.
    Export(commands::export::Args),
    /// Heal a painted model: train LoRA adapters under a schedule on half of WikiText-2, measure
    /// held-out perplexity on the other half; adapters saved in PEFT's layout.
    Heal(commands::heal::Args),
    /// Search a space of schedules (remove, duplicate, reorder blocks) for the best on a task,
    /// with shared prefixes and successive halving; held-out scores, baselines, Pareto front.
    Search(commands::search::Args),
    /// Print the ids and token strings a model's tokenizer gives for texts (special tokens as the
    /// model adds them by default).
    Tokenize(commands::tokenize::Args),
    /// Serve a model under a layer schedule behind an OpenAI-compatible HTTP API (completions with
    /// echo and logprobs, chat, models, health) for lm-eval's local-completions and any client.
    Serve(commands::serve::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs one command. Every command but `serve` runs on a worker of the compute pool, so that the
/// many small parallel operations of a forward pass do not each wake the calling thread
/// (`painters::backend::on_compute_threads`); the server's runtime owns its threads, and its model
/// thread moves each batch of requests onto the pool itself.
fn run(command: Command) -> Result<(), error::CliError> {
    if let Command::Serve(args) = command {
        return commands::serve::run(args);
    }
    painters::backend::on_compute_threads(|| dispatch(command))
}

fn dispatch(command: Command) -> Result<(), error::CliError> {
    match command {
        Command::Schedule(args) => commands::schedule::run(args),
        Command::Conformance(args) => commands::conformance::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Glue(args) => commands::glue::run(args),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Merge(args) => commands::merge::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Layers(args) => commands::layers::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Heal(args) => commands::heal::run(args),
        Command::Search(args) => commands::search::run(args),
        Command::Tokenize(args) => commands::tokenize::run(args),
        Command::Serve(args) => commands::serve::run(args),
    }
}
