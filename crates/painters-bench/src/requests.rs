//! lm-eval's request types on any [`LanguageModel`], and how text becomes scored tokens.
//!
//! Scores are only comparable with published lm-eval numbers if the tokens are the same, so the rules
//! here follow lm-eval's HF model (`HFLM`) to the letter: how a context/continuation pair is split into
//! tokens, how long inputs are cut, how a long text is cut into rolling windows. Batching and prefix
//! sharing live in [`crate::batching`]; they change speed, never which tokens are scored.

use crate::lm::{LanguageModel, LmError, Scored, TokenRequest};

/// One request a task makes of the model (lm-eval's `Instance.arguments`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Log-likelihood of `continuation` after `context`.
    Loglikelihood {
        context: String,
        continuation: String,
    },
    /// Log-likelihood of a whole text, read in windows of the model's length.
    LoglikelihoodRolling { text: String },
    /// Greedy text after `context`, cut at the first of `until`.
    GenerateUntil {
        context: String,
        until: Vec<String>,
        max_gen_toks: usize,
    },
}

/// The answer to a [`Request`], in the same position.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Response {
    Loglikelihood(Scored),
    /// Summed log-likelihood of every token of the text.
    Rolling(f64),
    Generated(String),
}

impl Response {
    /// Read back a response as its serialization writes it (a journal record), checking that it
    /// answers `req`; `None` when it does not.
    pub fn from_json(req: &Request, v: &serde_json::Value) -> Option<Response> {
        match req {
            Request::Loglikelihood { .. } => {
                let pair = v.as_array().filter(|p| p.len() == 2)?;
                Some(Response::Loglikelihood(Scored {
                    logprob: pair[0].as_f64()?,
                    greedy: pair[1].as_bool()?,
                }))
            }
            Request::LoglikelihoodRolling { .. } => v.as_f64().map(Response::Rolling),
            Request::GenerateUntil { .. } => v.as_str().map(|s| Response::Generated(s.to_string())),
        }
    }
}

impl serde::Serialize for Scored {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.logprob, self.greedy).serialize(s)
    }
}

/// lm-eval's `loglikelihood` request encoding: an empty context is the prefix token, followed by
/// `encode(continuation)`; otherwise `_encode_pair`: trailing whitespace of the context moves to
/// the front of the continuation, and the continuation's tokens are those of
/// `encode(context + continuation)` after the first `len(encode(context))`.
pub fn encode_pair(
    lm: &dyn LanguageModel,
    context: &str,
    continuation: &str,
) -> Result<(Vec<u32>, Vec<u32>), LmError> {
    if context.is_empty() {
        return Ok((vec![lm.prefix_token()], lm.encode(continuation)?));
    }
    let kept = context.trim_end();
    let ctx = lm.encode(kept)?;
    if ctx.is_empty() {
        // A context of only spaces, encoded without special tokens, leaves lm-eval no token to
        // predict the first continuation token from; it gets the prefix token, and its spaces
        // move to the continuation. (With a BOS, as for Gemma, `encode("")` is that BOS and the
        // general rule below applies, as in lm-eval.)
        let cont = format!("{}{continuation}", &context[kept.len()..]);
        return Ok((vec![lm.prefix_token()], lm.encode(&cont)?));
    }
    let whole = lm.encode(&format!("{context}{continuation}"))?;
    let cont = whole.get(ctx.len()..).unwrap_or_default().to_vec();
    Ok((ctx, cont))
}

/// lm-eval's left truncation: keep the last `max_length + 1` tokens of `context ++ continuation`
/// (the model reads all but the last). The continuation itself must fit.
pub fn fit_window(
    context: Vec<u32>,
    continuation: Vec<u32>,
    max_length: usize,
) -> Result<TokenRequest, LmError> {
    if continuation.len() > max_length {
        return Err(LmError::ContinuationTooLong {
            len: continuation.len(),
            max: max_length,
        });
    }
    let keep_ctx = (max_length + 1 - continuation.len()).min(context.len());
    let context = context[context.len() - keep_ctx..].to_vec();
    Ok(TokenRequest {
        context,
        continuation,
    })
}

/// lm-eval's `get_rolling_token_windows(context_len = 1)` followed by `make_disjoint_window`: every
/// token is predicted exactly once; the first window starts from `prefix`, each later one re-reads
/// the tokens before it so that every window is a full `max_length` input.
pub fn rolling_windows(tokens: &[u32], prefix: u32, max_length: usize) -> Vec<TokenRequest> {
    let max_length = max_length.max(1);
    let mut out = Vec::new();
    if tokens.is_empty() {
        return out;
    }
    let first = max_length.min(tokens.len());
    out.push(TokenRequest {
        context: vec![prefix],
        continuation: tokens[..first].to_vec(),
    });
    let mut predicted = first;
    while predicted < tokens.len() {
        let n = (tokens.len() - predicted).min(max_length);
        let end = predicted + n;
        // Window input is tokens[end - max_length - 1 .. end - 1]; the last n - 1 of it are predicted
        // in this window, so its context is what comes before them.
        let ctx_start = end - max_length - 1;
        out.push(TokenRequest {
            context: tokens[ctx_start..end - n].to_vec(),
            continuation: tokens[end - n..end].to_vec(),
        });
        predicted = end;
    }
    out
}

/// The tokens a loglikelihood request scores, truncated as lm-eval does.
pub fn loglikelihood_tokens(
    lm: &dyn LanguageModel,
    context: &str,
    continuation: &str,
) -> Result<TokenRequest, LmError> {
    let (ctx, cont) = encode_pair(lm, context, continuation)?;
    fit_window(ctx, cont, lm.max_length())
}

/// Log-likelihood of `continuation` after `context`, and whether it is the greedy continuation.
pub fn loglikelihood(
    lm: &dyn LanguageModel,
    context: &str,
    continuation: &str,
) -> Result<Scored, LmError> {
    let r = loglikelihood_tokens(lm, context, continuation)?;
    Ok(lm.score_batch(std::slice::from_ref(&r))?[0])
}

/// Summed log-likelihood of every token of `text` (perplexity tasks).
pub fn loglikelihood_rolling(lm: &dyn LanguageModel, text: &str) -> Result<f64, LmError> {
    let windows = rolling_windows(&lm.encode(text)?, lm.prefix_token(), lm.max_length());
    let mut total = 0.0;
    for w in windows {
        total += lm.score_batch(&[w])?[0].logprob;
    }
    Ok(total)
}

/// Greedy generation after `context`, cut at the first stop string, as lm-eval's `generate_until`:
/// the context keeps its last `max_length - max_gen_toks` tokens, generation halts once a stop
/// string appears in the decoded new text, and the text is cut before the earliest stop string.
pub fn generate_until(
    lm: &dyn LanguageModel,
    context: &str,
    until: &[String],
    max_gen_toks: usize,
) -> Result<String, LmError> {
    let mut prompt = lm.encode(context)?;
    let max_gen_toks = max_gen_toks.min(lm.max_length().saturating_sub(1));
    let keep = lm.max_length() - max_gen_toks;
    if prompt.len() > keep {
        prompt.drain(..prompt.len() - keep);
    }
    if prompt.is_empty() {
        prompt.push(lm.prefix_token());
    }
    let stops: Vec<&str> = until
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let mut stop = |ids: &[u32]| {
        lm.decode(ids)
            .is_ok_and(|text| stops.iter().any(|s| text.contains(s)))
    };
    let ids = lm.generate(&prompt, max_gen_toks, &mut stop)?;
    Ok(cut_at_stops(&lm.decode(&ids)?, &stops).to_string())
}

/// `text` up to the earliest occurrence of any stop string (lm-eval splits at each in turn, which
/// amounts to the same).
pub fn cut_at_stops<'t>(text: &'t str, stops: &[&str]) -> &'t str {
    let end = stops
        .iter()
        .filter_map(|s| text.find(s))
        .min()
        .unwrap_or(text.len());
    &text[..end]
}
