//! `painters layers`: layer analysis of a model on task data: similarity matrices (the paper's
//! Figure 3), angular distances, Block Influence and the logit lens, as JSON, CSV, SVG/PNG and a
//! Markdown report.

use std::path::PathBuf;
use std::time::Instant;

use painters::{KvMode, Plan};
use painters_bench::analysis::{AnalysisOptions, SimilarityMode, analyze_llama, write_outputs};
use painters_bench::lm::{LlamaLm, TokenRequest};
use painters_bench::report::layers::{LayerReportMeta, write_layer_report};
use painters_bench::requests::{Request, loglikelihood_tokens};
use painters_bench::{device, tasks};
use painters_llama::{LlamaModel, load_tokenizer};

use super::CliError;
use super::schedule::ScheduleArgs;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  painters layers --model models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --limit 100 --out layers/\n  painters layers --model M.gguf --mode paper --top-k 0 --out fig3/\n\nWrites analysis.json, CSVs, SVG/PNG charts and report.md into --out. See docs/layer-analysis.md."
)]
pub struct Args {
    /// The model: a HF checkpoint folder (config.json + safetensors + tokenizer.json), a .gguf file,
    /// or hf:OWNER/NAME[@REVISION][:FILE.gguf] from the Hugging Face hub (cached; see docs/evaluation.md).
    #[arg(long)]
    model: PathBuf,
    /// The data: an lm-eval task whose documents are one context/continuation pair (lambada_openai).
    #[arg(long, default_value = "lambada_openai")]
    task: String,
    /// Analyse the first N documents (the paper used 100).
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Which similarity matrices to write: paper, token-mean, last-token or all.
    #[arg(long, default_value = "all")]
    mode: String,
    /// Tokens kept per logit-lens read-out; 0 skips the logit lens.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Rows per forward pass (the paper's lm-eval run used 8; the paper mode averages per batch).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Compute device: cpu, wgpu, cuda[:N] (as this build's features allow).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Where the task data lives (data/<task>/...).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// No progress lines.
    #[arg(long)]
    no_progress: bool,
}

fn modes(mode: &str) -> Result<Vec<SimilarityMode>, CliError> {
    if mode == "all" {
        return Ok(SimilarityMode::ALL.to_vec());
    }
    mode.split(',')
        .map(|m| {
            SimilarityMode::from_name(m.trim()).ok_or_else(|| {
                CliError::new(format!("unknown similarity mode `{m}`"))
                    .with_hint("--mode takes paper, token-mean, last-token or all")
            })
        })
        .collect()
}

pub fn run(args: Args) -> Result<(), CliError> {
    let started = Instant::now();
    let modes = modes(&args.mode)?;
    if args.task != "lambada_openai" {
        return Err(CliError::new(format!(
            "task `{}` is not supported by `painters layers`",
            args.task
        ))
        .with_hint("use --task lambada_openai (one context and target word per document)"));
    }
    let task = tasks::by_name(&args.task).ok_or_else(|| {
        CliError::new(format!("unknown task `{}`", args.task))
            .with_hint(format!("known tasks: {}", tasks::NAMES.join(", ")))
    })?;
    let device = device::by_name(&args.device).map_err(CliError::new)?;
    let mut args = args;
    args.model = super::model_path(&args.model, !args.no_progress)?;
    let model = LlamaModel::load(&args.model, &device).map_err(|e| {
        CliError::new(e).with_hint("--model takes a HF checkpoint folder or a .gguf file")
    })?;
    let tokenizer = load_tokenizer(&args.model).map_err(CliError::new)?;
    let layers = model.num_blocks();
    let schedule = args.schedule.resolve(layers)?;
    let plan = Plan::compile(&schedule, layers, KvMode::Exact)?;
    let lm = LlamaLm::new(&model, &plan, &tokenizer);

    let loaded = task.load(&args.data_dir, Some(args.limit)).map_err(|e| {
        CliError::new(e).with_hint("check --data-dir (default ./data) and the file named above")
    })?;
    let requests: Vec<TokenRequest> = loaded
        .docs
        .iter()
        .map(|d| match d.requests.first() {
            Some(Request::Loglikelihood {
                context,
                continuation,
            }) => loglikelihood_tokens(&lm, context, continuation).map_err(CliError::new),
            _ => Err(CliError::new(format!(
                "document {} has no loglikelihood request",
                d.id
            ))),
        })
        .collect::<Result<_, _>>()?;
    if requests.is_empty() {
        return Err(CliError::new("no documents to analyse").with_hint("check --limit"));
    }
    eprintln!(
        "schedule: {schedule}\n{}: {} of {} documents from {}",
        args.task,
        requests.len(),
        loaded.total,
        loaded.path.display()
    );

    let options = AnalysisOptions {
        batch_size: args.batch_size.max(1),
        top_k: args.top_k,
        ..AnalysisOptions::default()
    };
    let show = !args.no_progress;
    let analysis = analyze_llama(
        &model,
        &plan,
        &requests,
        Some(&tokenizer),
        &options,
        |done, total| {
            if show {
                eprintln!(
                    "  {done}/{total} documents, {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
        },
    )
    .map_err(CliError::new)?;
    let wall = started.elapsed().as_secs_f64();

    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::new(format!("{}: {e}", args.out.display())))?;
    let mut written = write_outputs(&analysis, &modes, &args.out).map_err(CliError::new)?;
    let model_name = args
        .model
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let meta = LayerReportMeta {
        model: model_name,
        data: format!(
            "{}, {} documents (of {}){}",
            args.task,
            requests.len(),
            loaded.total,
            if schedule == painters::LayerSchedule::full(layers) {
                String::new()
            } else {
                format!(", schedule `{schedule}`")
            }
        ),
        command: Some(command_line()),
        wall_seconds: Some(wall),
    };
    written.extend(write_layer_report(&analysis, &modes, &meta, &args.out).map_err(CliError::new)?);
    for p in &written {
        println!("{}", p.display());
    }
    eprintln!(
        "{} samples, {} batches in {wall:.1} s; report: {}",
        analysis.similarity.samples,
        analysis.similarity.batches,
        args.out.join("report.md").display()
    );
    Ok(())
}

/// The command as typed (arguments quoted when they contain spaces).
fn command_line() -> String {
    let mut args = std::env::args();
    let mut parts = vec!["painters".to_string()];
    args.next();
    parts.extend(args.map(|a| {
        if a.contains(char::is_whitespace) {
            format!("'{a}'")
        } else {
            a
        }
    }));
    parts.join(" ")
}
