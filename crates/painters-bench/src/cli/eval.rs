//! `painters eval`: a model, a layer schedule and lm-eval tasks in; lm-eval-shaped results JSON out.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use painters::{KvMode, Plan};
use painters_bench::batching::BatchOptions;
use painters_bench::eval::{
    EvalOptions, TaskResult, check_writable, evaluate_task_resuming, results_json, samples_jsonl,
    summary_table, write_atomic,
};
use painters_bench::journal::DocJournal;
use painters_bench::lm::{LanguageModel, LlamaLm};
use painters_bench::{models, tasks};
use painters_llama::{LlamaModel, load_tokenizer};
use serde_json::{Map, Value, json};

use super::CliError;
use super::schedule::ScheduleArgs;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  painters eval --model models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --tasks arc_easy,lambada_openai --limit 100 --out results.json\n  painters eval --model M.gguf --preset skip --m 5 --tasks hellaswag --out skip4.json --log-samples\n\nTasks: lambada_openai, arc_easy, arc_challenge, hellaswag, winogrande, gsm8k, wikitext. See docs/evaluation.md."
)]
pub struct Args {
    /// The model: a HF checkpoint folder (config.json + safetensors + tokenizer.json), a .gguf file,
    /// or hf:OWNER/NAME[@REVISION][:FILE.gguf] from the Hugging Face hub (cached; see docs/evaluation.md).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// KV-cache mode for generation (gsm8k): exact, or the paper authors' averaged cache.
    #[arg(long, value_enum, default_value_t = KvKind::Exact)]
    kv: KvKind,
    /// Comma-separated lm-eval task names.
    #[arg(long, value_delimiter = ',', required = true)]
    tasks: Vec<String>,
    /// Evaluate only the first N documents of each task.
    #[arg(long)]
    limit: Option<usize>,
    /// Rows per batched forward pass.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Model window in tokens (default: the model's max_position_embeddings). Shorter windows make
    /// wikitext faster but its perplexity no longer comparable with lm-eval's.
    #[arg(long)]
    max_length: Option<usize>,
    /// Score every choice as its own batch row instead of reading a shared question prefix once.
    #[arg(long)]
    no_shared_prefix: bool,
    /// Also write per-document records, one JSONL file per task beside --out.
    #[arg(long)]
    log_samples: bool,
    /// Compute device: cpu, wgpu, cuda[:N] (as this build's features allow).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Where the task data lives (data/<task>/...).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// The results file (written atomically).
    #[arg(long)]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum KvKind {
    Exact,
    PaperAveraged,
}

fn samples_path(out: &Path, task: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(|| "results".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}_samples_{task}.jsonl"))
}

/// Where finished tasks of a run writing `out` are kept until `out` is written: `.<name>.tasks/`.
fn checkpoint_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.tasks"))
}

/// A finished task's result from an earlier run of the same command, if it is whole and was made
/// with the same model file, schedule and settings.
fn resume(path: &Path, fingerprint: &Value, task: &dyn tasks::Task) -> Option<TaskResult> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    if v.get("checkpoint_key") != Some(fingerprint) {
        return None;
    }
    TaskResult::from_results_json(task, &v)
}

pub fn run(args: Args) -> Result<(), CliError> {
    let started = Instant::now();
    check_writable(&args.out).map_err(|e| {
        CliError::new(e).with_hint("--out must be a file in an existing, writable folder")
    })?;
    let task_list: Vec<Box<dyn tasks::Task>> = args
        .tasks
        .iter()
        .map(|name| {
            tasks::by_name(name.trim()).ok_or_else(|| {
                CliError::new(format!("unknown task `{name}`"))
                    .with_hint(format!("known tasks: {}", tasks::NAMES.join(", ")))
            })
        })
        .collect::<Result<_, _>>()?;
    let device = super::device(&args.device)?;
    let mut args = args;
    args.model = super::model_path(&args.model, !args.no_progress)?;
    let model = LlamaModel::load(&args.model, &device).map_err(|e| {
        CliError::new(e).with_hint(
            "--model takes a HF checkpoint folder or a .gguf file; one that fails to parse may be \
             truncated: fetch it again (scripts/fetch-models.sh checks sha256)",
        )
    })?;
    let tokenizer = load_tokenizer(&args.model).map_err(CliError::new)?;
    let layers = model.num_blocks();
    let schedule = args.schedule.resolve(layers)?;
    let kv = match args.kv {
        KvKind::Exact => KvMode::Exact,
        KvKind::PaperAveraged => KvMode::PaperAveraged,
    };
    let plan = Plan::compile(&schedule, layers, kv)?;
    let mut lm = LlamaLm::new(&model, &plan, &tokenizer);
    if let Some(n) = args.max_length {
        lm = lm.with_max_length(n);
    }
    let batch = BatchOptions {
        batch_size: args.batch_size.max(1),
        min_saved_tokens: if args.no_shared_prefix {
            None
        } else {
            BatchOptions::default().min_saved_tokens
        },
        ..BatchOptions::default()
    };
    let opts = EvalOptions {
        limit: args.limit,
        batch,
        log_samples: args.log_samples,
        progress: !args.no_progress,
    };
    eprintln!("schedule: {schedule}\nplan:     {}", plan.stats());

    // Each finished task, and each finished document of the task under way, is checkpointed beside
    // --out, so that a run killed after hours resumes where it stopped; the checkpoints go once the
    // results file is written.
    let weights = models::weight_file(&args.model);
    let sha = models::sha256_file(&weights).map_err(CliError::new)?;
    let fingerprint = json!({
        "model_sha256": sha,
        "schedule": schedule.to_string(),
        "layers": layers,
        "limit": args.limit,
        "max_length": lm.max_length(),
        "kv_mode": format!("{kv:?}"),
        "data_dir": args.data_dir,
    });
    let checkpoints = checkpoint_dir(&args.out);
    let mut results = Vec::new();
    for task in &task_list {
        let name = task.info().name;
        let checkpoint = checkpoints.join(format!("{name}.json"));
        let samples_done = !args.log_samples || samples_path(&args.out, name).is_file();
        if let Some(r) = resume(&checkpoint, &fingerprint, task.as_ref()).filter(|_| samples_done) {
            eprintln!("{name}: resumed from {}", checkpoint.display());
            results.push(r);
            continue;
        }
        std::fs::create_dir_all(&checkpoints)
            .map_err(|e| CliError::new(format!("{}: {e}", checkpoints.display())))?;
        let key = json!({"run": fingerprint, "task": name, "version": task.info().version});
        let mut journal = DocJournal::open(&checkpoints.join(format!("{name}.docs.jsonl")), &key)
            .map_err(CliError::new)?;
        if !journal.is_empty() {
            eprintln!(
                "{name}: {} documents on record in {}; answering the rest",
                journal.len(),
                journal.path().display()
            );
        }
        let r = evaluate_task_resuming(
            &lm,
            task.as_ref(),
            &args.data_dir,
            &opts,
            Some(&mut journal),
        )
        .map_err(|e| {
            CliError::new(e).with_hint("check --data-dir (default ./data) and the file named above")
        })?;
        if let Some(e) = journal.write_error() {
            eprintln!(
                "warning: {}: {e}; documents after that point were not checkpointed",
                journal.path().display()
            );
        }
        eprintln!(
            "{}: {} docs in {:.1} s ({:.2} docs/s){}",
            r.info.name,
            r.n_effective,
            r.seconds,
            r.n_effective as f64 / r.seconds.max(1e-9),
            if r.resumed_docs > 0 {
                format!(
                    "; {} of them from earlier runs, whose time is counted up to their last \
                     recorded document",
                    r.resumed_docs
                )
            } else {
                String::new()
            }
        );
        if args.log_samples {
            let path = samples_path(&args.out, r.info.name);
            write_atomic(&path, samples_jsonl(&r.samples).as_bytes()).map_err(CliError::new)?;
        }
        let mut saved = results_json(std::slice::from_ref(&r), Map::new());
        saved["checkpoint_key"] = fingerprint.clone();
        write_atomic(&checkpoint, saved.to_string().as_bytes()).map_err(CliError::new)?;
        results.push(r);
    }

    let date = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut extra = Map::new();
    extra.insert(
        "config".into(),
        json!({
            "model": "painters-llama",
            "model_args": args.model,
            "batch_size": args.batch_size,
            "limit": args.limit,
            "device": args.device,
            "max_length": lm.max_length(),
            "kv_mode": format!("{kv:?}"),
            "shared_prefix": !args.no_shared_prefix,
            "data_dir": args.data_dir,
        }),
    );
    extra.insert("model_sha256".into(), json!(sha));
    extra.insert(
        "schedule".into(),
        json!({"text": schedule.to_string(), "layers": layers, "steps": schedule.to_json()["steps"]}),
    );
    extra.insert("plan".into(), json!(plan.stats()));
    extra.insert("date".into(), json!(date));
    extra.insert(
        "total_evaluation_time_seconds".into(),
        Value::String(format!("{:.3}", started.elapsed().as_secs_f64())),
    );
    let json = results_json(&results, extra);
    let text = serde_json::to_string_pretty(&json).map_err(CliError::new)?;
    write_atomic(&args.out, text.as_bytes()).map_err(CliError::new)?;
    let _ = std::fs::remove_dir_all(&checkpoints);
    print!("{}", summary_table(&results));
    Ok(())
}
