//! mergekit `passthrough` recipes as layer schedules, and back.
//!
//! [mergekit](https://github.com/arcee-ai/mergekit) assembles "frankenmerges" and pruned models from
//! YAML recipes whose `slices` each copy a half-open `layer_range: [a, b]` (layers `a..b`) of a
//! model, in order:
//!
//! ```yaml
//! slices:
//!   - sources:
//!       - model: meta-llama/Llama-2-7b-hf
//!         layer_range: [0, 20]
//!   - sources:
//!       - model: meta-llama/Llama-2-7b-hf
//!         layer_range: [24, 32]
//! merge_method: passthrough
//! dtype: float16
//! ```
//!
//! For one model this is exactly a sequence schedule (`0..20, 24..32`): [`from_yaml`] reads such a
//! recipe as a [`LayerSchedule`], [`to_yaml`] writes any sequence schedule as one (each run of
//! consecutive ascending blocks becomes one slice). What a recipe can say beyond that is refused
//! with an error naming the key: other merge methods, several models, a slice blending several
//! sources, `parameters` (passthrough's `scale` multiplies weights), `residual_weight`, and a
//! tokenizer from elsewhere. `dtype`, `out_dtype`, `chat_template`, `base_model` (the same model)
//! and a tokenizer taken from that model are accepted: they do not change which layers run.
//!
//! [`plain_stack`] is the shared question behind this module and checkpoint export: which blocks,
//! one after another, does a schedule run — or which step makes it something else than a stack?

use std::fmt;
use std::ops::Range;

use serde_json::{Map, Value};

use crate::ScheduleError;
use crate::plan::{KvMode, Op, Plan};
use crate::schedule::{LayerSchedule, Merge};

/// Recipes larger than this are refused before parsing (real ones are a few hundred bytes).
pub const MAX_RECIPE_BYTES: usize = 1 << 20;

/// Why a recipe or a schedule cannot cross between mergekit and painters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergekitError {
    /// The text is not YAML, or not a mapping at the top.
    #[error("mergekit recipe: not valid YAML: {0}")]
    Yaml(String),
    /// A key of the recipe says something painters cannot run or refuses to guess.
    #[error("mergekit recipe, `{key}`: {message}")]
    Recipe { key: String, message: String },
    /// The schedule is not a plain stack of blocks.
    #[error(transparent)]
    NotAStack(#[from] StackError),
    /// The schedule does not fit the model (block out of range, …).
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// Serialising the recipe failed.
    #[error("cannot write the mergekit recipe: {0}")]
    Write(String),
}

/// A schedule that is not a plain stack of blocks, and the step that makes it so.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StackError {
    #[error(
        "step {step} (`{text}`) {verb} {branches} branches run on the same input; a plain stack of layers (a checkpoint, a mergekit passthrough recipe) runs one block after another and has no way to express that"
    )]
    Parallel {
        /// Top-level step index.
        step: usize,
        /// The step in the text notation.
        text: String,
        /// How the branches are merged, in words ("averages the outputs of" / "sums the updates of").
        verb: &'static str,
        branches: usize,
    },
    #[error("the schedule runs no block; a model needs at least one layer")]
    Empty,
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

/// The blocks a sequence schedule runs, in order (repeats unrolled, a block may appear many times),
/// after validating it against a `num_blocks`-block model. A parallel or looped-parallel step is
/// a [`StackError::Parallel`] naming the step; an empty schedule is [`StackError::Empty`].
///
/// The schedule is compiled with [`Plan::compile`], so the order is exactly what the executor runs.
pub fn plain_stack(schedule: &LayerSchedule, num_blocks: usize) -> Result<Vec<usize>, StackError> {
    // A one-branch parallel step is its branch; canonicalise hand-built values first.
    let schedule = schedule.normalized();
    let plan = Plan::compile(&schedule, num_blocks, KvMode::Exact)?;
    let mut blocks = Vec::with_capacity(plan.stats().block_applications);
    let mut step = 0;
    for (i, op) in plan.ops().iter().enumerate() {
        match *op {
            Op::Apply { block, .. } => blocks.push(block),
            Op::EndStep { step: s } => step = s + 1,
            Op::Fork { branches } => {
                let merge = plan.ops()[i..].iter().find_map(|op| match op {
                    Op::Join { merge, .. } => Some(*merge),
                    _ => None,
                });
                let verb = match merge {
                    Some(Merge::ResidualSum) => "sums the updates of",
                    _ => "averages the outputs of",
                };
                let text = schedule
                    .steps()
                    .get(step)
                    .map_or_else(String::new, ToString::to_string);
                return Err(StackError::Parallel {
                    step,
                    text,
                    verb,
                    branches,
                });
            }
            Op::NextBranch | Op::Join { .. } => {}
        }
    }
    if blocks.is_empty() {
        return Err(StackError::Empty);
    }
    Ok(blocks)
}

/// The half-open ranges of consecutive ascending blocks in `blocks`: `[0, 1, 2, 7, 7]` is
/// `0..3, 7..8, 7..8`.
pub fn runs(blocks: &[usize]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for &b in blocks {
        match out.last_mut() {
            Some(r) if r.end == b => r.end = b + 1,
            _ => out.push(b..b + 1),
        }
    }
    out
}

/// A passthrough recipe of one model, read as a schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergekitRecipe {
    /// The model every slice takes its layers from, as the recipe names it.
    pub model: String,
    /// The slices' layer ranges, in order (half-open).
    pub slices: Vec<Range<usize>>,
    /// The layers, as a sequence schedule.
    pub schedule: LayerSchedule,
    /// `dtype` (or `out_dtype`), when the recipe sets one.
    pub dtype: Option<String>,
}

impl fmt::Display for MergekitRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ← {}", self.schedule, self.model)
    }
}

/// Read a mergekit passthrough recipe of one model. With `num_layers` (the model's layer count),
/// a `layer_range` reaching past the last layer is an error naming the slice.
pub fn from_yaml(text: &str, num_layers: Option<usize>) -> Result<MergekitRecipe, MergekitError> {
    if text.len() > MAX_RECIPE_BYTES {
        return Err(MergekitError::Yaml(format!(
            "{} bytes; recipes larger than {MAX_RECIPE_BYTES} bytes are refused",
            text.len()
        )));
    }
    let doc: Value =
        serde_saphyr::from_str(text).map_err(|e| MergekitError::Yaml(e.to_string()))?;
    let Value::Object(top) = doc else {
        return Err(MergekitError::Yaml(
            "the document is not a mapping of keys (merge_method, slices, …)".into(),
        ));
    };
    Recipe::read(&top, num_layers)
}

/// Write a sequence schedule as a mergekit passthrough recipe over `model` (each run of consecutive
/// ascending blocks is one slice, in order), with `dtype` when given. `num_layers` validates the
/// schedule against the model; without it, the schedule is only checked to be a plain stack.
pub fn to_yaml(
    schedule: &LayerSchedule,
    model: &str,
    num_layers: Option<usize>,
    dtype: Option<&str>,
) -> Result<String, MergekitError> {
    let blocks_needed = schedule.blocks_used().last().map_or(0, |b| b + 1);
    let blocks = plain_stack(schedule, num_layers.unwrap_or(blocks_needed))?;
    if model.trim().is_empty() {
        return Err(MergekitError::Write("the model name is empty".into()));
    }
    #[derive(serde::Serialize)]
    struct Source<'a> {
        model: &'a str,
        layer_range: serde_saphyr::FlowSeq<[usize; 2]>,
    }
    #[derive(serde::Serialize)]
    struct Slice<'a> {
        sources: Vec<Source<'a>>,
    }
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        slices: Vec<Slice<'a>>,
        merge_method: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        dtype: Option<&'a str>,
    }
    let doc = Doc {
        slices: runs(&blocks)
            .into_iter()
            .map(|r| Slice {
                sources: vec![Source {
                    model,
                    layer_range: serde_saphyr::FlowSeq([r.start, r.end]),
                }],
            })
            .collect(),
        merge_method: "passthrough",
        dtype,
    };
    let mut options = serde_saphyr::SerializerOptions::default();
    options.compact_list_indent = false;
    serde_saphyr::to_string_with_options(&doc, options)
        .map_err(|e| MergekitError::Write(e.to_string()))
}

/// The keys a recipe may have at the top level, and in a slice and a source.
const TOP_KEYS: &[&str] = &[
    "merge_method",
    "slices",
    "models",
    "modules",
    "base_model",
    "dtype",
    "out_dtype",
    "tokenizer_source",
    "tokenizer",
    "chat_template",
    "parameters",
];
const SLICE_KEYS: &[&str] = &["sources", "base_model", "residual_weight", "parameters"];
const SOURCE_KEYS: &[&str] = &["model", "layer_range", "parameters"];

/// Reading state: the model the first slice named, to hold the others to it.
struct Recipe {
    model: Option<String>,
}

fn err(key: impl Into<String>, message: impl Into<String>) -> MergekitError {
    MergekitError::Recipe {
        key: key.into(),
        message: message.into(),
    }
}

/// A YAML value in words, for messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn check_keys(map: &Map<String, Value>, at: &str, allowed: &[&str]) -> Result<(), MergekitError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(err(
            format!("{at}{k}"),
            format!("unknown key (known here: {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// `parameters` change weights (passthrough's `scale`) or mean nothing for passthrough.
fn refuse_parameters(map: &Map<String, Value>, at: &str) -> Result<(), MergekitError> {
    match map.get("parameters") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(p)) if p.is_empty() => Ok(()),
        Some(Value::Object(p)) => {
            let (k, v) = p
                .iter()
                .next()
                .map_or((String::new(), Value::Null), |(k, v)| {
                    (k.clone(), v.clone())
                });
            let why = if k == "scale" {
                "`scale` multiplies the slice's weights; a schedule only chooses which layers run, so painters refuses rather than drop it"
            } else {
                "passthrough has no such parameter (its only one, `scale`, changes weights, which a schedule cannot express)"
            };
            Err(err(
                format!("{at}parameters.{k}"),
                format!("= {}: {why}", describe(&v)),
            ))
        }
        Some(other) => Err(err(
            format!("{at}parameters"),
            format!("= {}: expected a mapping", describe(other)),
        )),
    }
}

fn string<'a>(v: &'a Value, key: &str) -> Result<&'a str, MergekitError> {
    v.as_str()
        .ok_or_else(|| err(key, format!("= {}: expected a string", describe(v))))
}

impl Recipe {
    fn read(
        top: &Map<String, Value>,
        num_layers: Option<usize>,
    ) -> Result<MergekitRecipe, MergekitError> {
        check_keys(top, "", TOP_KEYS)?;
        let method = top.get("merge_method").ok_or_else(|| {
            err(
                "merge_method",
                "missing; painters reads `merge_method: passthrough` recipes",
            )
        })?;
        let method = string(method, "merge_method")?;
        if method != "passthrough" {
            return Err(err(
                "merge_method",
                format!(
                    "= {method:?}: only `passthrough` copies layers unchanged; other methods combine several models' weights, which a layer schedule of one model cannot express"
                ),
            ));
        }
        for key in ["models", "modules"] {
            if top.get(key).is_some_and(|v| !v.is_null()) {
                return Err(err(
                    key,
                    "painters reads recipes whose layers come from `slices` of one model; whole-model and per-module merges are not schedules",
                ));
            }
        }
        refuse_parameters(top, "")?;
        let slices = match top.get("slices") {
            Some(Value::Array(s)) if !s.is_empty() => s,
            Some(Value::Array(_)) => {
                return Err(err("slices", "is empty: a model needs at least one layer"));
            }
            Some(other) => {
                return Err(err(
                    "slices",
                    format!("= {}: expected a list of slices", describe(other)),
                ));
            }
            None => {
                return Err(err(
                    "slices",
                    "missing: a passthrough recipe lists its layers as slices",
                ));
            }
        };
        let mut r = Recipe { model: None };
        let mut ranges = Vec::with_capacity(slices.len());
        for (i, slice) in slices.iter().enumerate() {
            ranges.push(r.slice(slice, i, num_layers)?);
        }
        let model = r.model.unwrap_or_default();
        if let Some(v) = top.get("base_model").filter(|v| !v.is_null()) {
            r_same_model(string(v, "base_model")?, &model, "base_model")?;
        }
        tokenizer_is_the_model(top, &model)?;
        for key in ["chat_template"] {
            if let Some(v) = top.get(key).filter(|v| !v.is_null()) {
                string(v, key)?;
            }
        }
        let dtype = match (top.get("dtype"), top.get("out_dtype")) {
            (_, Some(v)) if !v.is_null() => Some(string(v, "out_dtype")?.to_string()),
            (Some(v), _) if !v.is_null() => Some(string(v, "dtype")?.to_string()),
            _ => None,
        };
        let schedule = LayerSchedule::seq(ranges.iter().cloned().map(LayerSchedule::range));
        Ok(MergekitRecipe {
            model,
            slices: ranges,
            schedule,
            dtype,
        })
    }

    fn slice(
        &mut self,
        slice: &Value,
        i: usize,
        num_layers: Option<usize>,
    ) -> Result<Range<usize>, MergekitError> {
        let at = format!("slices[{i}].");
        let Value::Object(map) = slice else {
            return Err(err(
                format!("slices[{i}]"),
                format!("= {}: expected a mapping with `sources`", describe(slice)),
            ));
        };
        check_keys(map, &at, SLICE_KEYS)?;
        refuse_parameters(map, &at)?;
        if let Some(w) = map.get("residual_weight").filter(|v| !v.is_null()) {
            return Err(err(
                format!("{at}residual_weight"),
                format!(
                    "= {}: scales the slice's residual stream, which a schedule cannot express",
                    describe(w)
                ),
            ));
        }
        let sources = match map.get("sources") {
            Some(Value::Array(s)) => s,
            Some(other) => {
                return Err(err(
                    format!("{at}sources"),
                    format!("= {}: expected a list", describe(other)),
                ));
            }
            None => return Err(err(format!("{at}sources"), "missing")),
        };
        let [source] = sources.as_slice() else {
            return Err(err(
                format!("{at}sources"),
                format!(
                    "has {} entries; passthrough copies each slice from exactly one source (several sources are blended by the other merge methods)",
                    sources.len()
                ),
            ));
        };
        let at = format!("{at}sources[0].");
        let Value::Object(src) = source else {
            return Err(err(
                at.trim_end_matches('.'),
                format!("= {}: expected `model` and `layer_range`", describe(source)),
            ));
        };
        check_keys(src, &at, SOURCE_KEYS)?;
        refuse_parameters(src, &at)?;
        let model = string(
            src.get("model")
                .ok_or_else(|| err(format!("{at}model"), "missing"))?,
            &format!("{at}model"),
        )?
        .trim()
        .to_string();
        if model.is_empty() {
            return Err(err(format!("{at}model"), "is empty"));
        }
        match &self.model {
            None => self.model = Some(model),
            Some(first) => r_same_model(&model, first, &format!("{at}model"))?,
        }
        if let Some(b) = map.get("base_model").filter(|v| !v.is_null()) {
            let first = self.model.clone().unwrap_or_default();
            r_same_model(
                string(b, &format!("slices[{i}].base_model"))?,
                &first,
                &format!("slices[{i}].base_model"),
            )?;
        }
        let key = format!("{at}layer_range");
        let range = src.get("layer_range").ok_or_else(|| err(&key, "missing"))?;
        let bad = || {
            err(
                &key,
                format!(
                    "= {}: expected two layer indices [start, end] (half-open)",
                    describe(range)
                ),
            )
        };
        let [a, b] = range.as_array().map(Vec::as_slice).ok_or_else(bad)? else {
            return Err(bad());
        };
        let index = |v: &Value| {
            v.as_u64()
                .and_then(|x| usize::try_from(x).ok())
                .ok_or_else(bad)
        };
        let (a, b) = (index(a)?, index(b)?);
        if a >= b {
            return Err(err(
                &key,
                format!(
                    "= [{a}, {b}] is empty: mergekit ranges are half-open ([a, b] takes layers a..b-1), so the end must be greater than the start"
                ),
            ));
        }
        if let Some(n) = num_layers
            && b > n
        {
            return Err(err(
                &key,
                format!(
                    "= [{a}, {b}] reaches past the model's last layer: it has {n} layers (0..{n}), and mergekit ranges are half-open, so the largest end is {n}"
                ),
            ));
        }
        Ok(a..b)
    }
}

fn r_same_model(name: &str, model: &str, key: &str) -> Result<(), MergekitError> {
    if name.trim() == model {
        Ok(())
    } else {
        Err(err(
            key,
            format!(
                "= {name:?}, but the recipe's slices take layers from {model:?}; painters runs one model's layers, so recipes mixing models are refused"
            ),
        ))
    }
}

/// `tokenizer_source` / `tokenizer.source` may only name the model itself (or `base` / `union`,
/// which for one model is that model's tokenizer); `tokenizer.tokens` edits embeddings.
fn tokenizer_is_the_model(top: &Map<String, Value>, model: &str) -> Result<(), MergekitError> {
    let harmless = |v: &Value, key: &str| -> Result<(), MergekitError> {
        match string(v, key)? {
            "base" | "union" => Ok(()),
            other => r_same_model(other, model, key),
        }
    };
    if let Some(v) = top.get("tokenizer_source").filter(|v| !v.is_null()) {
        harmless(v, "tokenizer_source")?;
    }
    match top.get("tokenizer") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(t)) => {
            if let Some(k) = t.keys().find(|k| *k != "source") {
                return Err(err(
                    format!("tokenizer.{k}"),
                    "changes the vocabulary or the embeddings, which a layer schedule cannot express",
                ));
            }
            match t.get("source").filter(|v| !v.is_null()) {
                Some(v) => harmless(v, "tokenizer.source"),
                None => Ok(()),
            }
        }
        Some(other) => Err(err(
            "tokenizer",
            format!("= {}: expected a mapping", describe(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_join_consecutive_ascending_blocks() {
        assert_eq!(runs(&[0, 1, 2, 7, 7, 8, 3]), vec![0..3, 7..8, 7..9, 3..4]);
        assert_eq!(runs(&[5, 4, 3]), vec![5..6, 4..5, 3..4]);
    }

    #[test]
    fn plain_stack_unrolls_repeats_and_names_parallel_steps() {
        let s: LayerSchedule = "0, 3x2, 1..3".parse().unwrap();
        assert_eq!(plain_stack(&s, 4).unwrap(), vec![0, 3, 3, 1, 2]);
        let s: LayerSchedule = "0, 1, par(2, 3)x2, 4".parse().unwrap();
        let e = plain_stack(&s, 5).unwrap_err();
        assert!(
            matches!(
                e,
                StackError::Parallel {
                    step: 2,
                    branches: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("step 2 (`par(2, 3)x2`) averages the outputs of 2 branches"),
            "{e}"
        );
        let s: LayerSchedule = "sum(1, 2)".parse().unwrap();
        assert!(
            plain_stack(&s, 3)
                .unwrap_err()
                .to_string()
                .contains("sums the updates of 2 branches")
        );
        assert_eq!(
            plain_stack(&LayerSchedule::empty(), 3),
            Err(StackError::Empty)
        );
        assert!(matches!(
            plain_stack(&LayerSchedule::block(3), 3),
            Err(StackError::Schedule(_))
        ));
    }
}
