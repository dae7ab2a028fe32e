//! `painters export`: a model under a sequence schedule written as a standalone checkpoint (an HF
//! folder or a GGUF file) whose plain forward is the schedule's forward ([`ExportRun`]).

use std::path::PathBuf;

use painters_bench::jobs::{ExportRun, ExportRunError};
use painters_llama::export::{
    DEFAULT_MAX_SHARD_BYTES, ExportDtype, ExportError, ExportFormat, ExportOptions,
};

use crate::args::{ModelArgs, ScheduleArgs};
use crate::error::{CliError, LLAMA_MODEL_HINT, load_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/export.txt"))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Seed of the random preset.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i128,
    /// The output: a folder (hf) or a .gguf file (gguf).
    #[arg(long)]
    out: PathBuf,
    /// hf or gguf [default: gguf when --out ends in .gguf, else hf].
    #[arg(long, value_parser = parse_format)]
    format: Option<ExportFormat>,
    /// HF exports: the weights' type, f32, bf16 or f16 [default: an HF source's stored types byte
    /// for byte; a GGUF source dequantised to f32].
    #[arg(long, value_parser = parse_dtype)]
    dtype: Option<ExportDtype>,
    /// Replace an existing non-empty output.
    #[arg(long)]
    overwrite: bool,
    /// HF exports: write the weights without tokenizer files.
    #[arg(long)]
    no_tokenizer: bool,
    /// HF exports: the largest safetensors shard, in MiB.
    #[arg(long, default_value_t = DEFAULT_MAX_SHARD_BYTES >> 20)]
    max_shard_mib: u64,
    /// Afterwards, run the source under the schedule and the export under its identity on 16
    /// token ids and print the largest logit difference.
    #[arg(long)]
    verify: bool,
}

fn parse_format(s: &str) -> Result<ExportFormat, String> {
    s.parse().map_err(|e: ExportError| e.to_string())
}

fn parse_dtype(s: &str) -> Result<ExportDtype, String> {
    s.parse().map_err(|e: ExportError| e.to_string())
}

fn run_error(e: ExportRunError) -> CliError {
    match e {
        e @ ExportRunError::WeightMode(_) => CliError::new(e)
            .with_hint("use --dtype f32|bf16|f16 to choose the exported weights' type"),
        ExportRunError::Load(e) => load_error(e, LLAMA_MODEL_HINT),
        ExportRunError::Schedule(e) => e.into(),
        ExportRunError::Export(e) => {
            let hint = match &e {
                ExportError::Schedule(_) => Some(
                    "an export is a plain stack of blocks: use a sequence schedule (no par(...) steps)",
                ),
                ExportError::OutputExists { .. } => Some("pass --overwrite or another --out"),
                ExportError::Inexpressible { .. } => Some(
                    "export to the other format (--format hf keeps per-layer properties in config.json), or choose a schedule that keeps this block's kind of layer at that position",
                ),
                _ => None,
            };
            match hint {
                Some(h) => CliError::new(e).with_hint(h),
                None => CliError::new(e),
            }
        }
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    if args.max_shard_mib == 0 {
        return Err(
            CliError::new("--max-shard-mib 0: a shard must hold at least 1 MiB")
                .with_hint("leave --max-shard-mib out for the default (2048)"),
        );
    }
    let options = ExportOptions {
        format: args
            .format
            .unwrap_or_else(|| ExportFormat::infer(&args.out)),
        dtype: args.dtype,
        overwrite: args.overwrite,
        max_shard_bytes: args.max_shard_mib << 20,
        skip_tokenizer: args.no_tokenizer,
    };
    let run = ExportRun {
        model: args.model.source(true),
        schedule: args.schedule.spec(args.seed),
        out: args.out,
        options,
        verify: args.verify,
    };
    let outcome = run.execute().map_err(run_error)?;
    let r = &outcome.report;
    println!("exported: {}", r.out.display());
    println!("schedule: {}", outcome.schedule);
    let map: Vec<String> = r
        .blocks
        .iter()
        .enumerate()
        .map(|(j, b)| format!("{j}←{b}"))
        .collect();
    println!("layers:   {} ({})", r.blocks.len(), map.join(" "));
    println!(
        "tensors:  {} ({:.1} MiB)",
        r.tensors,
        r.tensor_bytes as f64 / (1u64 << 20) as f64
    );
    for (name, sha) in &r.source_sha256 {
        println!("source:   {name} sha256 {sha}");
    }
    if let Some(c) = &outcome.comparison {
        println!(
            "verify:   largest |export − source| logit difference {:.3e} (largest |logit| {:.2}) over {:?}",
            c.max_abs_diff, c.max_abs, c.shape
        );
    }
    Ok(())
}
