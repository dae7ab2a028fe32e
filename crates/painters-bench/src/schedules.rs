//! Naming a schedule the way a user does: text or JSON (inline or `@FILE`), or a paper preset with
//! its parameters, resolved against a model's block count once the model is known; and the
//! description `painters schedule` prints.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use painters::mergekit::{MergekitError, MergekitRecipe, from_yaml, to_yaml};
use painters::paper::{Middle, Variant};
use painters::{KvMode, LayerSchedule, Plan, ScheduleError, ShuffleRng};
use serde_json::{Value, json};

use crate::models::ModelSource;

/// Why a schedule could not be named.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleSpecError {
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("cannot read schedule file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("give either a schedule or a preset, not both")]
    Both,
    /// A preset that needs its start layer (or M) was given neither.
    #[error("preset {0} needs --n (or --m)")]
    NeedsN(String),
    /// A preset without the model's block count (`painters schedule --preset` without `--layers`).
    #[error("--preset needs the model's block count")]
    NeedsLayers,
    #[error("no schedule given")]
    Nothing,
    #[error("--shuffle {0:?} is not a block range")]
    BadRange(String),
    #[error("--rng chacha needs a non-negative --seed below 2^64")]
    BadChaChaSeed,
    /// A mergekit recipe that cannot be read as a schedule, or a schedule that cannot be written
    /// as one.
    #[error(transparent)]
    Mergekit(Box<MergekitError>),
    /// `--model`, read for its block count, has no configuration painters can read.
    #[error("--model {path}: {message}")]
    Model { path: String, message: Box<str> },
    /// `--to-mergekit` without a model name to write into the recipe.
    #[error("a mergekit recipe names its model: give --model-name (or --model)")]
    NeedsModelName,
    /// A schedule that runs no block at all (empty text, an empty range, `{"steps": []}`).
    #[error("{}", empty_message(.0))]
    Empty(String),
    /// A `--shuffle` range that reaches past the model's last block.
    #[error(
        "--shuffle {range} reaches block {last}, but the model has {layers} blocks (0..{layers})"
    )]
    ShuffleOutOfRange {
        range: String,
        last: usize,
        layers: usize,
    },
}

fn empty_message(spec: &str) -> String {
    if spec.trim().is_empty() {
        "the schedule is empty text: it runs no blocks".into()
    } else {
        format!("the schedule `{spec}` runs no blocks")
    }
}

/// A paper preset with its parameters (`--preset NAME [--n N | --m M] [--seed S] [--loops K]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    pub name: String,
    /// Start layer N (blocks 0..=N and T-N..T kept); the block index of skip_one/switch.
    pub n: Option<usize>,
    /// Number of affected middle blocks M = T - 2N - 1.
    pub m: Option<usize>,
    /// Seed of the random preset.
    pub seed: i128,
    /// Loop count of looped_parallel.
    pub loops: usize,
}

/// A schedule as named before the model is known: the full model, a text/JSON spec (`@FILE` reads
/// a file), or a preset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScheduleSpec {
    pub spec: Option<String>,
    pub preset: Option<Preset>,
}

impl ScheduleSpec {
    /// All blocks in order.
    pub fn full() -> Self {
        ScheduleSpec::default()
    }

    /// A schedule in the text notation or as JSON; `@FILE` reads it from a file.
    pub fn text(spec: impl Into<String>) -> Self {
        ScheduleSpec {
            spec: Some(spec.into()),
            preset: None,
        }
    }

    /// A paper preset with start layer `n`.
    pub fn preset(name: impl Into<String>, n: usize) -> Self {
        ScheduleSpec {
            spec: None,
            preset: Some(Preset {
                name: name.into(),
                n: Some(n),
                m: None,
                seed: 0,
                loops: 3,
            }),
        }
    }

    /// What can be checked before the model is known: a text or JSON spec must parse and run at
    /// least one block (presets are checked against the model's block count by [`Self::resolve`]).
    pub fn check(&self) -> Result<(), ScheduleSpecError> {
        if self.spec.is_some() && self.preset.is_some() {
            return Err(ScheduleSpecError::Both);
        }
        if let Some(spec) = &self.spec {
            parse_spec(spec)?;
        }
        Ok(())
    }

    /// The schedule for a model of `layers` blocks; neither a spec nor a preset is the full model.
    pub fn resolve(&self, layers: usize) -> Result<LayerSchedule, ScheduleSpecError> {
        let Some(p) = &self.preset else {
            return match &self.spec {
                Some(spec) => parse_spec(spec),
                None => Ok(LayerSchedule::full(layers)),
            };
        };
        if self.spec.is_some() {
            return Err(ScheduleSpecError::Both);
        }
        let variant = Variant::parse(&p.name, p.seed, p.loops)?;
        Ok(match (p.n, p.m) {
            (_, Some(m)) if variant.uses_middle() => variant.on_middle(Middle::from_m(layers, m)?),
            (Some(n), None) => variant.schedule(layers, n)?,
            (None, None) if variant == Variant::Full => LayerSchedule::full(layers),
            _ => return Err(ScheduleSpecError::NeedsN(p.name.clone())),
        })
    }
}

/// Parse a schedule given as text or JSON (detected by a leading `{`); `@FILE` reads it from a file.
/// A schedule that runs no block is refused ([`ScheduleSpecError::Empty`]).
pub fn parse_spec(spec: &str) -> Result<LayerSchedule, ScheduleSpecError> {
    let schedule = parse_spec_text(spec)?;
    // "No steps at all" is ours to explain; steps that run nothing (an empty parallel step) are
    // the core's, whose validation names the step.
    if schedule.steps().is_empty() {
        return Err(ScheduleSpecError::Empty(spec.to_string()));
    }
    // Everything but the block range (the model is not known yet): an empty parallel step, too
    // deep a nesting or too many applications is refused here, before any model loads.
    schedule.validate(usize::MAX)?;
    // Steps that are all empty (`()`, `par((), ())x6`) run no block either.
    if schedule.application_count() == 0 {
        return Err(ScheduleSpecError::Empty(spec.to_string()));
    }
    Ok(schedule)
}

fn parse_spec_text(spec: &str) -> Result<LayerSchedule, ScheduleSpecError> {
    let text = match spec.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ScheduleSpecError::Read {
            path: path.to_string(),
            source,
        })?,
        None => spec.to_string(),
    };
    Ok(if text.trim_start().starts_with('{') {
        LayerSchedule::from_json_str(&text)?
    } else {
        text.trim().parse()?
    })
}

/// A contiguous block range written as `A..B` or `A..=B`.
pub fn parse_block_range(text: &str) -> Result<RangeInclusive<usize>, ScheduleSpecError> {
    let bad = || ScheduleSpecError::BadRange(text.to_string());
    let s: LayerSchedule = text.parse().map_err(|_| bad())?;
    if s.application_count() > painters::schedule::MAX_APPLICATIONS {
        return Err(bad());
    }
    let blocks = s.block_applications();
    // Compared lazily: `0,5555555552` is two blocks whose range would spell out billions.
    match (blocks.first(), blocks.last()) {
        (Some(&a), Some(&b)) if a <= b && blocks.iter().copied().eq(a..=b) => Ok(a..=b),
        _ => Err(bad()),
    }
}

/// Which generator shuffles a block range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShuffleKind {
    /// CPython's `random.shuffle`, as the paper.
    Python,
    ChaCha,
}

/// What `painters schedule` shows about one schedule.
#[derive(Clone, Debug)]
pub struct ScheduleQuery {
    pub schedule: ScheduleSpec,
    /// The model's block count T; required with a preset, else the schedule's largest block + 1.
    pub layers: Option<usize>,
    /// Shuffle this block range (`A..=B`) after building the schedule, with `seed`.
    pub shuffle: Option<(String, ShuffleKind)>,
    /// Seed of the shuffle (and of the random preset).
    pub seed: i128,
    pub kv: KvMode,
    /// One JSON object instead of text.
    pub json: bool,
    /// Also the plan's op list.
    pub plan: bool,
    /// A model (HF folder or `.gguf`) whose block count is T when `layers` is not given.
    pub model: Option<PathBuf>,
    /// Read the schedule from this mergekit passthrough recipe (instead of `schedule`).
    pub from_mergekit: Option<PathBuf>,
    /// Print the schedule as a mergekit passthrough recipe (YAML) instead of the usual output.
    pub to_mergekit: Option<MergekitTarget>,
}

/// What a recipe written by `--to-mergekit` names besides its slices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergekitTarget {
    /// The model every slice takes its layers from (`model:`); default: the recipe read with
    /// `from_mergekit`, else `--model` as given.
    pub model_name: Option<String>,
    /// `dtype:` of the recipe, e.g. `bfloat16`.
    pub dtype: Option<String>,
}

impl ScheduleQuery {
    /// The schedule's canonical text, JSON steps and plan figures, as `painters schedule` prints
    /// them.
    pub fn render(&self) -> Result<String, ScheduleSpecError> {
        let known = self.known_layers()?;
        let recipe = self.recipe(known)?;
        let (schedule, layers) = match (&recipe, &self.schedule.spec, &self.schedule.preset) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(ScheduleSpecError::Both),
            (Some(r), None, None) => {
                let layers =
                    known.unwrap_or_else(|| r.slices.iter().map(|s| s.end).max().unwrap_or(0));
                (r.schedule.clone(), layers)
            }
            (None, Some(spec), _) => {
                let s = parse_spec(spec)?;
                let layers = known.unwrap_or_else(|| s.blocks_used().last().map_or(0, |b| b + 1));
                (s, layers)
            }
            (None, None, Some(_)) => {
                let layers = known.ok_or(ScheduleSpecError::NeedsLayers)?;
                (self.schedule.resolve(layers)?, layers)
            }
            (None, None, None) => return Err(ScheduleSpecError::Nothing),
        };
        let schedule = match &self.shuffle {
            Some((range, kind)) => {
                let blocks = parse_block_range(range)?;
                if *blocks.end() >= layers {
                    return Err(ScheduleSpecError::ShuffleOutOfRange {
                        range: range.clone(),
                        last: *blocks.end(),
                        layers,
                    });
                }
                let rng = match kind {
                    ShuffleKind::Python => ShuffleRng::Python(self.seed),
                    ShuffleKind::ChaCha => ShuffleRng::ChaCha(
                        u64::try_from(self.seed).map_err(|_| ScheduleSpecError::BadChaChaSeed)?,
                    ),
                };
                schedule.shuffle(blocks, rng)
            }
            None => schedule,
        };
        let plan = Plan::compile(&schedule, layers, self.kv)?;
        if let Some(target) = &self.to_mergekit {
            let model = target
                .model_name
                .clone()
                .or_else(|| recipe.as_ref().map(|r| r.model.clone()))
                .or_else(|| self.model.as_ref().map(|m| m.display().to_string()))
                .ok_or(ScheduleSpecError::NeedsModelName)?;
            let dtype = target
                .dtype
                .clone()
                .or_else(|| recipe.as_ref().and_then(|r| r.dtype.clone()));
            return to_yaml(&schedule, &model, Some(layers), dtype.as_deref())
                .map_err(|e| ScheduleSpecError::Mergekit(Box::new(e)));
        }
        if self.json {
            let mut out = json!({
                "layers": layers,
                "schedule": schedule.to_string(),
                "steps": schedule.to_json()["steps"],
                "plan": plan.stats(),
            });
            if self.plan {
                out["plan_text"] = json!(plan.to_string());
            }
            if let Some(r) = &recipe {
                out["mergekit"] = json!({
                    "model": r.model,
                    "slices": r.slices.iter().map(|s| [s.start, s.end]).collect::<Vec<_>>(),
                    "dtype": r.dtype,
                });
            }
            return Ok(format!("{}\n", pretty_with_compact_steps(&out)));
        }
        let mut s = format!(
            "schedule: {schedule}\nlayers:   {layers}\nsteps:    {}\nplan:     {}\n",
            schedule.to_json(),
            plan.stats()
        );
        if let Some(r) = &recipe {
            let slices: Vec<String> = r
                .slices
                .iter()
                .map(|s| format!("[{}, {})", s.start, s.end))
                .collect();
            s.push_str(&format!("mergekit: {} ← {}\n", slices.join(" "), r.model));
        }
        if self.plan {
            s.push_str(&plan.to_string());
        }
        Ok(s)
    }

    /// T: `layers`, else the block count of `model`'s configuration, else unknown.
    fn known_layers(&self) -> Result<Option<usize>, ScheduleSpecError> {
        if self.layers.is_some() {
            return Ok(self.layers);
        }
        let Some(path) = &self.model else {
            return Ok(None);
        };
        let config = ModelSource::decoder_config(path).map_err(|e| ScheduleSpecError::Model {
            path: path.display().to_string(),
            message: e.to_string().into(),
        })?;
        Ok(Some(config.num_hidden_layers))
    }

    /// The recipe `from_mergekit` names, read against `layers` when known.
    fn recipe(&self, layers: Option<usize>) -> Result<Option<MergekitRecipe>, ScheduleSpecError> {
        let Some(path) = &self.from_mergekit else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ScheduleSpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        from_yaml(&text, layers)
            .map(Some)
            .map_err(|e| ScheduleSpecError::Mergekit(Box::new(e)))
    }
}

/// Pretty JSON, except that each schedule step stays on one line (a 32-step schedule is then 32
/// lines that read like the schedule, not 100 lines of braces).
pub fn pretty_with_compact_steps(v: &Value) -> String {
    let mut lines = vec!["{".to_string()];
    let obj = v.as_object().into_iter().flatten().collect::<Vec<_>>();
    for (i, (k, val)) in obj.iter().enumerate() {
        let comma = if i + 1 < obj.len() { "," } else { "" };
        let body = match (k.as_str(), val.as_array()) {
            ("steps", Some(steps)) => {
                let inner: Vec<String> = steps.iter().map(|s| format!("    {s}")).collect();
                format!("[\n{}\n  ]", inner.join(",\n"))
            }
            _ => serde_json::to_string_pretty(val)
                .unwrap_or_default()
                .replace('\n', "\n  "),
        };
        lines.push(format!("  {}: {body}{comma}", Value::from(k.as_str())));
    }
    lines.push("}".to_string());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_presets_resolve() {
        assert_eq!(
            ScheduleSpec::full().resolve(4).unwrap(),
            LayerSchedule::full(4)
        );
        let s = ScheduleSpec::text("0, 2..4").resolve(4).unwrap();
        assert_eq!(s.block_applications(), vec![0, 2, 3]);
        // The authors' convention (docs/schedule-syntax.md): blocks 0..=N and T-N..T are kept.
        let skip = ScheduleSpec::preset("skip", 1).resolve(6).unwrap();
        assert_eq!(skip.block_applications(), vec![0, 1, 5]);
        let mut both = ScheduleSpec::preset("skip", 1);
        both.spec = Some("0".into());
        assert!(matches!(both.resolve(6), Err(ScheduleSpecError::Both)));
        let mut no_n = ScheduleSpec::preset("skip", 1);
        if let Some(p) = no_n.preset.as_mut() {
            p.n = None;
        }
        let e = no_n.resolve(6).unwrap_err();
        assert_eq!(e.to_string(), "preset skip needs --n (or --m)");
    }

    #[test]
    fn schedules_without_steps_are_refused_before_the_model() {
        for spec in ["", "  ", r#"{"steps": []}"#] {
            let e = ScheduleSpec::text(spec).check().unwrap_err();
            assert!(matches!(e, ScheduleSpecError::Empty(_)), "{spec:?}: {e}");
            assert!(e.to_string().contains("runs no blocks"), "{e}");
        }
        assert!(ScheduleSpec::text("0, 2").check().is_ok());
        assert!(ScheduleSpec::full().check().is_ok());
    }

    #[test]
    fn a_shuffle_past_the_model_names_the_range() {
        let q = ScheduleQuery {
            schedule: ScheduleSpec::text("0..32"),
            layers: Some(32),
            shuffle: Some(("5..=99".into(), ShuffleKind::Python)),
            seed: 0,
            kv: KvMode::Exact,
            json: false,
            plan: false,
            model: None,
            from_mergekit: None,
            to_mergekit: None,
        };
        let e = q.render().unwrap_err().to_string();
        assert_eq!(
            e,
            "--shuffle 5..=99 reaches block 99, but the model has 32 blocks (0..32)"
        );
    }

    #[test]
    fn a_step_that_runs_nothing_is_refused_before_the_model_is_known() {
        // Found by the cli_values fuzz target: it passed `check` and `resolve` and ran no blocks.
        let spec = ScheduleSpec::text(r#"{"steps":[{"parallel":[],"loops":2}]}"#);
        let e = spec.check().unwrap_err().to_string();
        assert!(e.contains("at least one branch"), "{e}");
        assert!(spec.resolve(26).is_err());
        // Found by the same target in its rerun: steps that are all empty sequences.
        let e = ScheduleSpec::text("par((),()x 1)x6,()")
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("runs no blocks"), "{e}");
    }

    #[test]
    fn block_ranges() {
        assert_eq!(parse_block_range("5..=20").unwrap(), 5..=20);
        assert_eq!(parse_block_range("5..8").unwrap(), 5..=7);
        assert!(parse_block_range("3, 1").is_err());
        assert!(parse_block_range("x").is_err());
    }

    /// Found by the `cli_values` fuzz target (its exact text): two blocks far apart were compared
    /// with the range between them spelled out, a 44 GB allocation for `--shuffle 0,5555555552`.
    #[test]
    fn block_ranges_far_apart_are_refused_without_spelling_them_out() {
        for text in [
            "0 \x0c\x0c\x0c,\x0c\x0c\x0c\x0c\x0c  5555555552",
            "0, 5555555552",
        ] {
            assert!(matches!(
                parse_block_range(text),
                Err(ScheduleSpecError::BadRange(t)) if t == text
            ));
        }
    }
}
