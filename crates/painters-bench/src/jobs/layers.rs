//! `painters layers` end to end: a model run over task data with every residual state observed,
//! the similarity matrices (the paper's Figure 3), angular distances, Block Influence and the logit
//! lens written as JSON and CSV, then drawn into SVG/PNG charts and a Markdown report.

use std::path::PathBuf;
use std::time::Instant;

use painters::{KvMode, LayerSchedule, Plan};

use crate::analysis::{
    AnalysisError, AnalysisOptions, LayerAnalysis, SimilarityMode, analyze_llama, write_outputs,
};
use crate::io::{IoError, check_folder_writable};
use crate::lm::{LlamaLm, LmError, TokenRequest};
use crate::models::{LoadError, ModelSource};
use crate::progress::Progress;
use crate::report::ReportError;
use crate::report::layers::{LayerReportMeta, write_layer_report};
use crate::requests::{Request, loglikelihood_tokens};
use crate::schedules::{ScheduleSpec, ScheduleSpecError};
use crate::settings::{SettingError, at_least_one};
use crate::tasks::{self, DataError};

/// One layer analysis.
#[derive(Clone, Debug)]
pub struct LayersRun {
    pub model: ModelSource,
    pub schedule: ScheduleSpec,
    /// The data: an lm-eval task whose documents are one context/continuation pair
    /// (lambada_openai).
    pub task: String,
    /// Analyse the first N documents.
    pub limit: usize,
    /// Similarity matrices to write: `paper`, `token-mean`, `last-token`, comma-separated, or `all`.
    pub modes: String,
    /// Tokens kept per logit-lens read-out; 0 skips the logit lens.
    pub top_k: usize,
    /// Rows per forward pass.
    pub batch_size: usize,
    pub data_dir: PathBuf,
    /// Output folder (created if missing).
    pub out: PathBuf,
    /// Show the analysis' progress on stderr (a bar on a terminal, else a line at a steady
    /// interval).
    pub progress: bool,
    /// The command line, shown in the report.
    pub command: Option<String>,
}

/// Why a layer analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum LayersError {
    #[error("unknown similarity mode `{0}`")]
    UnknownMode(String),
    #[error("task `{0}` is not supported by `painters layers`")]
    UnsupportedTask(String),
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Schedule(#[from] ScheduleSpecError),
    #[error(transparent)]
    Plan(#[from] painters::ScheduleError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Tokens(#[from] LmError),
    #[error("document {0} has no loglikelihood request")]
    NotLoglikelihood(usize),
    #[error("no documents to analyse")]
    NoDocuments,
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A setting that means nothing (checked before any work).
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// `--out` cannot be written into (checked before any work).
    #[error(transparent)]
    Output(IoError),
}

/// What a finished analysis produced.
#[derive(Debug)]
pub struct LayersOutcome {
    pub analysis: LayerAnalysis,
    /// Every file written, in order (JSON, CSVs, charts, `report.md`).
    pub written: Vec<PathBuf>,
    pub wall_seconds: f64,
}

/// The similarity modes of `--mode`.
fn modes(mode: &str) -> Result<Vec<SimilarityMode>, LayersError> {
    if mode == "all" {
        return Ok(SimilarityMode::ALL.to_vec());
    }
    mode.split(',')
        .map(|m| {
            SimilarityMode::from_name(m.trim()).ok_or_else(|| LayersError::UnknownMode(m.into()))
        })
        .collect()
}

impl LayersRun {
    /// The paper's setup: 100 lambada_openai documents in batches of 8, every similarity mode,
    /// top-5 logit lens, the full schedule.
    pub fn new(model: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        LayersRun {
            model: ModelSource::new(model),
            schedule: ScheduleSpec::full(),
            task: "lambada_openai".into(),
            limit: 100,
            modes: "all".into(),
            top_k: 5,
            batch_size: 8,
            data_dir: PathBuf::from("data"),
            out: out.into(),
            progress: false,
            command: None,
        }
    }

    /// Analyse, write the outputs and the report; `say` gets the progress lines.
    pub fn execute(&self, say: &mut dyn FnMut(&str)) -> Result<LayersOutcome, LayersError> {
        let started = Instant::now();
        at_least_one("--limit", self.limit, "documents")?;
        at_least_one("--batch-size", self.batch_size, "rows per forward pass")?;
        self.schedule.check()?;
        check_folder_writable(&self.out).map_err(LayersError::Output)?;
        let modes = modes(&self.modes)?;
        if self.task != "lambada_openai" {
            return Err(LayersError::UnsupportedTask(self.task.clone()));
        }
        let task = tasks::by_name(&self.task)
            .ok_or_else(|| LayersError::UnknownTask(self.task.clone()))?;
        self.model.device()?;
        let path = self.model.local_path()?;
        let model = self.model.load_llama(&path)?;
        let tokenizer = ModelSource::llama_tokenizer(&path)?;
        let layers = model.num_blocks();
        let schedule = self.schedule.resolve(layers)?;
        let plan = Plan::compile(&schedule, layers, KvMode::Exact)?;
        let lm = LlamaLm::new(&model, &plan, &tokenizer);

        let loaded = task.load(&self.data_dir, Some(self.limit))?;
        let requests: Vec<TokenRequest> = loaded
            .docs
            .iter()
            .map(|d| match d.requests.first() {
                Some(Request::Loglikelihood {
                    context,
                    continuation,
                }) => Ok(loglikelihood_tokens(&lm, context, continuation)?),
                _ => Err(LayersError::NotLoglikelihood(d.id)),
            })
            .collect::<Result<_, _>>()?;
        if requests.is_empty() {
            return Err(LayersError::NoDocuments);
        }
        say(&format!(
            "schedule: {schedule}\n{}: {} of {} documents from {}",
            self.task,
            requests.len(),
            loaded.total,
            loaded.path.display()
        ));

        let options = AnalysisOptions {
            batch_size: self.batch_size,
            top_k: self.top_k,
            ..AnalysisOptions::default()
        };
        let pb = Progress::new("layers", requests.len(), "docs", self.progress);
        let mut shown = 0;
        let analysis = analyze_llama(
            &model,
            &plan,
            &requests,
            Some(&tokenizer),
            &options,
            |done, _| {
                pb.inc(done.saturating_sub(shown));
                shown = done;
            },
        )?;
        drop(pb);
        let wall = started.elapsed().as_secs_f64();

        std::fs::create_dir_all(&self.out).map_err(|source| LayersError::Io {
            path: self.out.clone(),
            source,
        })?;
        let mut written = write_outputs(&analysis, &modes, &self.out)?;
        let model_name = path
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        let meta = LayerReportMeta {
            model: model_name,
            data: format!(
                "{}, {} documents (of {}){}",
                self.task,
                requests.len(),
                loaded.total,
                if schedule == LayerSchedule::full(layers) {
                    String::new()
                } else {
                    format!(", schedule `{schedule}`")
                }
            ),
            command: self.command.clone(),
            wall_seconds: Some(wall),
        };
        written.extend(write_layer_report(&analysis, &modes, &meta, &self.out)?);
        Ok(LayersOutcome {
            analysis,
            written,
            wall_seconds: wall,
        })
    }
}
