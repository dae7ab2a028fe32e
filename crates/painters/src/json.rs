//! The JSON notation: the golden fixtures' step list, extended for nested schedules.
//!
//! ```json
//! {"steps": [ {"block": 0},
//!             {"parallel": [1, 2, 3], "loops": 2},
//!             {"repeat": 4, "times": 3},
//!             {"parallel": [5, {"steps": [6, 7]}], "loops": 1, "merge": "residual_sum"},
//!             {"loop": [{"block": 8}, {"block": 9}], "times": 2} ]}
//! ```
//!
//! `block` and `parallel` (with `loops`, written out always) are exactly the fixture format of the
//! PyTorch reference, so a plain schedule written here is read by it and vice versa. `repeat`/`times` is
//! the reference's sugar for a repeated block. Our extensions: a parallel branch may be
//! `{"steps": [...]}` (a sub-schedule; a bare integer inside `steps` means a block), `merge` selects the
//! [`Merge`] (default `"mean"`), and `{"loop": [...steps], "times": k}` repeats a sequence.
//! Keys other than `steps` at the top level (`name`, `n`, `seed`, … in the fixture manifest) are ignored;
//! unknown keys inside a step are an error, because a misspelt `"loop"` must not silently mean once.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::error::ScheduleError;
use crate::schedule::{LayerSchedule, Merge};

impl LayerSchedule {
    /// The schedule as a JSON value in the fixture format (see the [module docs](self)).
    pub fn to_json(&self) -> Value {
        json!({ "steps": self.steps().iter().map(step_json).collect::<Vec<_>>() })
    }

    /// Parse the JSON notation from text.
    pub fn from_json_str(text: &str) -> Result<Self, ScheduleError> {
        let v: Value = serde_json::from_str(text).map_err(|e| ScheduleError::Json {
            at: format!("line {} column {}", e.line(), e.column()),
            message: e.to_string(),
        })?;
        Self::from_json(&v)
    }

    /// Read the JSON notation from a parsed value.
    pub fn from_json(v: &Value) -> Result<Self, ScheduleError> {
        let obj = v
            .as_object()
            .ok_or_else(|| err("the schedule", "expected an object with a \"steps\" array"))?;
        let steps = obj
            .get("steps")
            .ok_or_else(|| err("the schedule", "missing \"steps\""))?;
        parse_steps(steps, "steps")
    }
}

fn err(at: impl Into<String>, message: impl Into<String>) -> ScheduleError {
    ScheduleError::Json {
        at: at.into(),
        message: message.into(),
    }
}

fn merge_name(m: Merge) -> &'static str {
    match m {
        Merge::Mean => "mean",
        Merge::ResidualSum => "residual_sum",
    }
}

fn step_json(s: &LayerSchedule) -> Value {
    match s {
        LayerSchedule::Block(i) => json!({ "block": i }),
        LayerSchedule::Seq(v) => {
            json!({ "loop": v.iter().map(step_json).collect::<Vec<_>>(), "times": 1 })
        }
        LayerSchedule::Parallel { .. } => parallel_json(s, 1),
        LayerSchedule::Repeat { body, times } => match body.as_ref() {
            LayerSchedule::Block(i) => json!({ "repeat": i, "times": times }),
            LayerSchedule::Parallel { .. } => parallel_json(body, *times),
            other => json!({
                "loop": other.steps().iter().map(step_json).collect::<Vec<_>>(),
                "times": times,
            }),
        },
    }
}

fn parallel_json(p: &LayerSchedule, loops: usize) -> Value {
    let LayerSchedule::Parallel { branches, merge } = p else {
        return step_json(p);
    };
    let branches: Vec<Value> = branches
        .iter()
        .map(|b| match b {
            LayerSchedule::Block(i) => json!(i),
            other => json!({ "steps": other.steps().iter().map(step_json).collect::<Vec<_>>() }),
        })
        .collect();
    let mut o = Map::new();
    o.insert("parallel".into(), Value::Array(branches));
    o.insert("loops".into(), json!(loops));
    if *merge != Merge::Mean {
        o.insert("merge".into(), json!(merge_name(*merge)));
    }
    Value::Object(o)
}

fn index(v: &Value, at: &str, what: &str) -> Result<usize, ScheduleError> {
    v.as_u64()
        .and_then(|u| usize::try_from(u).ok())
        .ok_or_else(|| {
            err(
                at,
                format!("{what} must be a non-negative integer, found {v}"),
            )
        })
}

fn parse_steps(v: &Value, at: &str) -> Result<LayerSchedule, ScheduleError> {
    let arr = v
        .as_array()
        .ok_or_else(|| err(at, format!("expected an array of steps, found {v}")))?;
    let mut out = Vec::with_capacity(arr.len());
    for (j, s) in arr.iter().enumerate() {
        out.push(parse_step(s, &format!("{at}[{j}]"))?);
    }
    Ok(LayerSchedule::seq(out))
}

fn parse_step(v: &Value, at: &str) -> Result<LayerSchedule, ScheduleError> {
    if v.is_u64() {
        return Ok(LayerSchedule::Block(index(v, at, "a block index")?));
    }
    let o = v
        .as_object()
        .ok_or_else(|| err(at, format!("expected a step object, found {v}")))?;
    let allowed: &[&str] = if o.contains_key("block") {
        &["block"]
    } else if o.contains_key("parallel") {
        &["parallel", "loops", "merge"]
    } else if o.contains_key("repeat") {
        &["repeat", "times"]
    } else if o.contains_key("loop") {
        &["loop", "times"]
    } else {
        return Err(err(
            at,
            "a step needs one of \"block\", \"parallel\", \"repeat\" or \"loop\"",
        ));
    };
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(err(
            at,
            format!("unexpected key \"{k}\" (allowed here: {allowed:?})"),
        ));
    }
    let count = |key: &str| -> Result<usize, ScheduleError> {
        match o.get(key) {
            None => Ok(1),
            Some(c) => index(c, at, &format!("\"{key}\"")),
        }
    };
    if let Some(b) = o.get("block") {
        return Ok(LayerSchedule::Block(index(b, at, "\"block\"")?));
    }
    if let Some(p) = o.get("parallel") {
        let arr = p
            .as_array()
            .ok_or_else(|| err(at, "\"parallel\" must be an array of branches"))?;
        let mut branches = Vec::with_capacity(arr.len());
        for (b, item) in arr.iter().enumerate() {
            let bat = format!("{at}.parallel[{b}]");
            branches.push(match item {
                Value::Object(bo) if bo.contains_key("steps") => {
                    if let Some(k) = bo.keys().find(|k| *k != "steps") {
                        return Err(err(bat, format!("unexpected key \"{k}\" in a branch")));
                    }
                    parse_steps(&bo["steps"], &format!("{bat}.steps"))?
                }
                other => LayerSchedule::Block(index(other, &bat, "a branch")?),
            });
        }
        let merge = match o.get("merge").map(|m| m.as_str()) {
            None | Some(Some("mean")) => Merge::Mean,
            Some(Some("residual_sum")) => Merge::ResidualSum,
            Some(_) => {
                return Err(err(at, "\"merge\" must be \"mean\" or \"residual_sum\""));
            }
        };
        // Keep an empty parallel as written, so that validation reports it with its step.
        let par = if branches.is_empty() {
            LayerSchedule::Parallel { branches, merge }
        } else {
            LayerSchedule::parallel(branches, merge)
        };
        return Ok(LayerSchedule::repeat(par, count("loops")?));
    }
    if let Some(r) = o.get("repeat") {
        let block = index(r, at, "\"repeat\"")?;
        return Ok(LayerSchedule::repeat(
            LayerSchedule::Block(block),
            count("times")?,
        ));
    }
    let body = parse_steps(&o["loop"], &format!("{at}.loop"))?;
    Ok(LayerSchedule::repeat(body, count("times")?))
}

impl Serialize for LayerSchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for LayerSchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        LayerSchedule::from_json(&v).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LayerSchedule as S;

    #[test]
    fn reads_the_fixture_format() {
        let text = r#"{"name": "looped_parallel", "n": 1, "steps": [{"block": 0},
            {"parallel": [1, 2, 3], "loops": 2}, {"block": 4}, {"block": 5}]}"#;
        let s = S::from_json_str(text).unwrap();
        assert_eq!(
            s,
            S::seq([
                S::block(0),
                S::looped(S::parallel_range(1..=3), 2),
                S::range(4..=5)
            ])
        );
        assert_eq!(
            s.to_json(),
            serde_json::json!({"steps": [{"block": 0}, {"parallel": [1, 2, 3], "loops": 2},
                {"block": 4}, {"block": 5}]})
        );
        // One-member parallel with loops=1 is the block itself (fixture README).
        assert_eq!(
            S::from_json_str(r#"{"steps":[{"parallel":[3],"loops":1}]}"#).unwrap(),
            S::block(3)
        );
        assert_eq!(
            S::from_json_str(r#"{"steps":[{"repeat":3,"times":2}]}"#).unwrap(),
            S::repeat(S::block(3), 2)
        );
    }

    #[test]
    fn round_trips_nested_schedules() {
        let s: S = "0, par((1, 2), 3, sum(4, 5))x2, (6, 7)x3, 8x2, 9"
            .parse()
            .unwrap();
        let v = s.to_json();
        assert_eq!(S::from_json(&v).unwrap(), s, "{v}");
        let via_serde: S = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(via_serde, s);
    }

    #[test]
    fn errors_name_the_step() {
        let cases = [
            (r#"{"steps":[{"block":0},{"blok":1}]}"#, "steps[1]"),
            (r#"{"steps":[{"block":-1}]}"#, "steps[0]"),
            (
                r#"{"steps":[{"parallel":[1,"x"],"loops":1}]}"#,
                "steps[0].parallel[1]",
            ),
            (r#"{"steps":[{"parallel":[1,2],"loop":3}]}"#, "steps[0]"),
            (r#"{"step":[]}"#, "the schedule"),
            (r#"{"steps":[{"block":0}"#, "line 1"),
        ];
        for (text, at_want) in cases {
            match S::from_json_str(text) {
                Err(ScheduleError::Json { at, .. }) => {
                    assert!(at.starts_with(at_want), "{text}: {at}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let e = S::from_json_str(r#"{"steps":[{"block":0},{"parallel":[],"loops":1}]}"#)
            .unwrap()
            .validate(4)
            .unwrap_err();
        assert!(matches!(e, ScheduleError::EmptyParallel { .. }));
    }
}
