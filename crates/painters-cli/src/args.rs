//! Argument groups several commands share, declared once: the model and device, the schedule, the
//! normalization overrides, and the value enums.

use std::path::PathBuf;

use clap::ValueEnum;
use painters::KvMode;
use painters_bench::glue::FinetuneMode;
use painters_bench::models::ModelSource;
use painters_bench::schedules::{Preset, ScheduleSpec};
use painters_llama::WeightMode;

use crate::error::CliError;

/// `--model` and `--device`: what every command that runs a model takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// The model: a HF checkpoint folder (config.json + safetensors + tokenizer.json), a .gguf file,
    /// or hf:OWNER/NAME[@REVISION][:FILE.gguf] from the Hugging Face hub (cached; see
    /// docs/evaluation.md).
    #[arg(long)]
    pub model: PathBuf,
    /// Compute device: cpu, wgpu, cuda[:N] (as this build's features allow).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[command(flatten)]
    pub weights: WeightsArgs,
}

impl ModelArgs {
    /// The library's model source; `progress` shows a hub download's progress.
    pub fn source(&self, progress: bool) -> ModelSource {
        ModelSource {
            model: self.model.clone(),
            device: self.device.clone(),
            progress,
            weights: self.weights.weights,
        }
    }
}

/// `--weights`: how a decoder's matrices are stored.
#[derive(clap::Args, Debug, Clone)]
pub struct WeightsArgs {
    /// How the model's matrices are stored: f32 (every matrix expanded to f32: the exact path),
    /// f16 or bf16 (half precision: on the CPU packed for its kernels, products in f32; on a GPU
    /// device tensors with half-precision products), native (as the file stores them, e.g. a
    /// GGUF's Q4_1 blocks; quantised products, approximate; CPU only). Recorded in results and part
    /// of every result key. BERT models take f32 only.
    #[arg(long, default_value = "f32", value_parser = parse_weights)]
    pub weights: WeightMode,
}

fn parse_weights(s: &str) -> Result<WeightMode, String> {
    s.parse()
}

/// `--device` alone, for commands whose models come from elsewhere (a fixture manifest).
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Compute device: cpu, wgpu, cuda[:N] (as this build's features allow).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// `--schedule` or `--preset` with its parameters: the schedule options of every command that runs
/// a model under a schedule.
#[derive(clap::Args, Debug, Clone)]
pub struct ScheduleArgs {
    /// A schedule in the text notation or as JSON; `@FILE` reads it from a file. Default: all
    /// blocks in order.
    #[arg(long, conflicts_with = "preset")]
    pub schedule: Option<String>,
    /// A paper preset: full, skip, middle_repeat, reverse, random, parallel, looped_parallel,
    /// skip_one, switch.
    #[arg(long)]
    pub preset: Option<String>,
    /// Start layer N of the preset (the block index for skip_one/switch).
    #[arg(long, conflicts_with = "m")]
    pub n: Option<usize>,
    /// Number of affected middle blocks M = T - 2N - 1.
    #[arg(long)]
    pub m: Option<usize>,
    /// Loop count of looped_parallel.
    #[arg(long, default_value_t = 3)]
    pub loops: usize,
}

impl ScheduleArgs {
    /// The schedule these options name; `seed` is the random preset's.
    pub fn spec(&self, seed: i128) -> ScheduleSpec {
        ScheduleSpec {
            spec: self.schedule.clone(),
            preset: self.preset.as_ref().map(|name| Preset {
                name: name.clone(),
                n: self.n,
                m: self.m,
                seed,
                loops: self.loops,
            }),
        }
    }
}

/// `--data-dir`: where the task data lives.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Where the task data lives (<dir>/<task>/..., as the repository's data/) [default:
    /// $PAINTERS_DATA_DIR, else the task data built into painters, unpacked on first use into
    /// $PAINTERS_CACHE/data-<id> (~/.cache/painters by default)].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// The data folder: `--data-dir`, else `$PAINTERS_DATA_DIR`, else the built-in data
    /// (unpacked into the cache on first use).
    pub fn resolve(&self) -> Result<PathBuf, CliError> {
        data_dir(self.data_dir.as_ref())
    }
}

/// The environment variable that names the data folder when `--data-dir` is not given.
pub const DATA_DIR_VAR: &str = "PAINTERS_DATA_DIR";

/// `given`, else `$PAINTERS_DATA_DIR`, else the data built into painters ([`painters_data`]).
pub fn data_dir(given: Option<&PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(dir) = given {
        return Ok(dir.clone());
    }
    if let Some(dir) = std::env::var_os(DATA_DIR_VAR).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    painters_data::data_dir().map_err(|e| {
        CliError::new(e).with_hint(
            "pass --data-dir (a folder laid out as the repository's data/), or set $PAINTERS_CACHE to a writable folder",
        )
    })
}

/// `--floor` and `--norm-metric`: the normalized score's overrides.
#[derive(clap::Args, Debug, Clone)]
pub struct NormArgs {
    /// Floor of a task's normalized score, TASK=VALUE (repeatable).
    #[arg(long = "floor", value_delimiter = ',')]
    pub floors: Vec<String>,
    /// Metric of a task's normalized score, TASK=METRIC[,FILTER] (repeatable).
    #[arg(long = "norm-metric")]
    pub norm_metrics: Vec<String>,
}

/// KV-cache mode.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KvKind {
    Exact,
    PaperAveraged,
}

impl From<KvKind> for KvMode {
    fn from(k: KvKind) -> Self {
        match k {
            KvKind::Exact => KvMode::Exact,
            KvKind::PaperAveraged => KvMode::PaperAveraged,
        }
    }
}

/// What trains when fine-tuning on GLUE.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Mode {
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

/// The command as typed (arguments quoted where a shell would need it), for reports.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$*?;&|".contains(c)) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a.clone()
            }
        })
        .collect();
    format!("painters {}", quoted.join(" "))
        .trim_end()
        .to_string()
}
