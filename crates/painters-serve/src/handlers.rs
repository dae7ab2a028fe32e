//! The endpoints: each checks its request completely (model, parameters, prompt tokens against
//! the vocabulary and the window) before anything is queued, then waits for the worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use painters_bench::lm::{TextEncoding, Tokenize};
use painters_llama::generate::Sampling;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::api::{self, ChatRequest, CompletionRequest, PromptInput};
use crate::chat::{ChatTemplate, Message};
use crate::error::ApiError;
use crate::response::{self, JsonBody, PromptEcho};
use crate::worker::{Finish, Job, Outcome, Queue};

/// The most top tokens `logprobs` may ask for per position.
pub const MAX_LOGPROBS: usize = 20;

/// What every handler reads.
pub struct AppState {
    pub id: String,
    pub schedule: String,
    pub window: usize,
    pub vocab: usize,
    pub encoding: TextEncoding,
    pub tokenizer: Arc<dyn Tokenize + Send + Sync>,
    pub chat: Option<ChatTemplate>,
    pub queue: Queue,
    pub created: u64,
    pub next_id: AtomicU64,
}

type Shared = State<Arc<AppState>>;
type Answer = Result<JsonBody, ApiError>;

impl AppState {
    fn check_model(&self, asked: &str) -> Result<(), ApiError> {
        if asked == self.id {
            Ok(())
        } else {
            Err(ApiError::unknown_model(asked, &self.id))
        }
    }

    /// A sampling rule: greedy at temperature 0, else seeded (a fresh seed when none is given).
    fn sampling(&self, temperature: f32, top_p: Option<f32>, seed: Option<u64>) -> Sampling {
        if temperature == 0.0 {
            return Sampling::Greedy;
        }
        let seed = seed.unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ self.next_id.fetch_add(1, Ordering::Relaxed).rotate_left(32)
        });
        Sampling::Sample {
            temperature,
            top_k: None,
            top_p,
            seed,
        }
    }

    /// Tokens of a prompt, checked: not empty, every id in the vocabulary, and room in the
    /// window for `max_tokens` more.
    fn check_tokens(&self, param: &str, tokens: &[u32], max_tokens: usize) -> Result<(), ApiError> {
        if tokens.is_empty() {
            return Err(ApiError::invalid(
                param,
                format!("{param}: the prompt has no tokens"),
            ));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.vocab) {
            return Err(ApiError::invalid(
                param,
                format!(
                    "{param}: token id {bad} is outside the vocabulary (0..{})",
                    self.vocab
                ),
            ));
        }
        if tokens.len() + max_tokens > self.window {
            return Err(ApiError::too_long(
                param,
                tokens.len(),
                max_tokens,
                self.window,
            ));
        }
        Ok(())
    }

    /// Queues `job` (a job with nothing to compute is answered at once).
    fn submit(&self, job: Job) -> Result<Pending, ApiError> {
        if job.max_tokens == 0 && job.prompt_logprobs.is_none() {
            return Ok(Pending::Done(Outcome {
                prompt: Vec::new(),
                generated: Vec::new(),
                text: String::new(),
                finish: Finish::Length,
            }));
        }
        Ok(Pending::Wait(self.queue.submit(job)?))
    }
}

/// A submitted job.
enum Pending {
    Done(Outcome),
    Wait(oneshot::Receiver<Result<Outcome, ApiError>>),
}

impl Pending {
    async fn outcome(self) -> Result<Outcome, ApiError> {
        match self {
            Pending::Done(o) => Ok(o),
            Pending::Wait(rx) => rx
                .await
                .map_err(|_| ApiError::internal("the model worker dropped the request"))?,
        }
    }
}

fn ok(v: Value) -> JsonBody {
    JsonBody(axum::http::StatusCode::OK, v)
}

/// The body of a request, or why it could not be read.
fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| ApiError::malformed(format!("the body could not be read: {e}")))
}

/// `POST /v1/completions`.
pub async fn completions(State(s): Shared, b: Result<Bytes, BytesRejection>) -> Answer {
    let r: CompletionRequest = api::parse(&body(b)?)?;
    s.check_model(&r.model)?;
    r.unsupported().check()?;
    let (temperature, top_p) = api::sampling_params(r.temperature, r.top_p)?;
    let stop = api::stops(r.stop.as_ref())?;
    if let Some(k) = r.logprobs
        && k > MAX_LOGPROBS
    {
        return Err(ApiError::invalid(
            "logprobs",
            format!("logprobs {k}: at most {MAX_LOGPROBS}"),
        ));
    }
    let max_tokens = r.max_tokens.unwrap_or(16);
    let mut echoes = Vec::new();
    for p in api::prompts(&r.prompt)? {
        let e = match p {
            PromptInput::Text(text) => PromptEcho {
                tokens: s.encoding.encode(s.tokenizer.as_ref(), &text)?,
                text,
            },
            PromptInput::Tokens(tokens) => {
                s.check_tokens("prompt", &tokens, 0)?;
                PromptEcho {
                    text: s.tokenizer.decode(&tokens)?,
                    tokens,
                }
            }
        };
        s.check_tokens("prompt", &e.tokens, max_tokens)?;
        echoes.push(e);
    }
    let sampling = s.sampling(temperature, top_p, r.seed);
    // Every prompt is queued before any is awaited, so that the worker can batch them.
    let pending = echoes
        .iter()
        .map(|e| {
            s.submit(Job {
                tokens: e.tokens.clone(),
                max_tokens,
                sampling,
                stop: stop.clone(),
                prompt_logprobs: r.logprobs.filter(|_| r.echo),
                logprobs: r.logprobs,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (mut choices, mut prompt_n, mut new_n) = (Vec::new(), 0, 0);
    for (i, (e, p)) in echoes.iter().zip(pending).enumerate() {
        let out = p.outcome().await?;
        prompt_n += e.tokens.len();
        new_n += out.generated.len();
        choices.push(response::completion_choice(
            s.tokenizer.as_ref(),
            i,
            e,
            r.echo,
            r.logprobs.is_some(),
            &out,
        )?);
    }
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    Ok(ok(response::completion(
        id,
        &s.id,
        choices,
        response::usage(prompt_n, new_n),
    )))
}

/// `POST /v1/chat/completions`.
pub async fn chat(State(s): Shared, b: Result<Bytes, BytesRejection>) -> Answer {
    let r: ChatRequest = api::parse(&body(b)?)?;
    s.check_model(&r.model)?;
    r.unsupported().check()?;
    if r.logprobs == Some(true) || r.top_logprobs.is_some() {
        return Err(ApiError::invalid(
            "logprobs",
            "logprobs: not supported on chat completions; /v1/completions gives them",
        ));
    }
    let Some(template) = &s.chat else {
        return Err(ApiError {
            code: Some("no_chat_template"),
            ..ApiError::invalid(
                "messages",
                format!(
                    "the model `{}` has no chat template (none in its GGUF metadata or \
                     tokenizer files); use /v1/completions with a prompt you format yourself",
                    s.id
                ),
            )
        });
    };
    let (temperature, top_p) = api::sampling_params(r.temperature, r.top_p)?;
    let stop = api::stops(r.stop.as_ref())?;
    if r.messages.is_empty() {
        return Err(ApiError::invalid("messages", "messages: the list is empty"));
    }
    let messages = r
        .messages
        .iter()
        .map(|m| {
            Ok(Message {
                role: m.role.clone(),
                content: api::message_text(m)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let text = template
        .render(&messages)
        .map_err(|e| ApiError::invalid("messages", format!("chat template: {e}")))?;
    // As transformers' apply_chat_template: the template writes every special token itself.
    let tokens = s.tokenizer.encode(&text)?;
    let max_tokens = r
        .max_completion_tokens
        .or(r.max_tokens)
        .unwrap_or_else(|| s.window.saturating_sub(tokens.len()));
    s.check_tokens("messages", &tokens, max_tokens)?;
    let out = s
        .submit(Job {
            tokens: tokens.clone(),
            max_tokens,
            sampling: s.sampling(temperature, top_p, r.seed),
            stop,
            prompt_logprobs: None,
            logprobs: None,
        })?
        .outcome()
        .await?;
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    let usage = response::usage(tokens.len(), out.generated.len());
    Ok(ok(response::chat_completion(id, &s.id, &out, usage)))
}

/// `GET /v1/models`: the one model, with its schedule and window.
pub async fn models(State(s): Shared) -> JsonBody {
    ok(json!({
        "object": "list",
        "data": [{
            "id": s.id,
            "object": "model",
            "created": s.created,
            "owned_by": "painters",
            "schedule": s.schedule,
            "max_model_len": s.window,
        }],
    }))
}

/// `GET /health`.
pub async fn health(State(s): Shared) -> JsonBody {
    ok(json!({"status": "ok", "model": s.id}))
}
