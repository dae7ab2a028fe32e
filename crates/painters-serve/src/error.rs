//! Errors: [`ApiError`], what a client gets back (OpenAI's JSON error shape and an HTTP status),
//! and [`ServeError`], why a server could not start.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use painters_bench::lm::LmError;
use painters_bench::models::LoadError;
use painters_bench::schedules::ScheduleSpecError;
use serde_json::json;

use crate::body::JsonBody;

/// A request the server answers with an error, as OpenAI does:
/// `{"error": {"message", "type", "param", "code"}}` with an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// `invalid_request_error`, `not_found_error`, `server_error`, …
    pub kind: &'static str,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// A machine-readable code (`model_not_found`, `context_length_exceeded`, …).
    pub code: Option<&'static str>,
}

impl ApiError {
    /// 400 `invalid_request_error` about the field `param`.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: (!param.is_empty()).then(|| param.to_string()),
            code: None,
        }
    }

    /// 400: the body is not the JSON of a request.
    pub fn malformed(message: impl Into<String>) -> Self {
        ApiError {
            code: Some("invalid_json"),
            ..Self::invalid("", message)
        }
    }

    /// 404: the request names a model this server does not serve.
    pub fn unknown_model(asked: &str, served: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!(
                "The model `{asked}` does not exist on this server; it serves `{served}` only"
            ),
            kind: "invalid_request_error",
            param: Some("model".into()),
            code: Some("model_not_found"),
        }
    }

    /// 400: the prompt and the tokens asked for do not fit the model's window.
    pub fn too_long(param: &str, prompt: usize, max_tokens: usize, window: usize) -> Self {
        ApiError {
            code: Some("context_length_exceeded"),
            ..Self::invalid(
                param,
                format!(
                    "This model's maximum context length is {window} tokens; the prompt has \
                     {prompt} tokens and {max_tokens} more were asked for (max_tokens) ({} in all)",
                    prompt + max_tokens
                ),
            )
        }
    }

    /// 404 for a path the server does not have.
    pub fn no_route(path: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!(
                "no endpoint {path}; this server has /v1/completions, /v1/chat/completions, /v1/models and /health"
            ),
            kind: "invalid_request_error",
            param: None,
            code: Some("unknown_url"),
        }
    }

    /// 405 for a known path under another method.
    pub fn wrong_method(path: &str) -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{path} does not take this method (completions are POSTed)"),
            kind: "invalid_request_error",
            param: None,
            code: Some("method_not_allowed"),
        }
    }

    /// 503: the queue is full (or the model worker is gone).
    pub fn busy(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: Some("overloaded"),
        }
    }

    /// 500: the model failed on a request that passed every check.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: Some("internal_error"),
        }
    }

    /// The error as OpenAI's JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        JsonBody(self.status, self.body()).into_response()
    }
}

impl From<LmError> for ApiError {
    fn from(e: LmError) -> Self {
        match e {
            LmError::Tokenizer(e) => ApiError::invalid("prompt", format!("tokenizer: {e}")),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// Why `painters serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Schedule(#[from] ScheduleSpecError),
    #[error(transparent)]
    Plan(#[from] painters::ScheduleError),
    /// A BERT folder: only decoders generate text.
    #[error(
        "{0}: a BERT encoder cannot be served; painters serve takes a decoder (GGUF file or HF folder)"
    )]
    NotADecoder(std::path::PathBuf),
    /// The model's chat template could not be read or compiled.
    #[error("chat template of {path}: {reason}")]
    ChatTemplate {
        path: std::path::PathBuf,
        reason: String,
    },
    /// `--host`/`--port` could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    /// The async runtime could not start, or the server failed while running.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// The model worker thread could not be started.
    #[error("model worker: {0}")]
    Worker(String),
}
