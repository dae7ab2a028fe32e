//! Why adapters could not be made, attached, read or written.

/// Why adapters could not be made, attached, read or written.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    #[error(
        "unknown target module `{0}` (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj)"
    )]
    UnknownTarget(String),
    #[error("LoRA rank must be at least 1, got {0}")]
    BadRank(usize),
    #[error("LoRA alpha must be a finite positive number, got {0}")]
    BadAlpha(f64),
    #[error("block {block} does not exist: adapters here cover {blocks} blocks")]
    BadBlock { block: usize, blocks: usize },
    #[error("this model has no `{0}` projection (its MLP is not gated)")]
    NoSuchTarget(&'static str),
    #[error("no adapter to train: choose target modules and blocks")]
    Empty,
    #[error(
        "training adapters needs f32 weights on the device; this model's matrices are stored as `{0}` (load it with --weights f32)"
    )]
    PackedWeights(String),
    #[error("the adapters cover {adapters} blocks; the model runs {model}")]
    BlockCount { adapters: usize, model: usize },
    #[error("{0}")]
    Untie(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{path}: {message}")]
    File {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    Weights(#[from] painters::weights::WeightError),
}
