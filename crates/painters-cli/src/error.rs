//! A command's failure as the user reads it: the library's typed error on one line, and, where we
//! know one, a hint on how to fix it on the next.

use std::fmt;

use painters::ScheduleError;
use painters_bench::jobs::JobError;
use painters_bench::models::LoadError;
use painters_bench::report::sweep::SweepReportError;
use painters_bench::schedules::ScheduleSpecError;
use painters_bench::settings::SettingError;
use painters_bench::sweep::{NormFlagError, SweepError, SweepRunError};
use painters_bert::BertError;
use painters_llama::gguf::GgufError;
use painters_llama::{ConfigError, LlamaError};

/// A command-line failure: what went wrong and, where we know it, how to fix it.
#[derive(Debug)]
pub struct CliError {
    cause: String,
    hint: Option<String>,
}

impl CliError {
    pub fn new(cause: impl fmt::Display) -> Self {
        CliError {
            cause: cause.to_string(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause)
    }
}

/// The hint for `--model` when a Llama model does not load.
pub const LLAMA_MODEL_HINT: &str = "--model takes a HF checkpoint folder or a .gguf file";

/// The hint for a setting refused before any work ([`SettingError`]).
pub const SETTING_HINT: &str =
    "change the value named above, or leave the flag out for its default (see --help)";

/// A refused setting, with its hint.
pub fn setting_error(e: SettingError) -> CliError {
    CliError::new(e).with_hint(SETTING_HINT)
}

/// `--out FILE` that cannot be written.
pub const OUT_FILE_HINT: &str = "--out must be a file in an existing, writable folder";

/// Task data that cannot be read.
pub const DATA_HINT: &str =
    "check --data-dir (default: the data built into painters) and the file named above";

impl From<ScheduleError> for CliError {
    fn from(e: ScheduleError) -> Self {
        let hint = match &e {
            ScheduleError::Syntax { .. } => {
                "schedule text looks like `0..=14, par(15..=16)x3, 17..32`; see docs/schedule-syntax.md"
            }
            ScheduleError::Json { .. } => {
                "schedule JSON looks like {\"steps\":[{\"block\":0},{\"parallel\":[1,2],\"loops\":1}]}"
            }
            ScheduleError::BlockOutOfRange { .. } => {
                "check --layers (the model's block count) against the block indices"
            }
            _ => "see `painters schedule --help`",
        };
        CliError::new(e).with_hint(hint)
    }
}

impl From<ScheduleSpecError> for CliError {
    fn from(e: ScheduleSpecError) -> Self {
        let e = match e {
            ScheduleSpecError::Schedule(s) => return CliError::from(s),
            other => other,
        };
        let hint = match &e {
            ScheduleSpecError::Schedule(_) => "see `painters schedule --help`",
            ScheduleSpecError::NeedsN(_) => {
                "--n is the start layer N; --m the number of affected blocks M = T-2N-1"
            }
            ScheduleSpecError::NeedsLayers => "add --layers T, e.g. --layers 32 for Llama2-7B",
            ScheduleSpecError::Nothing => {
                "pass a schedule (text or JSON) or --preset NAME --layers T --n N"
            }
            ScheduleSpecError::BadRange(_) => "write a range as A..B (end exclusive) or A..=B",
            ScheduleSpecError::Empty(_) => {
                "a schedule names at least one block, e.g. `0..=14, 17..32`; leave --schedule out for the full model"
            }
            ScheduleSpecError::ShuffleOutOfRange { .. } => {
                "shuffle a range of the model's blocks (--layers T is the block count)"
            }
            ScheduleSpecError::Mergekit(m)
                if matches!(**m, painters::mergekit::MergekitError::NotAStack(_)) =>
            {
                "a passthrough recipe (like a checkpoint) is a plain stack of layers: use a sequence schedule, without par(...) steps"
            }
            ScheduleSpecError::Mergekit(_) => {
                "painters reads passthrough recipes of one model: slices of `sources: [{model, layer_range: [a, b]}]`; see docs/export.md"
            }
            ScheduleSpecError::Model { .. } => {
                "--model takes a HF checkpoint folder or a .gguf file (or give --layers T instead)"
            }
            ScheduleSpecError::NeedsModelName => {
                "e.g. --model-name meta-llama/Llama-2-7b-hf (the name mergekit loads)"
            }
            ScheduleSpecError::Read { .. }
            | ScheduleSpecError::Both
            | ScheduleSpecError::BadChaChaSeed => return CliError::new(e),
        };
        CliError::new(e).with_hint(hint)
    }
}

impl From<NormFlagError> for CliError {
    fn from(e: NormFlagError) -> Self {
        match &e {
            NormFlagError::NotAssignment { flag, .. } => {
                let hint = format!("e.g. {flag} winogrande=0.5");
                CliError::new(e).with_hint(hint)
            }
            _ => CliError::new(e),
        }
    }
}

/// A model that does not load; `llama_hint` is the command's hint for a Llama model that fails.
pub fn load_error(e: LoadError, llama_hint: &str) -> CliError {
    match e {
        LoadError::Device(d) => CliError::new(d)
            .with_hint("--device takes cpu, wgpu or cuda[:N], as this build's features allow"),
        LoadError::Hub(h) => {
            let hint = h.hint();
            CliError::new(h).with_hint(hint)
        }
        LoadError::Llama(l) => {
            let hint = decoder_hint(&l).unwrap_or(llama_hint).to_string();
            CliError::new(l).with_hint(hint)
        }
        LoadError::Bert(b) => bert_error(b),
        LoadError::Hash(h) => CliError::new(h),
        e @ LoadError::Encode(_) => {
            CliError::new(e).with_hint("the model's tokenizer could not encode that text")
        }
        e @ LoadError::WeightsOnBert(_) => CliError::new(e)
            .with_hint("--weights f16, bf16 and native apply to decoders (Llama, Gemma, …)"),
    }
}

/// The hint for a decoder that does not load because of what its config says (rather than a
/// damaged file): an architecture painters does not run, or a config field out of range.
fn decoder_hint(e: &LlamaError) -> Option<&'static str> {
    match e {
        LlamaError::Config(ConfigError::Unsupported {
            field: "model_type",
            ..
        }) => Some(SUPPORTED_FAMILIES),
        LlamaError::Gguf(GgufError::InvalidMetadata { key, .. })
            if key == "general.architecture" =>
        {
            Some(SUPPORTED_FAMILIES)
        }
        LlamaError::Config(_) => Some(
            "the model's config.json names the field above; fix it or fetch the checkpoint again",
        ),
        _ => None,
    }
}

/// What `painters` loads, for the hint of an unsupported architecture.
const SUPPORTED_FAMILIES: &str = "painters runs these decoder families (HF model_type): llama, mistral, qwen2, qwen3, gemma2, gemma3_text, phi3, gpt_neox; GGUF files of llama, qwen2, qwen3, gemma2, gemma3, phi3; and BERT encoders for GLUE";

/// A BERT-side failure with the hint that fixes its kind.
pub fn bert_error(e: BertError) -> CliError {
    use BertError as E;
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

/// The GLUE tasks a BERT sweep takes.
pub const GLUE_TASKS: &str = "cola, mrpc, qnli, rte, sst2, stsb, wnli";

/// A sweep failure with the hint that fixes its kind.
fn sweep_error(e: SweepError) -> CliError {
    let tasks = painters_bench::tasks::NAMES.join(", ");
    let hint = match &e {
        SweepError::UnknownExperiment(_) => {
            format!(
                "experiments: {}",
                painters_bench::sweep::Experiment::NAMES.join(", ")
            )
        }
        SweepError::UnknownTask(_) => format!(
            "lm-eval tasks (Llama models): {tasks}; GLUE tasks (BERT models): {GLUE_TASKS}"
        ),
        SweepError::GlueTaskOnDecoder(_) => format!(
            "GLUE tasks need a BERT model folder (config.json with model_type \"bert\"), e.g. --model models/all-minilm-l6-v2; this model takes lm-eval tasks: {tasks}"
        ),
        SweepError::LmTaskOnEncoder(_) => format!(
            "a BERT model is swept on GLUE tasks ({GLUE_TASKS}); lm-eval tasks need a Llama model (.gguf file or HF folder)"
        ),
        SweepError::GlueData { .. } => "each task needs --data-dir/glue-<task>/train.jsonl and dev.jsonl (or .jsonl.gz); QNLI has no train split offline (data/glue-qnli/README.md); see docs/glue.md".into(),
        SweepError::Finetune { .. } => "see docs/glue.md; `painters glue` runs one schedule on one task with the same settings".into(),
        SweepError::BadShard(_) => "e.g. --shard 0/4 … --shard 3/4".into(),
        SweepError::TooManyPoints { .. } => {
            "check --max-loops and --seeds; --max-points N raises the limit if you mean it".into()
        }
        SweepError::Eval { .. } => DATA_HINT.into(),
        SweepError::InvalidRecord { .. } | SweepError::Io { .. } => {
            "check that --out is writable and not shared with a different sweep".into()
        }
        _ => "see `painters sweep --help`".into(),
    };
    CliError::new(e).with_hint(hint)
}

/// A sweep, merge or report job's failure.
pub fn job_error(e: JobError) -> CliError {
    match e {
        JobError::Sweep(e) => sweep_run_error(*e),
        JobError::Merge(e) => merge_error(e),
        JobError::Norm(e) => e.into(),
        JobError::Report(r) => {
            let hint = match &r {
                SweepReportError::NotASweep(_) | SweepReportError::Empty(_) => {
                    "DIR is a `painters sweep --out` folder with results in it"
                }
                _ => "check that the folder is writable; `painters report DIR` redraws it",
            };
            CliError::new(JobError::Report(r)).with_hint(hint)
        }
    }
}

fn merge_error(e: SweepError) -> CliError {
    let hint = match &e {
        SweepError::Conflict { .. } => {
            "the shards disagree: rerun that result (delete one of the two files) or check that both used the same model and data"
        }
        SweepError::InvalidRecord { .. } => {
            "a partial or foreign file; rerun that shard's `painters sweep` to redo it, or delete the file"
        }
        SweepError::Mixed(_) => "merge the shards of one sweep (one model, one --limit)",
        SweepError::Write(_) => "--out is a folder: an existing one or one that can be created",
        _ => "inputs are `painters sweep --out` folders",
    };
    CliError::new(e).with_hint(hint)
}

fn sweep_run_error(e: SweepRunError) -> CliError {
    match e {
        SweepRunError::Sweep(e) => sweep_error(e),
        SweepRunError::Load(e) => load_error(*e, LLAMA_MODEL_HINT),
        SweepRunError::Norm(e) => e.into(),
        SweepRunError::Bert(e) => bert_error(e),
        e @ SweepRunError::GlueOnly { .. } => CliError::new(e).with_hint(
            "drop it; a Llama model is scored on lm-eval tasks without training (--limit takes documents)",
        ),
        e @ SweepRunError::DecoderOnly { .. } => CliError::new(e).with_hint(
            "drop it; a GLUE sweep's summary is the plain GLUE average of each point (docs/glue.md)",
        ),
        e @ SweepRunError::LimitOnGlue => CliError::new(e).with_hint(
            "--eval-limit N evaluates on the first N dev examples, --train-limit N trains on N examples",
        ),
        SweepRunError::Setting(e) => setting_error(e),
        SweepRunError::Output(e) => CliError::new(e)
            .with_hint("--out is the sweep's folder: an existing folder or one that can be created"),
    }
}
