//! The paper's Fig. 11 summary: per task, a score scaled so that random (or majority-class) guessing
//! is 0 and the full model is 1, then the median over tasks.
//!
//! The paper does not say which metric it normalizes per task, nor the guessing floors. The defaults
//! here are an explicit assumption (see `docs/paper.md` §1.2), each overridable per task:
//!
//! | task | metric | floor |
//! |---|---|---:|
//! | `arc_easy`, `arc_challenge` | `acc_norm,none` | 0.25 (four choices) |
//! | `hellaswag` | `acc_norm,none` | 0.25 (four endings) |
//! | `winogrande` | `acc,none` | 0.5 (two options) |
//! | `lambada_openai` | `acc,none` | 0 (open vocabulary) |
//! | `gsm8k` | `exact_match,strict-match` | 0 |
//! | `gsm8k_ll` (painters' own) | `acc,none` | 0 |
//!
//! Tasks without a default (`wikitext`: perplexities have no guessing floor) are left out of the
//! median unless both a metric and a floor are configured for them.
//!
//! GLUE sweeps of BERT encoders are summarized by the paper's BERT figure instead: the plain GLUE
//! average of the tasks' main metrics ([`glue_average`]), no normalization.

use std::collections::BTreeMap;

/// How one task enters the normalized median.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskNorm {
    /// The metric key as lm-eval writes it: `"metric,filter"`.
    pub metric: String,
    /// The score of random (or majority-class) guessing: normalized to 0.
    pub floor: f64,
}

/// Per task, the metric and floor of the normalized median.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NormConfig {
    pub tasks: BTreeMap<String, TaskNorm>,
}

impl NormConfig {
    /// The defaults of the module docs for these tasks (tasks without one are left out).
    pub fn defaults_for<S: AsRef<str>>(tasks: &[S]) -> Self {
        let tasks = tasks
            .iter()
            .filter_map(|t| {
                let t = t.as_ref();
                Some((t.to_string(), default_norm(t)?))
            })
            .collect();
        NormConfig { tasks }
    }

    /// Override the floor of `task` (keeping its metric, or its default metric).
    pub fn set_floor(&mut self, task: &str, floor: f64) -> Result<(), String> {
        match self.tasks.get_mut(task) {
            Some(n) => n.floor = floor,
            None => {
                let metric = default_norm(task).map(|n| n.metric).ok_or_else(|| {
                    format!("task `{task}` has no default metric; give one with --norm-metric {task}=METRIC,FILTER")
                })?;
                self.tasks
                    .insert(task.to_string(), TaskNorm { metric, floor });
            }
        }
        Ok(())
    }

    /// Override the metric (`"metric,filter"`; a bare metric means filter `none`) of `task`.
    pub fn set_metric(&mut self, task: &str, metric: &str) -> Result<(), String> {
        let metric = if metric.contains(',') {
            metric.to_string()
        } else {
            format!("{metric},none")
        };
        match self.tasks.get_mut(task) {
            Some(n) => n.metric = metric,
            None => {
                let floor = default_norm(task).map(|n| n.floor).ok_or_else(|| {
                    format!(
                        "task `{task}` has no default floor; give one with --floor {task}=VALUE"
                    )
                })?;
                self.tasks
                    .insert(task.to_string(), TaskNorm { metric, floor });
            }
        }
        Ok(())
    }

    /// The defaults of `tasks` with the command line's overrides: `floors` as `TASK=VALUE`,
    /// `metrics` as `TASK=METRIC[,FILTER]` (`--floor`, `--norm-metric`).
    pub fn with_flags<S: AsRef<str>>(
        tasks: &[S],
        floors: &[String],
        metrics: &[String],
    ) -> Result<Self, NormFlagError> {
        let mut cfg = NormConfig::defaults_for(tasks);
        let split = |s: &str, flag: &'static str| {
            s.split_once('=')
                .map(|(t, v)| (t.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| NormFlagError::NotAssignment {
                    flag,
                    text: s.to_string(),
                })
        };
        for m in metrics {
            let (task, metric) = split(m, "--norm-metric")?;
            cfg.set_metric(&task, &metric)
                .map_err(NormFlagError::Unknown)?;
        }
        for f in floors {
            let (task, value) = split(f, "--floor")?;
            let x: f64 = value.parse().map_err(|_| NormFlagError::NotANumber {
                text: f.clone(),
                value: value.clone(),
            })?;
            cfg.set_floor(&task, x).map_err(NormFlagError::Unknown)?;
        }
        Ok(cfg)
    }
}

/// A `--floor` or `--norm-metric` flag that does not say what it should.
#[derive(Debug, thiserror::Error)]
pub enum NormFlagError {
    #[error("{flag} {text:?} is not TASK=VALUE")]
    NotAssignment { flag: &'static str, text: String },
    #[error("--floor {text:?}: {value:?} is not a number")]
    NotANumber { text: String, value: String },
    /// A task without a default metric or floor, given only the other.
    #[error("{0}")]
    Unknown(String),
}

/// The default metric and floor of a task (module docs), `None` for tasks without one.
pub fn default_norm(task: &str) -> Option<TaskNorm> {
    let (metric, floor) = match task {
        "arc_easy" | "arc_challenge" | "hellaswag" => ("acc_norm,none", 0.25),
        "winogrande" => ("acc,none", 0.5),
        "lambada_openai" => ("acc,none", 0.0),
        "gsm8k" => ("exact_match,strict-match", 0.0),
        "gsm8k_ll" => ("acc,none", 0.0),
        _ => return None,
    };
    Some(TaskNorm {
        metric: metric.into(),
        floor,
    })
}

/// `(score − floor) / (full − floor)`: 0 at the guessing floor, 1 at the full model's score.
/// `None` when the full model is at the floor (nothing to scale by) or a value is not finite.
pub fn normalize(score: f64, floor: f64, full: f64) -> Option<f64> {
    let span = full - floor;
    let x = (score - floor) / span;
    (span != 0.0 && x.is_finite()).then_some(x)
}

/// The median (the mean of the two middle values for an even count); `None` for no values. NaNs are
/// not expected (callers drop them) and sort last.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let k = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[k - 1] + v[k]) / 2.0
    } else {
        v[k]
    })
}

/// Per task, the normalized score of `scores` against `full` under `cfg`; tasks missing from
/// either map, from `cfg`, or whose full model sits at the floor are left out.
pub fn normalized_scores(
    scores: &BTreeMap<String, f64>,
    full: &BTreeMap<String, f64>,
    cfg: &NormConfig,
) -> BTreeMap<String, f64> {
    cfg.tasks
        .iter()
        .filter_map(|(task, n)| {
            let x = normalize(*scores.get(task)?, n.floor, *full.get(task)?)?;
            Some((task.clone(), x))
        })
        .collect()
}

/// The paper's normalized median: [`median`] of [`normalized_scores`].
pub fn normalized_median(
    scores: &BTreeMap<String, f64>,
    full: &BTreeMap<String, f64>,
    cfg: &NormConfig,
) -> Option<f64> {
    let v: Vec<f64> = normalized_scores(scores, full, cfg).into_values().collect();
    median(&v)
}

/// GLUE sweeps: the `"metric,filter"` key under which a GLUE task's main metric
/// ([`GlueTask::main_metric`](crate::glue::GlueTask::main_metric): CoLA
/// `matthews_correlation`, MRPC `f1`, STS-B `spearmanr`, the others `accuracy`) is stored, e.g.
/// `"f1,none"`; `None` for a name that is not a GLUE task.
pub fn glue_main_metric(task: &str) -> Option<String> {
    crate::glue::GlueTask::from_name(task).map(|t| format!("{},none", t.main_metric()))
}

/// The GLUE average of one schedule point: the plain mean over `tasks` of each task's main metric
/// in `scores` (task → value, fractions as stored, not GLUE's ×100). One main metric per task, as
/// [`glue_main_metric`] says; the GLUE leaderboard's own score would average MRPC's F1 with its
/// accuracy and STS-B's Spearman with its Pearson, which this does not. `None` when `tasks` is
/// empty or a task is missing or not finite (an unfinished shard, a constant STS-B prediction), so
/// that an average is never over fewer tasks than swept.
pub fn glue_average<S: AsRef<str>>(scores: &BTreeMap<String, f64>, tasks: &[S]) -> Option<f64> {
    if tasks.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    for t in tasks {
        let v = *scores.get(t.as_ref())?;
        if !v.is_finite() {
            return None;
        }
        sum += v;
    }
    Some(sum / tasks.len() as f64)
}

/// Mean and spread of repeated measurements (the random variant's seeds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for a single value.
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

/// [`Spread`] of `values`; `None` for no values.
pub fn spread(values: &[f64]) -> Option<Spread> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(Spread {
        n,
        mean,
        std: var.sqrt(),
        min,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, f64)]) -> BTreeMap<String, f64> {
        kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn normalize_maps_floor_to_0_and_full_to_1() {
        assert_eq!(normalize(0.25, 0.25, 0.65), Some(0.0));
        assert_eq!(normalize(0.65, 0.25, 0.65), Some(1.0));
        assert!((normalize(0.45, 0.25, 0.65).unwrap() - 0.5).abs() < 1e-12);
        // Below the floor is negative, above the full model is above 1.
        assert!((normalize(0.2, 0.25, 0.65).unwrap() + 0.125).abs() < 1e-12);
        assert_eq!(normalize(0.3, 0.5, 0.5), None);
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn normalized_median_by_hand() {
        let cfg = NormConfig::defaults_for(&["arc_challenge", "winogrande", "lambada_openai"]);
        let full = map(&[
            ("arc_challenge", 0.45),
            ("winogrande", 0.70),
            ("lambada_openai", 0.80),
        ]);
        let s = map(&[
            ("arc_challenge", 0.35),  // (0.35-0.25)/(0.45-0.25) = 0.5
            ("winogrande", 0.65),     // (0.65-0.5)/(0.70-0.5) = 0.75
            ("lambada_openai", 0.20), // 0.20/0.80 = 0.25
        ]);
        let m = normalized_median(&s, &full, &cfg).unwrap();
        assert!((m - 0.5).abs() < 1e-12, "{m}");
        assert_eq!(normalized_median(&full, &full, &cfg), Some(1.0));
    }

    #[test]
    fn glue_average_is_the_mean_of_every_swept_task() {
        assert_eq!(glue_main_metric("mrpc").as_deref(), Some("f1,none"));
        assert_eq!(
            glue_main_metric("cola").as_deref(),
            Some("matthews_correlation,none")
        );
        assert_eq!(glue_main_metric("arc_easy"), None);
        let s = map(&[("sst2", 0.8), ("mrpc", 0.6)]);
        assert!((glue_average(&s, &["sst2", "mrpc"]).unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(glue_average(&s, &["sst2", "rte"]), None);
        assert_eq!(glue_average(&s, &[] as &[&str]), None);
        assert_eq!(glue_average(&map(&[("sst2", f64::NAN)]), &["sst2"]), None);
    }

    #[test]
    fn spread_by_hand() {
        let s = spread(&[1.0, 2.0, 3.0, 6.0]).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (4, 3.0, 1.0, 6.0));
        // Σ(x−3)² = 4+1+0+9 = 14; 14/3.
        assert!((s.std - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(spread(&[2.0]).unwrap().std, 0.0);
    }
}
