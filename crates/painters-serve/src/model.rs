//! [`ServedModel`]: the one decoder a server runs, under its one schedule, with its tokenizer and
//! chat template, loaded and checked before the server listens.

use std::path::Path;
use std::sync::Arc;

use painters::{KvMode, Plan};
use painters_bench::lm::{TextEncoding, Tokenize};
use painters_bench::models::ModelSource;
use painters_bench::schedules::ScheduleSpec;
use painters_llama::LlamaModel;

use crate::chat::{ChatTemplate, template_source};
use crate::error::ServeError;

/// The model a server serves.
pub struct ServedModel {
    pub model: LlamaModel,
    pub plan: Plan,
    pub tokenizer: Arc<dyn Tokenize + Send + Sync>,
    /// How prompt strings become tokens (lm-eval's rule for the family: no special tokens, BOS
    /// for Gemma).
    pub encoding: TextEncoding,
    /// The id clients name in `model` (and `/v1/models` lists).
    pub id: String,
    /// The schedule in the text notation.
    pub schedule: String,
    /// The chat template, when the model has one.
    pub chat: Option<ChatTemplate>,
}

/// What [`ServedModel::load`] reads: the model, the schedule and the name to serve it under.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub source: ModelSource,
    pub schedule: ScheduleSpec,
    /// The KV-cache mode of generation.
    pub kv: KvMode,
    /// The served id; default `<file or folder name>@<schedule>`.
    pub name: Option<String>,
}

impl ServedModel {
    /// Loads the model, its tokenizer and chat template (a template that does not compile is an
    /// error now, not at the first chat request), and compiles the schedule.
    pub fn load(spec: &ModelSpec) -> Result<Self, ServeError> {
        spec.schedule.check()?;
        spec.source.device()?;
        let path = spec.source.local_path()?;
        if ModelSource::is_bert(&path) {
            return Err(ServeError::NotADecoder(path));
        }
        let model = spec.source.load_llama(&path)?;
        let tokenizer = ModelSource::llama_tokenizer(&path)?;
        let layers = model.num_blocks();
        let schedule = spec.schedule.resolve(layers)?;
        let plan = Plan::compile(&schedule, layers, spec.kv)?;
        let name = |id: Option<u32>| {
            id.and_then(|i| tokenizer.hf().id_to_token(i))
                .unwrap_or_default()
        };
        let special = tokenizer.special_tokens();
        let (bos, eos) = (name(special.bos), name(special.eos));
        let chat = match template_source(&path).map_err(|reason| template_error(&path, reason))? {
            Some(src) => Some(
                ChatTemplate::new(&src, &bos, &eos)
                    .map_err(|reason| template_error(&path, reason))?,
            ),
            None => None,
        };
        let schedule = schedule.to_string();
        let id = spec.name.clone().unwrap_or_else(|| {
            let stem = path.file_stem().map_or_else(
                || path.display().to_string(),
                |s| s.to_string_lossy().into(),
            );
            format!("{stem}@{schedule}")
        });
        Ok(ServedModel {
            encoding: TextEncoding::for_family(model.config().family),
            model,
            plan,
            tokenizer: Arc::new(tokenizer),
            id,
            schedule,
            chat,
        })
    }

    /// The model's window (`max_position_embeddings`): prompt plus new tokens.
    pub fn window(&self) -> usize {
        self.model.config().max_position_embeddings
    }

    /// The vocabulary size: token ids in prompts must be below it.
    pub fn vocab(&self) -> usize {
        self.model.config().vocab_size
    }
}

fn template_error(path: &Path, reason: String) -> ServeError {
    ServeError::ChatTemplate {
        path: path.to_path_buf(),
        reason,
    }
}
