//! `painters sweep`: one model, the paper's experiments (many schedules), several tasks; one result
//! file per schedule × task, resumable and shardable, with shared schedule prefixes computed once.

use std::path::PathBuf;

use painters_bench::batching::BatchOptions;
use painters_bench::lm::{ByteTokenizer, Tokenize};
use painters_bench::report::sweep::{ResultFilter, SweepReportMeta};
use painters_bench::sweep::{
    Experiment, ExperimentOptions, NormConfig, Shard, SweepError, SweepModel, SweepOptions,
    reuse_line, run_sweep, sweep_points,
};
use painters_bench::{device, models, tasks};
use painters_llama::{LlamaModel, load_tokenizer};

use super::CliError;

#[derive(clap::Args)]
#[command(
    after_help = "Experiments (each includes the full model as baseline): skip_one, switch (Fig. 2), skip (Fig. 4), middle_repeat (Fig. 5), reverse (Fig. 6), random (Fig. 7, --seeds), parallel (Fig. 8), looped_parallel (Fig. 9, --loops), grid (Fig. 10, K = 1..=--max-loops), summary (Fig. 11), all.\n\nThe folder --out gets results/<hash>.json (one per schedule x task, written as soon as it is done; a rerun skips them), results.json and results.csv. --shard i/n (i from 0) runs every n-th (task, schedule group) unit; join the shards' folders with `painters merge`.\n\nNormalized median (Fig. 11): per task (score - floor) / (full - floor), then the median over tasks. Defaults (an assumption; the paper does not say): arc_easy, arc_challenge, hellaswag acc_norm with floor 0.25; winogrande acc 0.5; lambada_openai acc 0; gsm8k exact_match,strict-match 0. Override with --floor TASK=X and --norm-metric TASK=METRIC[,FILTER].\n\nExamples:\n  painters sweep --model models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --experiment skip --experiment parallel --tasks arc_easy,winogrande --limit 100 --out sweep-skip\n  painters sweep --model M.gguf --experiment all --tasks arc_challenge,hellaswag,winogrande,lambada_openai,gsm8k --shard 0/4 --out shard0\n  painters merge shard0 shard1 shard2 shard3 --out sweep-all"
)]
pub struct Args {
    /// The model: a HF checkpoint folder (config.json + safetensors + tokenizer.json), a .gguf file,
    /// or hf:OWNER/NAME[@REVISION][:FILE.gguf] from the Hugging Face hub (cached; see docs/evaluation.md).
    #[arg(long)]
    model: PathBuf,
    /// An experiment (repeatable): skip_one, switch, skip, middle_repeat, reverse, random, parallel,
    /// looped_parallel, grid, summary, all.
    #[arg(long = "experiment", required = true, value_delimiter = ',')]
    experiments: Vec<String>,
    /// Comma-separated lm-eval task names.
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<String>,
    /// Evaluate only the first N documents of each task.
    #[arg(long)]
    limit: Option<usize>,
    /// Rows per batched forward pass.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Seeds of the random variant (0, 1, …, SEEDS−1).
    #[arg(long, default_value_t = 10)]
    seeds: usize,
    /// Largest loop count K of the grid experiment (the paper's Fig. 10 goes to 28).
    #[arg(long, default_value_t = 28)]
    max_loops: usize,
    /// Loop count of the looped_parallel experiment (the paper's "3X").
    #[arg(long, default_value_t = 3)]
    loops: usize,
    /// Run only shard i of n (i counted from 0): every n-th (task, schedule group) unit.
    #[arg(long)]
    shard: Option<String>,
    /// Run every schedule on its own instead of computing shared leading steps once.
    #[arg(long)]
    no_prefix_reuse: bool,
    /// Schedules per prefix-sharing group; a kill loses at most one group's work.
    #[arg(long, default_value_t = 16)]
    group_size: usize,
    /// Score every choice as its own batch row instead of reading a shared question prefix once.
    #[arg(long)]
    no_shared_prefix: bool,
    /// Floor of a task's normalized score, TASK=VALUE (repeatable).
    #[arg(long = "floor", value_delimiter = ',')]
    floors: Vec<String>,
    /// Metric of a task's normalized score, TASK=METRIC[,FILTER] (repeatable).
    #[arg(long = "norm-metric")]
    norm_metrics: Vec<String>,
    /// Compute device: cpu, wgpu, cuda[:N] (as this build's features allow).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Where the task data lives (data/<task>/...).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The sweep folder (results/, results.json, results.csv).
    #[arg(long)]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// One token per byte instead of the model's tokenizer (for the tiny fixture models, which have
    /// no vocabulary).
    #[arg(long, hide = true)]
    byte_tokenizer: bool,
    /// Stop after this many results (tests of resuming).
    #[arg(long, hide = true)]
    stop_after: Option<usize>,
}

fn sweep_error(e: SweepError) -> CliError {
    let hint = match &e {
        SweepError::UnknownExperiment(_) => {
            format!("experiments: {}", Experiment::NAMES.join(", "))
        }
        SweepError::UnknownTask(_) => format!("known tasks: {}", tasks::NAMES.join(", ")),
        SweepError::BadShard(_) => "e.g. --shard 0/4 … --shard 3/4".into(),
        SweepError::Eval { .. } => {
            "check --data-dir (default ./data) and the file named above".into()
        }
        SweepError::InvalidRecord { .. } | SweepError::Io { .. } => {
            "check that --out is writable and not shared with a different sweep".into()
        }
        _ => "see `painters sweep --help`".into(),
    };
    CliError::new(e).with_hint(hint)
}

/// `--floor` / `--norm-metric` over the defaults of `tasks`.
pub fn norm_config(
    tasks: &[String],
    floors: &[String],
    metrics: &[String],
) -> Result<NormConfig, CliError> {
    let mut cfg = NormConfig::defaults_for(tasks);
    let split = |s: &str, flag: &str| {
        s.split_once('=')
            .map(|(t, v)| (t.trim().to_string(), v.trim().to_string()))
            .ok_or_else(|| {
                CliError::new(format!("{flag} {s:?} is not TASK=VALUE"))
                    .with_hint(format!("e.g. {flag} winogrande=0.5"))
            })
    };
    for m in metrics {
        let (task, metric) = split(m, "--norm-metric")?;
        cfg.set_metric(&task, &metric).map_err(CliError::new)?;
    }
    for f in floors {
        let (task, value) = split(f, "--floor")?;
        let x: f64 = value
            .parse()
            .map_err(|_| CliError::new(format!("--floor {f:?}: {value:?} is not a number")))?;
        cfg.set_floor(&task, x).map_err(CliError::new)?;
    }
    Ok(cfg)
}

pub fn run(args: Args) -> Result<(), CliError> {
    let experiments: Vec<Experiment> = args
        .experiments
        .iter()
        .map(|e| e.parse())
        .collect::<Result<_, _>>()
        .map_err(sweep_error)?;
    let tasks: Vec<String> = args.tasks.iter().map(|t| t.trim().to_string()).collect();
    for t in &tasks {
        if tasks::by_name(t).is_none() {
            return Err(sweep_error(SweepError::UnknownTask(t.clone())));
        }
    }
    let shard = match &args.shard {
        Some(s) => s.parse::<Shard>().map_err(sweep_error)?,
        None => Shard::ALL,
    };
    let norm = norm_config(&tasks, &args.floors, &args.norm_metrics)?;
    let device = device::by_name(&args.device).map_err(CliError::new)?;
    let mut args = args;
    args.model = super::model_path(&args.model, !args.no_progress)?;
    let model = LlamaModel::load(&args.model, &device).map_err(|e| {
        CliError::new(e).with_hint("--model takes a HF checkpoint folder or a .gguf file")
    })?;
    let text_tokenizer;
    let tokenizer: &dyn Tokenize = if args.byte_tokenizer {
        &ByteTokenizer
    } else {
        text_tokenizer = load_tokenizer(&args.model).map_err(CliError::new)?;
        &text_tokenizer
    };
    let sha256 = models::sha256_file(&models::weight_file(&args.model)).map_err(CliError::new)?;
    let layers = model.num_blocks();
    let exp_opts = ExperimentOptions {
        seeds: args.seeds,
        max_loops: args.max_loops,
        loops: args.loops,
    };
    let points = sweep_points(&experiments, layers, &exp_opts).map_err(sweep_error)?;
    let mut opts = SweepOptions::new(tasks, args.out.clone());
    opts.limit = args.limit;
    opts.batch = BatchOptions {
        batch_size: args.batch_size.max(1),
        min_saved_tokens: if args.no_shared_prefix {
            None
        } else {
            BatchOptions::default().min_saved_tokens
        },
        ..BatchOptions::default()
    };
    opts.data_dir = args.data_dir.clone();
    opts.shard = shard;
    opts.prefix_reuse = !args.no_prefix_reuse;
    opts.group_size = args.group_size.max(1);
    opts.progress = !args.no_progress;
    opts.verbose = args.no_progress;
    opts.norm = norm;
    opts.stop_after = args.stop_after;
    eprintln!(
        "sweep: {} schedule points × {} tasks on a {layers}-block model (shard {}/{})",
        points.len(),
        opts.tasks.len(),
        shard.index,
        shard.count
    );
    let filter = ResultFilter {
        model_sha256: Some(sha256.clone()),
        limit: Some(args.limit),
        tasks: Some(opts.tasks.iter().cloned().collect()),
    };
    let report = run_sweep(
        &SweepModel {
            model: &model,
            tokenizer,
            sha256,
        },
        &points,
        &opts,
    )
    .map_err(sweep_error)?;
    eprintln!(
        "{} results owned by this shard: {} computed, {} already stored{}; {} of {} results of the sweep in {} ({:.1} s)",
        report.owned,
        report.computed,
        report.skipped,
        if report.redone > 0 {
            format!(", {} corrupt ones redone", report.redone)
        } else {
            String::new()
        },
        report.present,
        points.len() * opts.tasks.len(),
        args.out.join("results.json").display(),
        report.seconds
    );
    eprintln!("{}", reuse_line(&report.reuse));
    let meta = SweepReportMeta {
        model: args
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        command: Some(std::env::args().collect::<Vec<_>>().join(" ")),
        wall_seconds: (report.skipped == 0 && shard == Shard::ALL).then_some(report.seconds),
        norm: opts.norm.clone(),
    };
    super::report::write_report(&args.out, &filter, &meta)?;
    Ok(())
}
