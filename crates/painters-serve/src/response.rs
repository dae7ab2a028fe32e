//! The response bodies: OpenAI's `text_completion` and `chat.completion` objects.
//!
//! Log-probabilities are written as the f64 of the f32 the model computed, so that a client
//! summing them (lm-eval sums `token_logprobs[ctxlen:-1]`) gets exactly the f64 sum painters'
//! own scoring makes, and a token's log-probability equals the top entry's when it is the argmax
//! (lm-eval's `is_greedy` compares them with `==`).

use std::time::{SystemTime, UNIX_EPOCH};

use painters_bench::lm::Tokenize;
use serde_json::{Map, Value, json};

pub use crate::body::JsonBody;
use crate::error::ApiError;
use crate::worker::Outcome;

/// Seconds since the epoch (OpenAI's `created`).
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One prompt as the response needs it: its text and tokens.
#[derive(Clone, Debug)]
pub struct PromptEcho {
    pub text: String,
    pub tokens: Vec<u32>,
}

/// `logprobs` of one choice (OpenAI's legacy completions shape): `tokens`, `token_logprobs`,
/// `top_logprobs` (a map from token text to log-probability, `null` for the first prompt token,
/// which nothing predicts) and `text_offset` (each token's character offset in the prompt and
/// completion, counting each token as its own decoded text).
fn logprobs_json(
    tok: &dyn Tokenize,
    prompt: &PromptEcho,
    echo: bool,
    out: &Outcome,
) -> Result<Value, ApiError> {
    let mut ids = Vec::new();
    let mut lps: Vec<Value> = Vec::new();
    let mut tops: Vec<Value> = Vec::new();
    let top_map = |top: &[(u32, f32)]| -> Result<Value, ApiError> {
        let mut m = Map::new();
        for &(id, lp) in top {
            let text = tok.decode(&[id])?;
            m.entry(text).or_insert(json!(f64::from(lp)));
        }
        Ok(Value::Object(m))
    };
    if echo {
        for (i, &id) in prompt.tokens.iter().enumerate() {
            ids.push(id);
            match i.checked_sub(1).and_then(|p| out.prompt.get(p)) {
                Some(s) => {
                    lps.push(s.next.map_or(Value::Null, |l| json!(f64::from(l))));
                    tops.push(top_map(&s.top)?);
                }
                None => {
                    lps.push(Value::Null);
                    tops.push(Value::Null);
                }
            }
        }
    }
    for g in &out.generated {
        ids.push(g.id);
        lps.push(g.logprob.map_or(Value::Null, |l| json!(f64::from(l))));
        tops.push(top_map(&g.top)?);
    }
    let mut offset = if echo { 0 } else { prompt.text.chars().count() };
    let mut tokens = Vec::with_capacity(ids.len());
    let mut offsets = Vec::with_capacity(ids.len());
    for &id in &ids {
        let t = tok.decode(&[id])?;
        offsets.push(offset);
        offset += t.chars().count();
        tokens.push(t);
    }
    Ok(json!({
        "tokens": tokens,
        "token_logprobs": lps,
        "top_logprobs": tops,
        "text_offset": offsets,
    }))
}

/// One `choices[i]` of a completion.
pub fn completion_choice(
    tok: &dyn Tokenize,
    index: usize,
    prompt: &PromptEcho,
    echo: bool,
    logprobs: bool,
    out: &Outcome,
) -> Result<Value, ApiError> {
    let text = if echo {
        format!("{}{}", prompt.text, out.text)
    } else {
        out.text.clone()
    };
    let logprobs = if logprobs {
        logprobs_json(tok, prompt, echo, out)?
    } else {
        Value::Null
    };
    Ok(json!({
        "text": text,
        "index": index,
        "logprobs": logprobs,
        "finish_reason": out.finish.as_str(),
    }))
}

/// `usage`.
pub fn usage(prompt_tokens: usize, completion_tokens: usize) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// A `text_completion` object.
pub fn completion(id: u64, model: &str, choices: Vec<Value>, usage: Value) -> Value {
    json!({
        "id": format!("cmpl-{id}"),
        "object": "text_completion",
        "created": now(),
        "model": model,
        "choices": choices,
        "usage": usage,
    })
}

/// A `chat.completion` object with one assistant message.
pub fn chat_completion(id: u64, model: &str, out: &Outcome, usage: Value) -> Value {
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": out.text},
            "logprobs": null,
            "finish_reason": out.finish.as_str(),
        }],
        "usage": usage,
    })
}
