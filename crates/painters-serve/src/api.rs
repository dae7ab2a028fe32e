//! The request bodies of the OpenAI API as this server reads them, and their checks: every
//! parameter is either honoured or refused with an error naming it (a `stream: true`, `n: 2` or a
//! penalty is refused, not ignored; unknown fields are refused too).

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    pub model: String,
    /// A string, a list of strings, a list of token ids, or a list of lists of token ids.
    pub prompt: Value,
    pub max_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Option<Value>,
    #[serde(default)]
    pub echo: bool,
    /// How many most likely tokens to list per position (0..=20); the chosen token's
    /// log-probability is always given when this is set.
    pub logprobs: Option<usize>,
    pub best_of: Option<usize>,
    pub suffix: Option<String>,
    pub n: Option<usize>,
    pub stream: Option<bool>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub logit_bias: Option<serde_json::Map<String, Value>>,
    /// Accepted and ignored: it names the caller, it changes no answer.
    #[allow(dead_code)]
    pub user: Option<String>,
}

impl CompletionRequest {
    /// The parameters this server takes only at their defaults.
    pub fn unsupported(&self) -> Unsupported<'_> {
        Unsupported {
            n: self.n,
            best_of: self.best_of,
            stream: self.stream,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            logit_bias: self.logit_bias.as_ref(),
            suffix: self.suffix.as_deref(),
        }
    }
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: Option<usize>,
    pub max_completion_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Option<Value>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<usize>,
    pub n: Option<usize>,
    pub stream: Option<bool>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub logit_bias: Option<serde_json::Map<String, Value>>,
    /// Accepted and ignored: it names the caller, it changes no answer.
    #[allow(dead_code)]
    pub user: Option<String>,
}

impl ChatRequest {
    /// The parameters this server takes only at their defaults.
    pub fn unsupported(&self) -> Unsupported<'_> {
        Unsupported {
            n: self.n,
            best_of: None,
            stream: self.stream,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            logit_bias: self.logit_bias.as_ref(),
            suffix: None,
        }
    }
}

/// One message of a chat request: `content` is a string or a list of `{"type": "text", "text"}`
/// parts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: String,
    pub content: Option<Value>,
    pub name: Option<String>,
}

/// OpenAI parameters this server accepts only at their defaults.
#[derive(Debug, Default)]
pub struct Unsupported<'a> {
    pub n: Option<usize>,
    pub best_of: Option<usize>,
    pub stream: Option<bool>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub logit_bias: Option<&'a serde_json::Map<String, Value>>,
    pub suffix: Option<&'a str>,
}

impl Unsupported<'_> {
    /// An error for the first parameter set away from its default.
    pub fn check(&self) -> Result<(), ApiError> {
        let refuse = |param: &str, what: &str| Err(ApiError::invalid(param, what.to_string()));
        if self.n.is_some_and(|n| n != 1) {
            return refuse("n", "n: only 1 choice per prompt is supported");
        }
        if self.best_of.is_some_and(|n| n != 1) {
            return refuse("best_of", "best_of: only 1 is supported");
        }
        if self.stream == Some(true) {
            return refuse("stream", "stream: streaming is not supported; leave it out");
        }
        if self.presence_penalty.is_some_and(|p| p != 0.0) {
            return refuse("presence_penalty", "presence_penalty: only 0 is supported");
        }
        if self.frequency_penalty.is_some_and(|p| p != 0.0) {
            return refuse(
                "frequency_penalty",
                "frequency_penalty: only 0 is supported",
            );
        }
        if self.logit_bias.is_some_and(|m| !m.is_empty()) {
            return refuse("logit_bias", "logit_bias: not supported");
        }
        if self.suffix.is_some_and(|s| !s.is_empty()) {
            return refuse("suffix", "suffix: not supported (no insertion)");
        }
        Ok(())
    }
}

/// A body parsed as `T`, or the error a client sees: malformed JSON, or a field of the wrong type,
/// missing or unknown (named in `param` where serde names it).
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        if e.is_syntax() || e.is_eof() {
            return ApiError::malformed(format!("the body is not valid JSON: {msg}"));
        }
        let param = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
            .unwrap_or("");
        ApiError::invalid(param, format!("invalid request: {msg}"))
    })
}

/// One prompt of a completion request: its text (when given as text) or its token ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptInput {
    Text(String),
    Tokens(Vec<u32>),
}

/// The prompts of `prompt` in order: OpenAI's four forms.
pub fn prompts(prompt: &Value) -> Result<Vec<PromptInput>, ApiError> {
    let bad = || {
        ApiError::invalid(
            "prompt",
            "prompt must be a string, a list of strings, a list of token ids or a list of lists of \
             token ids",
        )
    };
    let tokens = |v: &[Value]| -> Result<Vec<u32>, ApiError> {
        v.iter()
            .map(|t| {
                t.as_u64()
                    .and_then(|t| u32::try_from(t).ok())
                    .ok_or_else(bad)
            })
            .collect()
    };
    let list = match prompt {
        Value::String(s) => return Ok(vec![PromptInput::Text(s.clone())]),
        Value::Array(list) if !list.is_empty() => list,
        _ => return Err(bad()),
    };
    if list.iter().all(Value::is_number) {
        return Ok(vec![PromptInput::Tokens(tokens(list)?)]);
    }
    list.iter()
        .map(|p| match p {
            Value::String(s) => Ok(PromptInput::Text(s.clone())),
            Value::Array(ids) => Ok(PromptInput::Tokens(tokens(ids)?)),
            _ => Err(bad()),
        })
        .collect()
}

/// `stop`: a string or a list of strings (at most 16, none empty).
pub fn stops(stop: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = |why: &str| ApiError::invalid("stop", format!("stop: {why}"));
    let list = match stop {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(l)) => l
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("must be a string or a list of strings"))?,
        Some(_) => return Err(bad("must be a string or a list of strings")),
    };
    if list.len() > 16 {
        return Err(bad("at most 16 stop sequences"));
    }
    if list.iter().any(String::is_empty) {
        return Err(bad("an empty stop sequence would stop at once"));
    }
    Ok(list)
}

/// `temperature` (default 1, as OpenAI's) in [0, 2] and `top_p` in (0, 1].
pub fn sampling_params(
    temperature: Option<f32>,
    top_p: Option<f32>,
) -> Result<(f32, Option<f32>), ApiError> {
    let t = temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&t) {
        return Err(ApiError::invalid(
            "temperature",
            format!("temperature {t}: must be between 0 and 2"),
        ));
    }
    if let Some(p) = top_p
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(ApiError::invalid(
            "top_p",
            format!("top_p {p}: must be in (0, 1]"),
        ));
    }
    Ok((t, top_p.filter(|&p| p < 1.0)))
}

/// The text of a chat message's `content`.
pub fn message_text(m: &ChatMessage) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid(
            "messages",
            format!(
                "a `{}` message's content must be a string or a list of text parts",
                m.role
            ),
        )
    };
    match &m.content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| {
                match (
                    p.get("type").and_then(Value::as_str),
                    p.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => Ok(t),
                    _ => Err(bad()),
                }
            })
            .collect::<Result<String, _>>(),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_four_prompt_forms() {
        let t = |s: &str| PromptInput::Text(s.into());
        assert_eq!(prompts(&json!("a")).unwrap(), vec![t("a")]);
        assert_eq!(prompts(&json!(["a", "b"])).unwrap(), vec![t("a"), t("b")]);
        assert_eq!(
            prompts(&json!([1, 2])).unwrap(),
            vec![PromptInput::Tokens(vec![1, 2])]
        );
        assert_eq!(
            prompts(&json!([[1], [2, 3]])).unwrap(),
            vec![
                PromptInput::Tokens(vec![1]),
                PromptInput::Tokens(vec![2, 3])
            ]
        );
        for bad in [
            json!([]),
            json!(3),
            json!([-1]),
            json!([1.5]),
            json!([{"a": 1}]),
        ] {
            assert_eq!(prompts(&bad).unwrap_err().param.as_deref(), Some("prompt"));
        }
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let e = parse::<CompletionRequest>(br#"{"model":"m","prompt":"x","foo":1}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("foo"), "{e}");
        let e = parse::<CompletionRequest>(br#"{"prompt":"x"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"), "{e}");
        let e = parse::<CompletionRequest>(br#"{"model":"m","prompt""#).unwrap_err();
        assert_eq!(e.code, Some("invalid_json"));
    }

    #[test]
    fn parameters_off_their_defaults_are_refused() {
        let r: CompletionRequest =
            parse(br#"{"model":"m","prompt":"x","n":1,"stream":false,"user":"u"}"#).unwrap();
        r.unsupported().check().unwrap();
        let r: CompletionRequest = parse(br#"{"model":"m","prompt":"x","n":2}"#).unwrap();
        assert_eq!(
            r.unsupported().check().unwrap_err().param.as_deref(),
            Some("n")
        );
        assert!(sampling_params(Some(3.0), None).is_err());
        assert!(sampling_params(Some(0.5), Some(0.0)).is_err());
        assert!(stops(Some(&json!([""]))).is_err());
        assert_eq!(stops(Some(&json!("\n"))).unwrap(), vec!["\n"]);
    }
}
