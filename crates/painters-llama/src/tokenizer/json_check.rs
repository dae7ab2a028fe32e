//! Checks a `tokenizer.json` for what `tokenizers` 0.23 panics on instead of returning an error,
//! before that crate sees the file (both found by the `tokenizer_json` fuzz target):
//!
//! * a JSON syntax error inside the `decoder` object (`expect("Helper")` while deserializing);
//! * a `TemplateProcessing` post-processor whose template names a special token missing from its
//!   `special_tokens`, whose `single` template uses sequence `B`, or whose special token has
//!   different numbers of `ids` and `tokens` (indexing panics on the first encode; its builder
//!   checks the first, deserialization does not).
//!
//! And after the file is built: a special token whose id is not in the vocabulary (it loads and
//! encodes, then an id points past the embedding; found by the same target).

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
    check_head(text).map(|_| ())
}

/// Every id the post-processor's special tokens insert must be a token of the built tokenizer.
pub(super) fn check_special_ids(text: &str, tok: &tokenizers::Tokenizer) -> Result<(), String> {
    let Some(p) = check_head(text)? else {
        return Ok(());
    };
    let mut ids = Vec::new();
    special_ids(&p, "post_processor", &mut ids);
    match ids
        .into_iter()
        .find(|(_, id)| tok.id_to_token(*id).is_none())
    {
        Some((at, id)) => Err(format!(
            "{at}: id {id} is not in the vocabulary ({} tokens)",
            tok.get_vocab_size(true)
        )),
        None => Ok(()),
    }
}

/// The special tokens' ids of a post-processor (and of those it chains), with where they are.
fn special_ids(p: &Value, at: &str, out: &mut Vec<(String, u32)>) {
    let processors = p.get("processors").and_then(Value::as_array);
    for (i, q) in processors.into_iter().flatten().enumerate() {
        special_ids(q, &format!("{at}.processors[{i}]"), out);
    }
    let special = p.get("special_tokens").and_then(Value::as_object);
    for (name, token) in special.into_iter().flatten() {
        let ids = token.get("ids").and_then(Value::as_array);
        for id in ids.into_iter().flatten().filter_map(Value::as_u64) {
            let id = u32::try_from(id).unwrap_or(u32::MAX);
            out.push((format!("{at}.special_tokens[{name:?}]"), id));
        }
    }
}

/// The checks before `tokenizers` sees the file; the post-processor, if any.
fn check_head(text: &str) -> Result<Option<Value>, String> {
    let head: Head = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(p) = &head.post_processor {
        check_post_processor(p, "post_processor")?;
    }
    Ok(head.post_processor)
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
