//! A sweep as `painters sweep` names it: a model path (a Llama model is swept on lm-eval tasks, a
//! BERT folder on GLUE tasks), experiments, tasks and settings; [`SweepRun::execute_with`] checks
//! them, loads the model, builds the schedule points and runs [`run_sweep`] or
//! [`run_glue_sweep`].

use std::path::PathBuf;

use painters_bert::{BertConfig, BertError, BertTokenizer};

use crate::batching::BatchOptions;
use crate::glue::{FinetuneConfig, FinetuneMode, GlueTask};
use crate::io::{IoError, check_folder_writable};
use crate::lm::{ByteTokenizer, Tokenize};
use crate::models::{LoadError, ModelSource};
use crate::settings::{SettingError, at_least_one_if_given, positive_finite};
use crate::sweep::error::SweepError;
use crate::sweep::experiments::{Experiment, ExperimentOptions, SchedulePoint, sweep_points};
use crate::sweep::glue::{
    FinetuneSettings, GlueSweepModel, GlueSweepOptions, glue_task, run_glue_sweep,
};
use crate::sweep::lm::{SweepModel, SweepOptions, lm_task, run_sweep};
use crate::sweep::summary::{NormConfig, NormFlagError};
use crate::sweep::work::{Shard, SweepReport};
use crate::tasks;

/// The GLUE fine-tuning settings of a sweep of a BERT model; `None` takes `painters glue`'s
/// default. Giving any of them for a Llama model is an error.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepSettings {
    pub train_limit: Option<usize>,
    pub train_sample: bool,
    pub eval_limit: Option<usize>,
    pub epochs: Option<usize>,
    pub lr: Option<f64>,
    pub max_length: Option<usize>,
    pub warmup_steps: Option<usize>,
    pub mode: Option<FinetuneMode>,
    pub seed: Option<u64>,
}

/// One `painters sweep`.
#[derive(Clone, Debug)]
pub struct SweepRun {
    pub model: ModelSource,
    /// Experiment names (skip, parallel, …, all).
    pub experiments: Vec<String>,
    /// lm-eval tasks (Llama models) or GLUE tasks (BERT models).
    pub tasks: Vec<String>,
    pub experiment_options: ExperimentOptions,
    /// lm-eval tasks: the first N documents.
    pub limit: Option<usize>,
    /// Rows per forward pass (default 16); GLUE: the fine-tuning batch size (default 32).
    pub batch_size: Option<usize>,
    pub glue: SweepSettings,
    /// `i/n`: only every n-th work unit, from the i-th.
    pub shard: Option<String>,
    /// Run every schedule on its own instead of sharing leading steps.
    pub no_prefix_reuse: bool,
    pub group_size: Option<usize>,
    /// Score every choice as its own batch row.
    pub no_shared_prefix: bool,
    /// `--floor TASK=VALUE` and `--norm-metric TASK=METRIC[,FILTER]` overrides.
    pub floors: Vec<String>,
    pub norm_metrics: Vec<String>,
    pub data_dir: PathBuf,
    pub out: PathBuf,
    pub progress: bool,
    /// One token per byte (the tiny fixture models have no vocabulary).
    pub byte_tokenizer: bool,
    /// Stop after this many results (tests of resuming).
    pub stop_after: Option<usize>,
}

/// Why a sweep could not run.
#[derive(Debug, thiserror::Error)]
pub enum SweepRunError {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    Load(Box<LoadError>),
    #[error(transparent)]
    Norm(#[from] NormFlagError),
    #[error(transparent)]
    Bert(#[from] BertError),
    /// A GLUE-only setting for a Llama model.
    #[error("{flag} applies to GLUE sweeps of BERT models, and {model} is not one")]
    GlueOnly { flag: &'static str, model: String },
    /// A decoder-only setting for a BERT model.
    #[error("{flag} applies to decoder sweeps on lm-eval tasks, and {model} is a BERT model")]
    DecoderOnly { flag: &'static str, model: String },
    #[error("--limit counts lm-eval documents; a GLUE sweep takes --eval-limit")]
    LimitOnGlue,
    /// A setting that means nothing (checked before any work).
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// `--out` cannot be written into (checked before any work).
    #[error(transparent)]
    Output(IoError),
}

impl From<LoadError> for SweepRunError {
    fn from(e: LoadError) -> Self {
        SweepRunError::Load(Box::new(e))
    }
}

/// What a sweep reports as it goes.
#[derive(Debug)]
pub enum SweepEvent<'a> {
    /// The points and tasks are known; `finetune` is the GLUE settings' fingerprint.
    Starting {
        points: usize,
        tasks: usize,
        layers: usize,
        shard: Shard,
        finetune: Option<&'a str>,
    },
    /// The sweep is done (its folder's `results.json` and `results.csv` are written).
    Finished {
        report: &'a SweepReport,
        /// Results of the whole sweep (points × tasks).
        expected: usize,
        /// A decoder sweep on lm-eval tasks (`report.reuse` says what prefix reuse saved), not a
        /// GLUE sweep.
        decoder: bool,
    },
}

/// What a finished sweep did, and what its report is to show.
#[derive(Clone, Debug)]
pub struct SweepOutcome {
    pub report: SweepReport,
    /// Results of the whole sweep (points × tasks).
    pub expected: usize,
    /// The local model path.
    pub model_path: PathBuf,
    pub sha256: String,
    /// The results' limit (lm-eval documents, or GLUE dev examples).
    pub limit: Option<usize>,
    /// The canonical task names.
    pub tasks: Vec<String>,
    /// GLUE sweeps: the fine-tuning settings' fingerprint.
    pub finetune: Option<String>,
    pub norm: NormConfig,
    pub shard: Shard,
}

/// What a decoder sweep is made of, known before the weights load.
pub(crate) struct DecoderSweep {
    pub tasks: Vec<String>,
    pub norm: NormConfig,
    pub layers: usize,
    pub points: Vec<SchedulePoint>,
    /// Each task's documents, in `tasks` order.
    pub loaded: Vec<crate::tasks::Loaded>,
}

impl SweepRun {
    /// `experiments` × `tasks` on `model` into `out`, with `painters sweep`'s defaults.
    pub fn new(
        model: impl Into<PathBuf>,
        experiments: &[&str],
        tasks: &[&str],
        out: impl Into<PathBuf>,
    ) -> Self {
        SweepRun {
            model: ModelSource::new(model),
            experiments: experiments.iter().map(|e| e.to_string()).collect(),
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            experiment_options: ExperimentOptions::default(),
            limit: None,
            batch_size: None,
            glue: SweepSettings::default(),
            shard: None,
            no_prefix_reuse: false,
            group_size: None,
            no_shared_prefix: false,
            floors: Vec::new(),
            norm_metrics: Vec::new(),
            data_dir: PathBuf::from("data"),
            out: out.into(),
            progress: false,
            byte_tokenizer: false,
            stop_after: None,
        }
    }

    /// Check the arguments, load the model, run the sweep.
    pub fn execute_with(
        &self,
        on_event: &mut dyn FnMut(&SweepEvent),
    ) -> Result<SweepOutcome, SweepRunError> {
        self.check()?;
        check_folder_writable(&self.out).map_err(SweepRunError::Output)?;
        check_folder_writable(&self.out.join("results")).map_err(SweepRunError::Output)?;
        let (experiments, tasks, shard, path) = self.parse()?;
        if ModelSource::is_bert(&path) {
            return self.run_glue(path, &experiments, tasks, shard, on_event);
        }
        let DecoderSweep {
            tasks,
            norm,
            layers,
            points,
            ..
        } = self.decoder_sweep(&experiments, tasks, &path)?;
        let model = self.model.load_llama(&path)?;
        let tokenizer = self.tokenizer(&path)?;
        let tokenizer: &dyn Tokenize = tokenizer.as_ref();
        let sha256 = ModelSource::sha256(&path)?;
        let mut opts = SweepOptions::new(tasks, self.out.clone());
        opts.limit = self.limit;
        opts.batch = BatchOptions {
            batch_size: self.batch_size.unwrap_or(16),
            min_saved_tokens: if self.no_shared_prefix {
                None
            } else {
                BatchOptions::default().min_saved_tokens
            },
            ..BatchOptions::default()
        };
        opts.data_dir = self.data_dir.clone();
        opts.shard = shard;
        opts.prefix_reuse = !self.no_prefix_reuse;
        opts.group_size = self.group_size.unwrap_or(opts.group_size);
        opts.progress = self.progress;
        opts.verbose = !self.progress;
        opts.norm = norm;
        opts.stop_after = self.stop_after;
        on_event(&SweepEvent::Starting {
            points: points.len(),
            tasks: opts.tasks.len(),
            layers,
            shard,
            finetune: None,
        });
        let report = run_sweep(
            &SweepModel {
                model: &model,
                tokenizer,
                sha256: sha256.clone(),
            },
            &points,
            &opts,
        )?;
        let outcome = SweepOutcome {
            report,
            expected: points.len() * opts.tasks.len(),
            model_path: path,
            sha256,
            limit: self.limit,
            tasks: opts.tasks,
            finetune: None,
            norm: opts.norm,
            shard,
        };
        Ok(finished(outcome, true, on_event))
    }

    /// The experiments, tasks, shard and local model path the arguments name.
    pub(crate) fn parse(
        &self,
    ) -> Result<(Vec<Experiment>, Vec<String>, Shard, PathBuf), SweepRunError> {
        let experiments: Vec<Experiment> = self
            .experiments
            .iter()
            .map(|e| e.parse())
            .collect::<Result<_, _>>()?;
        let tasks: Vec<String> = self.tasks.iter().map(|t| t.trim().to_string()).collect();
        for t in &tasks {
            if tasks::by_name(t).is_none() && GlueTask::from_name(t).is_none() {
                return Err(SweepError::UnknownTask(t.clone()).into());
            }
        }
        let shard = match &self.shard {
            Some(s) => s.parse::<Shard>()?,
            None => Shard::ALL,
        };
        let path = self.model.local_path()?;
        Ok((experiments, tasks, shard, path))
    }

    /// A decoder sweep's points and data, from the config and the data files alone (no weights):
    /// a sweep over --max-points, or with a missing or damaged data file, fails here.
    pub(crate) fn decoder_sweep(
        &self,
        experiments: &[Experiment],
        tasks: Vec<String>,
        path: &std::path::Path,
    ) -> Result<DecoderSweep, SweepRunError> {
        for t in &tasks {
            lm_task(t)?;
        }
        if let Some(flag) = self.glue_flag() {
            return Err(SweepRunError::GlueOnly {
                flag,
                model: path.display().to_string(),
            });
        }
        let norm = NormConfig::with_flags(&tasks, &self.floors, &self.norm_metrics)?;
        let layers = ModelSource::decoder_config(path)?.num_hidden_layers;
        let points = sweep_points(experiments, layers, &self.experiment_options)?;
        let mut loaded = Vec::with_capacity(tasks.len());
        for t in &tasks {
            loaded.push(lm_task(t)?.load(&self.data_dir, self.limit).map_err(|e| {
                SweepError::Eval {
                    label: "reading the data".into(),
                    task: t.clone(),
                    source: Box::new(e.into()),
                }
            })?);
        }
        Ok(DecoderSweep {
            tasks,
            norm,
            layers,
            points,
            loaded,
        })
    }

    /// The tokenizer of the Llama model at `path` (one token per byte with `--byte-tokenizer`).
    pub(crate) fn tokenizer(
        &self,
        path: &std::path::Path,
    ) -> Result<Box<dyn Tokenize>, SweepRunError> {
        Ok(if self.byte_tokenizer {
            Box::new(ByteTokenizer)
        } else {
            Box::new(ModelSource::llama_tokenizer(path)?)
        })
    }

    /// The settings that can be checked before anything is read: counts of at least 1, a
    /// learning rate that is a positive number.
    pub fn check(&self) -> Result<(), SweepRunError> {
        at_least_one_if_given("--limit", self.limit, "documents per task")?;
        at_least_one_if_given(
            "--batch-size",
            self.batch_size,
            "rows or examples per batch",
        )?;
        at_least_one_if_given("--group-size", self.group_size, "schedules per group")?;
        let g = &self.glue;
        at_least_one_if_given("--train-limit", g.train_limit, "training examples")?;
        at_least_one_if_given("--eval-limit", g.eval_limit, "dev examples")?;
        if let Some(lr) = g.lr {
            positive_finite("--lr", lr)?;
        }
        at_least_one_if_given("--max-length", g.max_length, "tokens per example")?;
        Ok(())
    }

    /// The first GLUE-only setting given (they mean nothing for a Llama model).
    fn glue_flag(&self) -> Option<&'static str> {
        let g = &self.glue;
        [
            (g.train_limit.is_some(), "--train-limit"),
            (g.eval_limit.is_some(), "--eval-limit"),
            (g.epochs.is_some(), "--epochs"),
            (g.lr.is_some(), "--lr"),
            (g.max_length.is_some(), "--max-length"),
            (g.warmup_steps.is_some(), "--warmup-steps"),
            (g.mode.is_some(), "--mode"),
            (g.seed.is_some(), "--seed"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// The first decoder-only setting given (a GLUE sweep fine-tunes every point and has no scores
    /// to normalize, no lm-eval prompts to share and no prefix states to reuse).
    fn decoder_flag(&self) -> Option<&'static str> {
        [
            (!self.floors.is_empty(), "--floor"),
            (!self.norm_metrics.is_empty(), "--norm-metric"),
            (self.no_prefix_reuse, "--no-prefix-reuse"),
            (self.group_size.is_some(), "--group-size"),
            (self.no_shared_prefix, "--no-shared-prefix"),
            (self.byte_tokenizer, "--byte-tokenizer"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// The fine-tuning settings, `painters glue`'s defaults where none is given.
    fn finetune_settings(&self) -> FinetuneSettings {
        let g = &self.glue;
        let defaults = FinetuneConfig::default();
        FinetuneSettings {
            config: FinetuneConfig {
                mode: g.mode.unwrap_or(defaults.mode),
                learning_rate: g.lr.unwrap_or(defaults.learning_rate),
                batch_size: self.batch_size.unwrap_or(defaults.batch_size),
                max_length: g.max_length.unwrap_or(defaults.max_length),
                epochs: g.epochs.unwrap_or(defaults.epochs),
                warmup_steps: g.warmup_steps.unwrap_or(defaults.warmup_steps),
                seed: g.seed.unwrap_or(defaults.seed),
                ..defaults
            },
            train_limit: g.train_limit,
            train_sample: g.train_sample,
        }
    }

    /// The GLUE sweep of the BERT folder at `path`.
    fn run_glue(
        &self,
        path: PathBuf,
        experiments: &[Experiment],
        tasks: Vec<String>,
        shard: Shard,
        on_event: &mut dyn FnMut(&SweepEvent),
    ) -> Result<SweepOutcome, SweepRunError> {
        let tasks: Vec<String> = tasks
            .iter()
            .map(|t| glue_task(t).map(|g| g.name().to_string()))
            .collect::<Result<_, _>>()?;
        if self.limit.is_some() {
            return Err(SweepRunError::LimitOnGlue);
        }
        if let Some(flag) = self.decoder_flag() {
            return Err(SweepRunError::DecoderOnly {
                flag,
                model: path.display().to_string(),
            });
        }
        self.model.check_bert_weights()?;
        self.finetune_settings().config.check()?;
        self.model.device()?;
        let layers = BertConfig::from_file(&path)
            .map_err(BertError::from)?
            .num_hidden_layers;
        let points: Vec<SchedulePoint> =
            sweep_points(experiments, layers, &self.experiment_options)?;
        let bert = self.model.load_bert(&path)?;
        let config = bert.config().clone();
        let settings = self.finetune_settings();
        let tokenizer = BertTokenizer::for_model(&path, &config)?
            .with_max_length(settings.config.max_length)?;
        let sha256 = ModelSource::sha256(&path)?;
        let mut opts = GlueSweepOptions::new(tasks, self.out.clone());
        opts.settings = settings;
        opts.eval_limit = self.glue.eval_limit;
        opts.data_dir = self.data_dir.clone();
        opts.shard = shard;
        opts.progress = self.progress;
        opts.verbose = !self.progress;
        opts.stop_after = self.stop_after;
        let fingerprint = opts.settings.fingerprint();
        on_event(&SweepEvent::Starting {
            points: points.len(),
            tasks: opts.tasks.len(),
            layers,
            shard,
            finetune: Some(&fingerprint),
        });
        let report = run_glue_sweep(
            &GlueSweepModel {
                model: &bert,
                tokenizer: &tokenizer,
                sha256: sha256.clone(),
            },
            &points,
            &opts,
        )?;
        let outcome = SweepOutcome {
            report,
            expected: points.len() * opts.tasks.len(),
            model_path: path,
            sha256,
            limit: self.glue.eval_limit,
            tasks: opts.tasks,
            finetune: Some(fingerprint),
            norm: NormConfig::default(),
            shard,
        };
        Ok(finished(outcome, false, on_event))
    }
}

/// Tell `on_event` that the sweep of `outcome` is done (`decoder`: a decoder sweep), and return it.
fn finished(
    outcome: SweepOutcome,
    decoder: bool,
    on_event: &mut dyn FnMut(&SweepEvent),
) -> SweepOutcome {
    on_event(&SweepEvent::Finished {
        report: &outcome.report,
        expected: outcome.expected,
        decoder,
    });
    outcome
}
