//! `painters sweep`: one model, the paper's experiments (many schedules), several tasks; one result
//! file per schedule × task, resumable and shardable, with shared schedule prefixes computed once.
//!
//! A BERT model folder (config.json with `"model_type": "bert"`) is swept on GLUE tasks instead:
//! every schedule fine-tuned and evaluated under itself ([`run_glue_sweep`]).

use std::path::{Path, PathBuf};

use painters_bench::batching::BatchOptions;
use painters_bench::lm::{ByteTokenizer, Tokenize};
use painters_bench::report::sweep::{ResultFilter, SweepReportMeta};
use painters_bench::sweep::{
    Experiment, ExperimentOptions, FinetuneSettings, GlueSweepModel, GlueSweepOptions, NormConfig,
    SchedulePoint, Shard, SweepError, SweepModel, SweepOptions, SweepReport, glue_task, lm_task,
    reuse_line, run_glue_sweep, run_sweep, sweep_points,
};
use painters_bench::{device, models, tasks};
use painters_bert::finetune::{FinetuneConfig, GlueTask};
use painters_bert::{BertModel, BertTokenizer};
use painters_llama::{LlamaModel, load_tokenizer};

use super::CliError;
use super::glue::{Mode, bert_err};

/// The GLUE tasks a BERT sweep takes.
const GLUE_TASKS: &str = "cola, mrpc, qnli, rte, sst2, stsb, wnli";

#[derive(clap::Args)]
#[command(
    after_help = "Experiments (each includes the full model as baseline): skip_one, switch (Fig. 2), skip (Fig. 4), middle_repeat (Fig. 5), reverse (Fig. 6), random (Fig. 7, --seeds), parallel (Fig. 8), looped_parallel (Fig. 9, --loops), grid (Fig. 10, K = 1..=--max-loops), summary (Fig. 11), all.\n\nThe folder --out gets results/<hash>.json (one per schedule x task, written as soon as it is done; a rerun skips them), results.json and results.csv. --shard i/n (i from 0) runs every n-th (task, schedule group) unit; join the shards' folders with `painters merge`.\n\nNormalized median (Fig. 11): per task (score - floor) / (full - floor), then the median over tasks. Defaults (an assumption; the paper does not say): arc_easy, arc_challenge, hellaswag acc_norm with floor 0.25; winogrande acc 0.5; lambada_openai acc 0; gsm8k exact_match,strict-match 0. Override with --floor TASK=X and --norm-metric TASK=METRIC[,FILTER].\n\nBERT models (a folder whose config.json has model_type \"bert\") are swept on GLUE tasks (cola, mrpc, qnli, rte, sst2, stsb, wnli; data in --data-dir/glue-<task>/{train,dev}.jsonl[.gz]): each schedule is fine-tuned with a new head under the schedule and evaluated on dev under it (--epochs, --lr, --batch-size, --max-length, --warmup-steps, --mode, --seed, --train-limit [--train-sample], --eval-limit; defaults as `painters glue`). The summary is the GLUE average of the tasks' main metrics per point. Results are keyed by every fine-tuning setting, so changed settings are computed afresh, never reused. See docs/glue.md.\n\nExamples:\n  painters sweep --model models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --experiment skip --experiment parallel --tasks arc_easy,winogrande --limit 100 --out sweep-skip\n  painters sweep --model M.gguf --experiment all --tasks arc_challenge,hellaswag,winogrande,lambada_openai,gsm8k --shard 0/4 --out shard0\n  painters merge shard0 shard1 shard2 shard3 --out sweep-all\n  painters sweep --model models/all-minilm-l6-v2 --experiment skip --experiment parallel --tasks sst2,mrpc --train-limit 2000 --train-sample --out sweep-minilm"
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
    /// Comma-separated task names: lm-eval tasks for a Llama model, GLUE tasks for a BERT model.
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<String>,
    /// Evaluate only the first N documents of each task (lm-eval tasks; GLUE: --eval-limit).
    #[arg(long)]
    limit: Option<usize>,
    /// Rows per batched forward pass (default 16); GLUE: the fine-tuning batch size (default 32).
    #[arg(long)]
    batch_size: Option<usize>,
    /// GLUE: train on at most N examples: the first N, or with --train-sample a seeded sample.
    #[arg(long, help_heading = "GLUE sweeps (BERT models)")]
    train_limit: Option<usize>,
    /// GLUE: with --train-limit, draw the examples with --seed instead of taking the first N.
    #[arg(
        long,
        requires = "train_limit",
        help_heading = "GLUE sweeps (BERT models)"
    )]
    train_sample: bool,
    /// GLUE: evaluate on the first N dev examples only.
    #[arg(long, help_heading = "GLUE sweeps (BERT models)")]
    eval_limit: Option<usize>,
    /// GLUE: fine-tuning epochs [default: 3].
    #[arg(long, help_heading = "GLUE sweeps (BERT models)")]
    epochs: Option<usize>,
    /// GLUE: peak learning rate [default: 2e-5].
    #[arg(long, help_heading = "GLUE sweeps (BERT models)")]
    lr: Option<f64>,
    /// GLUE: truncation length in tokens [default: 128].
    #[arg(long, help_heading = "GLUE sweeps (BERT models)")]
    max_length: Option<usize>,
    /// GLUE: linear warmup steps [default: 0].
    #[arg(long, help_heading = "GLUE sweeps (BERT models)")]
    warmup_steps: Option<usize>,
    /// GLUE: what trains, everything (full) or only the pooler and classifier (frozen-encoder) [default: full].
    #[arg(long, value_enum, help_heading = "GLUE sweeps (BERT models)")]
    mode: Option<Mode>,
    /// GLUE: seed of the new head, the shuffle order, dropout and --train-sample [default: 42].
    #[arg(long, help_heading = "GLUE sweeps (BERT models)")]
    seed: Option<u64>,
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
    /// Schedules per prefix-sharing group; a kill loses at most one group's work [default: 16].
    #[arg(long)]
    group_size: Option<usize>,
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
        SweepError::UnknownTask(_) => format!(
            "lm-eval tasks (Llama models): {}; GLUE tasks (BERT models): {GLUE_TASKS}",
            tasks::NAMES.join(", ")
        ),
        SweepError::GlueTaskOnDecoder(_) => format!(
            "GLUE tasks need a BERT model folder (config.json with model_type \"bert\"), e.g. --model models/all-minilm-l6-v2; this model takes lm-eval tasks: {}",
            tasks::NAMES.join(", ")
        ),
        SweepError::LmTaskOnEncoder(_) => format!(
            "a BERT model is swept on GLUE tasks ({GLUE_TASKS}); lm-eval tasks need a Llama model (.gguf file or HF folder)"
        ),
        SweepError::GlueData { .. } => "each task needs --data-dir/glue-<task>/train.jsonl and dev.jsonl (or .jsonl.gz); QNLI has no train split offline (data/glue-qnli/README.md); see docs/glue.md".into(),
        SweepError::Finetune { .. } => "see docs/glue.md; `painters glue` runs one schedule on one task with the same settings".into(),
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
        if tasks::by_name(t).is_none() && GlueTask::from_name(t).is_none() {
            return Err(sweep_error(SweepError::UnknownTask(t.clone())));
        }
    }
    let shard = match &args.shard {
        Some(s) => s.parse::<Shard>().map_err(sweep_error)?,
        None => Shard::ALL,
    };
    let mut args = args;
    args.model = super::model_path(&args.model, !args.no_progress)?;
    if models::is_bert_folder(&args.model) {
        return run_glue(args, &experiments, tasks, shard);
    }
    for t in &tasks {
        lm_task(t).map_err(sweep_error)?;
    }
    if let Some(flag) = glue_flag(&args) {
        return Err(CliError::new(format!(
            "{flag} applies to GLUE sweeps of BERT models, and {} is not one",
            args.model.display()
        ))
        .with_hint("drop it; a Llama model is scored on lm-eval tasks without training (--limit takes documents)"));
    }
    let norm = norm_config(&tasks, &args.floors, &args.norm_metrics)?;
    let device = device::by_name(&args.device).map_err(CliError::new)?;
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
        batch_size: args.batch_size.unwrap_or(16).max(1),
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
    opts.group_size = args.group_size.unwrap_or(opts.group_size).max(1);
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
        finetune: Some(None),
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
    summary_line(&report, points.len() * opts.tasks.len(), &args.out);
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

/// What a sweep did, on one line of stderr.
fn summary_line(report: &SweepReport, expected: usize, out: &Path) {
    eprintln!(
        "{} results owned by this shard: {} computed, {} already stored{}; {} of {expected} results of the sweep in {} ({:.1} s)",
        report.owned,
        report.computed,
        report.skipped,
        if report.redone > 0 {
            format!(", {} corrupt ones redone", report.redone)
        } else {
            String::new()
        },
        report.present,
        out.join("results.json").display(),
        report.seconds
    );
}

/// The first GLUE-only flag given (they mean nothing for a Llama model).
fn glue_flag(args: &Args) -> Option<&'static str> {
    [
        (args.train_limit.is_some(), "--train-limit"),
        (args.eval_limit.is_some(), "--eval-limit"),
        (args.epochs.is_some(), "--epochs"),
        (args.lr.is_some(), "--lr"),
        (args.max_length.is_some(), "--max-length"),
        (args.warmup_steps.is_some(), "--warmup-steps"),
        (args.mode.is_some(), "--mode"),
        (args.seed.is_some(), "--seed"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

/// The first decoder-only flag given (a GLUE sweep fine-tunes every point and has no scores to
/// normalize, no lm-eval prompts to share and no prefix states to reuse).
fn decoder_flag(args: &Args) -> Option<&'static str> {
    [
        (!args.floors.is_empty(), "--floor"),
        (!args.norm_metrics.is_empty(), "--norm-metric"),
        (args.no_prefix_reuse, "--no-prefix-reuse"),
        (args.group_size.is_some(), "--group-size"),
        (args.no_shared_prefix, "--no-shared-prefix"),
        (args.byte_tokenizer, "--byte-tokenizer"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

/// `painters sweep` on a BERT folder: the GLUE sweep.
fn run_glue(
    args: Args,
    experiments: &[Experiment],
    tasks: Vec<String>,
    shard: Shard,
) -> Result<(), CliError> {
    let tasks: Vec<String> = tasks
        .iter()
        .map(|t| glue_task(t).map(|g| g.name().to_string()))
        .collect::<Result<_, _>>()
        .map_err(sweep_error)?;
    if args.limit.is_some() {
        return Err(
            CliError::new("--limit counts lm-eval documents; a GLUE sweep takes --eval-limit")
                .with_hint("--eval-limit N evaluates on the first N dev examples, --train-limit N trains on N examples"),
        );
    }
    if let Some(flag) = decoder_flag(&args) {
        return Err(CliError::new(format!(
            "{flag} applies to decoder sweeps on lm-eval tasks, and {} is a BERT model",
            args.model.display()
        ))
        .with_hint("drop it; a GLUE sweep's summary is the plain GLUE average of each point (docs/glue.md)"));
    }
    if args.batch_size == Some(0) {
        return Err(CliError::new("--batch-size must be at least 1"));
    }
    let device = super::device(&args.device)?;
    let bert = BertModel::load(&args.model, &device).map_err(bert_err)?;
    let config = bert.config().clone();
    let tokenizer = BertTokenizer::for_model(&args.model, &config).map_err(bert_err)?;
    let defaults = FinetuneConfig::default();
    let max_length = args.max_length.unwrap_or(defaults.max_length);
    let tokenizer = tokenizer.with_max_length(max_length).map_err(bert_err)?;
    let settings = FinetuneSettings {
        config: FinetuneConfig {
            mode: args.mode.map_or(defaults.mode, Into::into),
            learning_rate: args.lr.unwrap_or(defaults.learning_rate),
            batch_size: args.batch_size.unwrap_or(defaults.batch_size),
            max_length,
            epochs: args.epochs.unwrap_or(defaults.epochs),
            warmup_steps: args.warmup_steps.unwrap_or(defaults.warmup_steps),
            seed: args.seed.unwrap_or(defaults.seed),
            ..defaults
        },
        train_limit: args.train_limit,
        train_sample: args.train_sample,
    };
    let sha256 = models::sha256_file(&models::weight_file(&args.model)).map_err(CliError::new)?;
    let layers = config.num_hidden_layers;
    let exp_opts = ExperimentOptions {
        seeds: args.seeds,
        max_loops: args.max_loops,
        loops: args.loops,
    };
    let points: Vec<SchedulePoint> =
        sweep_points(experiments, layers, &exp_opts).map_err(sweep_error)?;
    let mut opts = GlueSweepOptions::new(tasks, args.out.clone());
    opts.settings = settings;
    opts.eval_limit = args.eval_limit;
    opts.data_dir = args.data_dir.clone();
    opts.shard = shard;
    opts.progress = !args.no_progress;
    opts.verbose = args.no_progress;
    opts.stop_after = args.stop_after;
    let fingerprint = opts.settings.fingerprint();
    eprintln!(
        "GLUE sweep: {} schedule points × {} tasks on a {layers}-block BERT model (shard {}/{}), fine-tuned with {fingerprint}",
        points.len(),
        opts.tasks.len(),
        shard.index,
        shard.count
    );
    let filter = ResultFilter {
        model_sha256: Some(sha256.clone()),
        limit: Some(args.eval_limit),
        tasks: Some(opts.tasks.iter().cloned().collect()),
        finetune: Some(Some(fingerprint)),
    };
    let report = run_glue_sweep(
        &GlueSweepModel {
            model: &bert,
            tokenizer: &tokenizer,
            sha256,
        },
        &points,
        &opts,
    )
    .map_err(sweep_error)?;
    summary_line(&report, points.len() * opts.tasks.len(), &args.out);
    let meta = SweepReportMeta {
        model: args
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned()),
        command: Some(std::env::args().collect::<Vec<_>>().join(" ")),
        wall_seconds: (report.skipped == 0 && shard == Shard::ALL).then_some(report.seconds),
        norm: NormConfig::default(),
    };
    super::report::write_report(&args.out, &filter, &meta)?;
    Ok(())
}
