//! `painters glue`: fine-tune a BERT encoder with a new head on one GLUE task under a layer
//! schedule (the schedule in force in training and evaluation), then report the task's GLUE metrics
//! on the dev split as JSON.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::ValueEnum;
use painters::LayerSchedule;
use painters_bert::finetune::{FinetuneConfig, FinetuneMode, GlueTask, finetune};
use painters_bert::glue::{
    PAPER_TASKS, Subset, evaluate_glue, read_glue_jsonl, split_path, tokenize_records,
};
use painters_bert::{BertForSequenceClassification, BertModel, BertTokenizer};
use serde_json::{Value, json};

use super::CliError;
use super::schedule::{Preset, resolve};

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  painters glue --model models/all-minilm-l6-v2 --task rte --out rte.json\n  painters glue --model models/all-minilm-l6-v2 --task sst2 --train-limit 2000 --train-sample --preset skip --n 1 --out sst2-skip.json\n  painters glue --model M --task mrpc --mode frozen-encoder --lr 1e-3\n\nTasks: cola, mrpc, qnli, rte, sst2, stsb, wnli (data/glue-<task>/{train,dev}.jsonl[.gz]). Metrics are on the\nGLUE dev split (the test labels are not public). QNLI has no train split offline: pass --train-file. See docs/glue.md."
)]
pub struct Args {
    /// A HF BERT checkpoint folder (config.json, model.safetensors, tokenizer.json), or a hub repo
    /// of one: hf:OWNER/NAME[@REVISION] (cached; see docs/evaluation.md).
    #[arg(long)]
    model: PathBuf,
    /// GLUE task: cola, mrpc, qnli, rte, sst2, stsb, wnli.
    #[arg(long)]
    task: String,
    /// A schedule in the text notation or as JSON; `@FILE` reads it from a file. Default: all blocks in order.
    #[arg(long, conflicts_with = "preset")]
    schedule: Option<String>,
    /// A paper preset: full, skip, middle_repeat, reverse, random, parallel, looped_parallel, skip_one, switch.
    #[arg(long)]
    preset: Option<String>,
    /// Start layer N of the preset (the block index for skip_one/switch).
    #[arg(long, conflicts_with = "m")]
    n: Option<usize>,
    /// Number of affected middle blocks M = T - 2N - 1.
    #[arg(long)]
    m: Option<usize>,
    /// Loop count of looped_parallel.
    #[arg(long, default_value_t = 3)]
    loops: usize,
    /// What trains: everything (full) or only the pooler and classifier (frozen-encoder).
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    mode: Mode,
    /// Train on at most N examples: the first N, or with --train-sample a seeded sample.
    #[arg(long)]
    train_limit: Option<usize>,
    /// With --train-limit: draw the examples with --seed instead of taking the first N.
    #[arg(long, requires = "train_limit")]
    train_sample: bool,
    /// Evaluate on the first N dev examples only.
    #[arg(long)]
    eval_limit: Option<usize>,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 2e-5)]
    lr: f64,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Truncation length in tokens.
    #[arg(long, default_value_t = 128)]
    max_length: usize,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 0)]
    warmup_steps: usize,
    /// Seed of the new head, the shuffle order, dropout, --train-sample and the random preset.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also evaluate (accuracy / Pearson) after every epoch.
    #[arg(long)]
    eval_each_epoch: bool,
    /// Where the data lives (<data-dir>/glue-<task>/...).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Train on this JSONL file instead of <data-dir>/glue-<task>/train.jsonl[.gz] (same fields).
    #[arg(long)]
    train_file: Option<PathBuf>,
    /// Evaluate on this JSONL file instead of the task's dev split.
    #[arg(long)]
    dev_file: Option<PathBuf>,
    /// Compute device: cpu, wgpu, cuda[:N] (as this build's features allow).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Write the results JSON here (it is printed to stdout too).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Save the fine-tuned model as a HF BertForSequenceClassification folder.
    #[arg(long)]
    save: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum Mode {
    Full,
    FrozenEncoder,
}

impl From<Mode> for FinetuneMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Full => FinetuneMode::Full,
            Mode::FrozenEncoder => FinetuneMode::FrozenEncoder,
        }
    }
}

fn build_schedule(args: &Args, layers: usize) -> Result<LayerSchedule, CliError> {
    let preset = args.preset.as_deref().map(|name| Preset {
        name,
        n: args.n,
        m: args.m,
        seed: args.seed as i128,
        loops: args.loops,
    });
    resolve(args.schedule.as_deref(), preset, layers)
}

/// A BERT-side failure with the hint that fixes its kind.
pub(super) fn bert_err(e: painters_bert::BertError) -> CliError {
    use painters_bert::BertError as E;
    let hint = match &e {
        E::Config(_) | E::Weights(_) => {
            "--model takes a HF BERT folder: config.json, model.safetensors, tokenizer.json (scripts/fetch-models.sh fetches all-MiniLM-L6-v2)"
        }
        E::Tokenizer { .. } | E::VocabMismatch { .. } => {
            "the folder's tokenizer.json must belong to its model; --max-length must not exceed max_position_embeddings"
        }
        E::Schedule(_) => {
            "check the schedule against the model's layer count: `painters schedule SPEC --layers T`"
        }
        E::Data { .. } => "fix or remove the line named above (docs/glue.md describes the fields)",
        E::Save { .. } => "--save must name a folder that can be created",
        _ => "see `painters glue --help` and docs/glue.md",
    };
    CliError::new(e).with_hint(hint)
}

fn data_err(e: painters_bert::glue::GlueDataError) -> CliError {
    CliError::new(e).with_hint(
        "each line is one JSON object with the task's text fields and an integer `label` (a number for STS-B); see docs/glue.md",
    )
}

fn secs(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 100.0).round() / 100.0
}

fn split_file(args: &Args, task: GlueTask, split: &str) -> Result<PathBuf, CliError> {
    let given = match split {
        "train" => &args.train_file,
        _ => &args.dev_file,
    };
    if let Some(p) = given {
        return Ok(p.clone());
    }
    split_path(&args.data_dir, task, split).map_err(|e| {
        let hint = match (task, split) {
            (GlueTask::Qnli, "train") => {
                "the QNLI train split is not available offline (data/glue-qnli/README.md); pass --train-file with a JSONL file of QNLI fields (question, sentence, label)".to_string()
            }
            _ => format!(
                "expected {}/{}/{split}.jsonl or .jsonl.gz; set --data-dir",
                args.data_dir.display(),
                task.dir_name()
            ),
        };
        CliError::new(e).with_hint(hint)
    })
}

pub fn run(args: Args) -> Result<(), CliError> {
    if let Some(out) = &args.out {
        painters_bench::eval::check_writable(out).map_err(|e| {
            CliError::new(e).with_hint("--out must be a file in an existing, writable folder")
        })?;
    }
    let started = Instant::now();
    let task = GlueTask::from_name(&args.task)
        .filter(|t| PAPER_TASKS.contains(t))
        .ok_or_else(|| {
            CliError::new(format!("unknown GLUE task `{}`", args.task))
                .with_hint("one of cola, mrpc, qnli, rte, sst2, stsb, wnli")
        })?;
    if args.batch_size == 0 {
        return Err(CliError::new("--batch-size must be at least 1"));
    }
    let device = super::device(&args.device)?;
    let train_path = split_file(&args, task, "train")?;
    let dev_path = split_file(&args, task, "dev")?;

    // Model and tokenizer.
    let t0 = Instant::now();
    let mut args = args;
    args.model = super::model_path(&args.model, true)?;
    let bert = BertModel::load(&args.model, &device).map_err(bert_err)?;
    let config = bert.config().clone();
    let layers = config.num_hidden_layers;
    let schedule = build_schedule(&args, layers)?;
    let plan = bert.plan(&schedule).map_err(bert_err)?;
    let tokenizer = BertTokenizer::for_model(&args.model, &config).map_err(bert_err)?;
    let model =
        BertForSequenceClassification::new(bert, task.num_labels(), args.seed).map_err(bert_err)?;
    let load_s = secs(t0);

    // Data.
    let t0 = Instant::now();
    let train_subset = match (args.train_limit, args.train_sample) {
        (None, _) => Subset::All,
        (Some(n), false) => Subset::First(n),
        (Some(n), true) => Subset::Sample { n, seed: args.seed },
    };
    let train_all = read_glue_jsonl(&train_path, task).map_err(data_err)?;
    let train_available = train_all.len();
    let train_records = train_subset.apply(train_all);
    let dev_all = read_glue_jsonl(&dev_path, task).map_err(data_err)?;
    let dev_available = dev_all.len();
    let dev_subset = args.eval_limit.map_or(Subset::All, Subset::First);
    let dev_records = dev_subset.apply(dev_all);
    let train = tokenize_records(&train_records, &tokenizer, args.max_length).map_err(bert_err)?;
    let dev = tokenize_records(&dev_records, &tokenizer, args.max_length).map_err(bert_err)?;
    let data_s = secs(t0);
    let mean_len = |d: &painters_bert::finetune::Dataset| {
        d.examples.iter().map(|e| e.input_ids.len()).sum::<usize>() as f64 / d.len().max(1) as f64
    };
    eprintln!(
        "glue {}: schedule `{schedule}`, train {} of {} examples ({}), dev {} of {} (mean {:.1} / {:.1} tokens)",
        task.name(),
        train.len(),
        train_available,
        train_path.display(),
        dev.len(),
        dev_available,
        mean_len(&train),
        mean_len(&dev),
    );

    // Fine-tune.
    let cfg = FinetuneConfig {
        mode: match args.mode {
            Mode::Full => FinetuneMode::Full,
            Mode::FrozenEncoder => FinetuneMode::FrozenEncoder,
        },
        learning_rate: args.lr,
        batch_size: args.batch_size,
        max_length: args.max_length,
        epochs: args.epochs,
        warmup_steps: args.warmup_steps,
        seed: args.seed,
        ..FinetuneConfig::default()
    };
    let t0 = Instant::now();
    let (model, report) = match args.epochs {
        0 => (model, Default::default()),
        _ => finetune(
            model,
            &schedule,
            &train,
            args.eval_each_epoch.then_some(&dev),
            &cfg,
        )
        .map_err(bert_err)?,
    };
    let train_s = secs(t0);
    eprintln!("trained {} steps in {train_s} s", report.steps.len());

    // Evaluate.
    let t0 = Instant::now();
    let metrics = evaluate_glue(&model, &plan, &dev, task, args.batch_size).map_err(bert_err)?;
    let eval_s = secs(t0);

    if let Some(dir) = &args.save {
        model.save(dir).map_err(bert_err)?;
    }

    let epoch_loss = report.epoch_mean_loss(args.epochs);
    let per_epoch: Vec<Value> = report
        .eval
        .iter()
        .map(|m| json!({"loss": m.loss, "accuracy": m.accuracy, "pearson": m.pearson}))
        .collect();
    let main = serde_json::to_value(&metrics)
        .ok()
        .and_then(|v| v.get(task.main_metric()).cloned())
        .unwrap_or(Value::Null);
    let subset_json = |s: Subset| match s {
        Subset::All => json!("all"),
        Subset::First(n) => json!({"first": n}),
        Subset::Sample { n, seed } => json!({"sample": n, "seed": seed}),
    };
    let path_str = |p: &Path| p.display().to_string();
    let out = json!({
        "task": task.name(),
        "eval_split": "dev",
        "eval_split_note": match task {
            GlueTask::Qnli if args.train_file.is_none() => "GLUE dev set (test labels are not public); QNLI has only dev offline",
            _ => "GLUE dev set (test labels are not public)",
        },
        "main_metric": task.main_metric(),
        "main_score": main,
        "metrics": metrics,
        "per_epoch_eval": per_epoch,
        "train_loss_per_epoch": epoch_loss,
        "model": path_str(&args.model),
        "layers": layers,
        "schedule": schedule.to_string(),
        "steps": schedule.to_json()["steps"],
        "preset": args.preset,
        "config": {
            "mode": match args.mode { Mode::Full => "full", Mode::FrozenEncoder => "frozen-encoder" },
            "learning_rate": cfg.learning_rate,
            "batch_size": cfg.batch_size,
            "max_length": cfg.max_length,
            "epochs": cfg.epochs,
            "warmup_steps": cfg.warmup_steps,
            "weight_decay": cfg.weight_decay,
            "max_grad_norm": cfg.max_grad_norm,
            "dropout": cfg.dropout,
            "seed": cfg.seed,
            "device": args.device,
        },
        "train": {
            "file": path_str(&train_path),
            "available": train_available,
            "examples": train.len(),
            "subset": subset_json(train_subset),
            "steps": report.steps.len(),
        },
        "eval": {
            "file": path_str(&dev_path),
            "available": dev_available,
            "examples": dev.len(),
            "subset": subset_json(dev_subset),
        },
        "wall_time_s": {
            "load": load_s,
            "data": data_s,
            "train": train_s,
            "eval": eval_s,
            "total": secs(started),
        },
    });
    let text = serde_json::to_string_pretty(&out)
        .map_err(|e| CliError::new(format!("serializing results: {e}")))?;
    if let Some(path) = &args.out {
        painters_bench::eval::write_atomic(path, format!("{text}\n").as_bytes()).map_err(|e| {
            CliError::new(e).with_hint("check that the --out folder exists and is writable")
        })?;
    }
    println!("{text}");
    Ok(())
}
