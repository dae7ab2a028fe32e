//! `painters glue`: fine-tune a BERT encoder with a new head on one GLUE task under a layer
//! schedule (the schedule in force in training and evaluation), then report the task's GLUE
//! metrics on the dev split as JSON ([`GlueRun`]).

use std::path::PathBuf;

use painters_bench::eval::{GlueRun, GlueRunError};
use painters_bench::glue::{FinetuneConfig, GlueTask};

use crate::args::{DataArgs, Mode, ModelArgs, ScheduleArgs};
use crate::error::{CliError, bert_error, load_error, setting_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/glue.txt"))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// GLUE task: cola, mrpc, qnli, rte, sst2, stsb, wnli.
    #[arg(long)]
    task: String,
    #[command(flatten)]
    schedule: ScheduleArgs,
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
    #[command(flatten)]
    data: DataArgs,
    /// Train on this JSONL file instead of <data-dir>/glue-<task>/train.jsonl[.gz] (same fields).
    #[arg(long)]
    train_file: Option<PathBuf>,
    /// Evaluate on this JSONL file instead of the task's dev split.
    #[arg(long)]
    dev_file: Option<PathBuf>,
    /// Write the results JSON here (it is printed to stdout too).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Save the fine-tuned model as a HF BertForSequenceClassification folder.
    #[arg(long)]
    save: Option<PathBuf>,
    /// No progress display (a bar on a terminal, else a line every 30 s).
    #[arg(long)]
    no_progress: bool,
}

fn run_error(e: GlueRunError, data_dir: &std::path::Path) -> CliError {
    match e {
        GlueRunError::Output(e) => CliError::new(e).with_hint(
            "--out must be a file in an existing, writable folder; --save a folder that can be created",
        ),
        GlueRunError::UnknownTask(name) => CliError::new(format!("unknown GLUE task `{name}`"))
            .with_hint("one of cola, mrpc, qnli, rte, sst2, stsb, wnli"),
        GlueRunError::Split {
            task,
            split,
            source,
        } => {
            let hint = match (task, split) {
                (GlueTask::Qnli, "train") => {
                    "the QNLI train split is not available offline (data/glue-qnli/README.md); pass --train-file with a JSONL file of QNLI fields (question, sentence, label)".to_string()
                }
                _ => format!(
                    "expected {}/{}/{split}.jsonl or .jsonl.gz; set --data-dir",
                    data_dir.display(),
                    task.dir_name()
                ),
            };
            CliError::new(source).with_hint(hint)
        }
        GlueRunError::Load(e) => load_error(e, ""),
        GlueRunError::Schedule(e) => e.into(),
        GlueRunError::Data(e) => CliError::new(e).with_hint(
            "each line is one JSON object with the task's text fields and an integer `label` (a number for STS-B); see docs/glue.md",
        ),
        GlueRunError::Bert(e) => bert_error(e),
        GlueRunError::Write(e) => {
            CliError::new(e).with_hint("check that the --out folder exists and is writable")
        }
        GlueRunError::Setting(e) => setting_error(e),
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let run = GlueRun {
        model: args.model.source(!args.no_progress),
        task: args.task,
        schedule: args.schedule.spec(args.seed as i128),
        config: FinetuneConfig {
            mode: args.mode.into(),
            learning_rate: args.lr,
            batch_size: args.batch_size,
            max_length: args.max_length,
            epochs: args.epochs,
            warmup_steps: args.warmup_steps,
            seed: args.seed,
            ..FinetuneConfig::default()
        },
        train_limit: args.train_limit,
        train_sample: args.train_sample,
        eval_limit: args.eval_limit,
        eval_each_epoch: args.eval_each_epoch,
        data_dir: args.data.resolve()?,
        train_file: args.train_file,
        dev_file: args.dev_file,
        out: args.out,
        save: args.save,
        progress: !args.no_progress,
    };
    let json = run
        .execute(&mut |line| eprintln!("{line}"))
        .map_err(|e| run_error(e, &run.data_dir))?;
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| CliError::new(format!("serializing results: {e}")))?;
    println!("{text}");
    Ok(())
}
