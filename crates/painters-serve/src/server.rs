//! Starting a server: the router, the tokio runtime, the listener, and [`ServeRun`] (what
//! `painters serve` runs).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Uri;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::error::{ApiError, ServeError};
use crate::handlers::{self, AppState};
use crate::model::{ModelSpec, ServedModel};
use crate::response::now;
use crate::worker::{self, Engine, WorkerOptions};

/// The largest request body read (a 100k-token prompt as JSON ids fits).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// The routes, over `state`; unknown paths and methods get OpenAI-shaped errors.
pub fn router(state: Arc<AppState>) -> Router {
    let wrong = |uri: Uri| async move { ApiError::wrong_method(uri.path()) };
    Router::new()
        .route(
            "/v1/completions",
            post(handlers::completions).fallback(wrong),
        )
        .route("/v1/chat/completions", post(handlers::chat).fallback(wrong))
        .route("/v1/models", get(handlers::models).fallback(wrong))
        .route("/health", get(handlers::health).fallback(wrong))
        .fallback(|uri: Uri| async move { ApiError::no_route(uri.path()) })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Starts the model worker on `served` and returns the state the handlers share.
pub fn start_worker(
    served: ServedModel,
    options: WorkerOptions,
) -> Result<Arc<AppState>, ServeError> {
    let ServedModel {
        model,
        plan,
        tokenizer,
        encoding,
        id,
        schedule,
        chat,
    } = served;
    let window = model.config().max_position_embeddings;
    let vocab = model.config().vocab_size;
    let engine = Engine {
        model,
        plan,
        tokenizer: tokenizer.clone(),
    };
    let queue = worker::spawn(engine, options).map_err(|e| ServeError::Worker(e.to_string()))?;
    Ok(Arc::new(AppState {
        id,
        schedule,
        window,
        vocab,
        encoding,
        tokenizer,
        chat,
        queue,
        created: now(),
        next_id: AtomicU64::new(0),
    }))
}

/// A server running on threads of its own (tests, examples): dropping it (or
/// [`Running::stop`]) shuts it down.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Serves `served` on `addr` (port 0: any free port; [`Running::addr`] says which).
    pub fn start(
        served: ServedModel,
        addr: &str,
        options: WorkerOptions,
    ) -> Result<Self, ServeError> {
        let state = start_worker(served, options)?;
        let rt = runtime()?;
        let listener = rt.block_on(bind(addr))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("painters-http".into())
            .spawn(move || {
                let app = router(state);
                let _ = rt.block_on(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await
                });
            })?;
        Ok(Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// What `painters serve` runs: load the model, listen, serve until Ctrl-C.
#[derive(Clone, Debug)]
pub struct ServeRun {
    pub model: ModelSpec,
    pub host: String,
    pub port: u16,
    pub worker: WorkerOptions,
}

/// What a [`ServeRun`] tells its caller.
#[derive(Debug)]
pub enum ServeEvent<'a> {
    /// The model is loaded and the server listens.
    Listening {
        addr: SocketAddr,
        id: &'a str,
        schedule: &'a str,
        chat_template: bool,
    },
}

impl ServeRun {
    /// Loads, binds and serves until Ctrl-C (or SIGTERM-less shutdown of the process).
    pub fn execute(&self, on_event: &mut dyn FnMut(&ServeEvent)) -> Result<(), ServeError> {
        // The port first: one another server holds fails before a long model load.
        let rt = runtime()?;
        let listener = rt.block_on(bind(&format!("{}:{}", self.host, self.port)))?;
        let addr = listener.local_addr()?;
        let served = ServedModel::load(&self.model)?;
        let chat_template = served.chat.is_some();
        let state = start_worker(served, self.worker)?;
        on_event(&ServeEvent::Listening {
            addr,
            id: &state.id,
            schedule: &state.schedule,
            chat_template,
        });
        rt.block_on(async move {
            axum::serve(listener, router(state))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
        })?;
        Ok(())
    }
}
