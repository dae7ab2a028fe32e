//! `painters serve`: an OpenAI-compatible HTTP server for one decoder under one layer schedule,
//! so that lm-evaluation-harness (`local-completions`, `local-chat-completions`) and any OpenAI
//! client can talk to a painted model.
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /v1/completions` | prompt (string, strings, token ids, lists of ids); `max_tokens` (0 allowed), `echo`, `logprobs` (top-k per position, `token_logprobs`, `tokens`, `text_offset`), `stop`, `temperature` (0 greedy), `top_p`, `seed` |
//! | `POST /v1/chat/completions` | the model's chat template rendered with `minijinja`; an error when it has none |
//! | `GET /v1/models` | the one model: its id (`<name>@<schedule>` unless `--served-name`), schedule and window |
//! | `GET /health` | `{"status": "ok"}` |
//!
//! Layers, bottom to top: [`body`] (a JSON response), [`error`] (OpenAI's error shape) and [`api`] (request bodies and their
//! checks); [`logprobs`] (batched prompt scoring) and [`chat`] (templates); [`model`] (what is
//! served) and [`worker`] (the queue and the one model thread); [`response`] and [`handlers`];
//! [`server`] (router, runtime, [`ServeRun`]). The model runs on its own thread; the HTTP side
//! runs on tokio and never touches tensors.

pub mod api;
pub mod body;
pub mod chat;
pub mod error;
pub mod handlers;
pub mod logprobs;
pub mod model;
pub mod response;
pub mod server;
pub mod worker;

pub use error::{ApiError, ServeError};
pub use model::{ModelSpec, ServedModel};
pub use server::{Running, ServeEvent, ServeRun, router, start_worker};
pub use worker::WorkerOptions;
