//! `painters serve`: one model under one schedule behind an OpenAI-compatible HTTP API
//! ([`ServeRun`]), for lm-eval's `local-completions` and any OpenAI client.

use painters_serve::{ModelSpec, ServeError, ServeEvent, ServeRun, WorkerOptions};

use crate::args::{KvKind, ModelArgs, ScheduleArgs};
use crate::error::{CliError, LLAMA_MODEL_HINT, load_error};

#[derive(clap::Args)]
#[command(after_help = include_str!("help/serve.txt"))]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    schedule: ScheduleArgs,
    /// Seed of the random preset.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i128,
    /// KV-cache mode of generation: exact, or the paper authors' averaged cache.
    #[arg(long, value_enum, default_value_t = KvKind::Exact)]
    kv: KvKind,
    /// The address to listen on (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port (0: any free port; the one chosen is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// The model id clients name in `model` [default: <model file or folder name>@<schedule>].
    #[arg(long)]
    served_name: Option<String>,
    /// Requests the queue holds before new ones get HTTP 503.
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Padded tokens (rows × longest prompt) of one batched prompt pass.
    #[arg(long, default_value_t = 8192)]
    batch_tokens: usize,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let run = ServeRun {
        model: ModelSpec {
            source: args.model.source(true),
            schedule: args.schedule.spec(args.seed),
            kv: args.kv.into(),
            name: args.served_name,
        },
        host: args.host,
        port: args.port,
        worker: WorkerOptions {
            queue: args.queue,
            batch_tokens: args.batch_tokens,
        },
    };
    run.execute(&mut |e| match e {
        ServeEvent::Listening {
            addr,
            id,
            schedule,
            chat_template,
        } => {
            eprintln!("schedule: {schedule}");
            eprintln!(
                "chat template: {}",
                if *chat_template {
                    "the model's"
                } else {
                    "none (/v1/chat/completions answers with an error)"
                }
            );
            eprintln!("serving `{id}` on http://{addr}/v1 (Ctrl-C stops)");
        }
    })
    .map_err(serve_error)
}

fn serve_error(e: ServeError) -> CliError {
    match e {
        ServeError::Load(e) => load_error(e, LLAMA_MODEL_HINT),
        ServeError::Schedule(e) => e.into(),
        ServeError::Plan(e) => e.into(),
        e @ ServeError::Bind { .. } => CliError::new(e)
            .with_hint("another server may hold the port: pass --port (0 picks a free one)"),
        e @ ServeError::NotADecoder(_) => CliError::new(e).with_hint(LLAMA_MODEL_HINT),
        other => CliError::new(other),
    }
}
