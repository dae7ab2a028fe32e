//! Checks a `tokenizer.json` for what `tokenizers` 0.23 panics on instead of returning an error,
//! before that crate sees the file (both found by the `tokenizer_json` fuzz target):
//!
//! * a JSON syntax error inside the `decoder` object (`expect("Helper")` while deserializing);
//! * a `TemplateProcessing` post-processor whose template names a special token missing from its
//!   `special_tokens`, whose `single` template uses sequence `B`, or whose special token has
//!   different numbers of `ids` and `tokens` (indexing panics on the first encode; its builder
//!   checks the first, deserialization does not).

use serde::Deserialize;
use serde_json::Value;

/// The only part of a `tokenizer.json` this check reads; the rest is skipped unbuilt (but its
/// syntax is checked).
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    post_processor: Option<Value>,
}

/// `Ok` when `tokenizers` can be handed `text` without panicking on the cases above; otherwise a
/// one-line reason (a JSON error with line and column, or the post-processor's problem).
pub(super) fn check_tokenizer_json(text: &str) -> Result<(), String> {
    let head: Head = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match &head.post_processor {
        Some(p) => check_post_processor(p, "post_processor"),
        None => Ok(()),
    }
}

/// Every object is checked both as a sequence and as a template, whatever its `type` says: when
/// the tagged form fails (no `type`, or an unknown one), `tokenizers` tries every kind in turn
/// by shape. The other kinds have neither `processors` nor templates, so this refuses nothing valid.
fn check_post_processor(p: &Value, at: &str) -> Result<(), String> {
    let processors = p.get("processors").and_then(Value::as_array);
    for (i, q) in processors.into_iter().flatten().enumerate() {
        check_post_processor(q, &format!("{at}.processors[{i}]"))?;
    }
    check_template_processing(p, at)
}

fn check_template_processing(p: &Value, at: &str) -> Result<(), String> {
    let special = p.get("special_tokens").and_then(Value::as_object);
    for (name, token) in special.into_iter().flatten() {
        let len = |key: &str| token.get(key).and_then(Value::as_array).map(Vec::len);
        if len("ids") != len("tokens") {
            return Err(format!(
                "{at}.special_tokens[{name:?}]: `ids` and `tokens` differ in length"
            ));
        }
    }
    for template in ["single", "pair"] {
        let pieces = p.get(template).and_then(Value::as_array);
        for piece in pieces.into_iter().flatten() {
            if let Some(id) = piece.pointer("/SpecialToken/id").and_then(Value::as_str)
                && !special.is_some_and(|s| s.contains_key(id))
            {
                return Err(format!(
                    "{at}.{template}: special token {id:?} is not in `special_tokens`"
                ));
            }
            if template == "single" && piece.pointer("/Sequence/id") == Some(&Value::from("B")) {
                return Err(format!(
                    "{at}.single: uses sequence B, which a single text does not have"
                ));
            }
        }
    }
    Ok(())
}
