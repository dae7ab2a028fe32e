//! How a model runs on its device: chosen once, when the model is loaded, not changed behind the
//! caller's back. None of these change results beyond float rounding.

use burn::tensor::Device;

/// Execution settings of a [`DecoderModel`](super::DecoderModel) (see each field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecSettings {
    /// Query positions per attention call of a long forward ([`DEFAULT_QUERY_CHUNK`]; None: all
    /// of a call's positions at once, as HF does). Chunks only skip keys causal masking hides.
    pub query_chunk: Option<usize>,
    /// Run the rows of a batch without a KV cache as row groups on rayon's threads at once (CPU).
    ///
    /// Why: on 2 CPU cores one batched forward keeps only ~1.4 cores busy (burn-flex's GEMMs of
    /// these shapes scale poorly, and the element-wise ops and attention between them leave cores
    /// idle), while independent row groups on rayon's work-stealing threads keep both busy;
    /// SmolLM2 8×128 ran 2.3 s in one group and 1.8 s in two (docs/performance.md).
    pub batch_split: bool,
    /// Run the two column parts of each fused projection (queries | keys and values, gate | up) as
    /// two GEMMs on rayon's threads at once in calls of at least [`PROJECTION_SPLIT_MIN_ROWS`]
    /// rows, the head in vocabulary slices, and SwiGLU as one threaded pass over host buffers (CPU).
    pub projection_split: bool,
    /// Bytes the stacked weights of batched parallel steps may take (None: as much as the blocks'
    /// own weights; `Some(0)`: batching off). Least recently used member lists are dropped first.
    pub stacked_weight_budget: Option<usize>,
}

/// Rows (batch × new positions) from which a forward call splits its fused projections: below
/// it, the GEMMs are too small for a second thread to pay for its wake-up (a decoded token ran 7%
/// slower with them split).
pub const PROJECTION_SPLIT_MIN_ROWS: usize = 32;

/// Rows from which the head runs as one GEMM even with the projection split on: at 1024 rows
/// `gemm` threads the head well by itself, and slicing it would add a copy of every logit.
pub const HEAD_SPLIT_ROWS: usize = 512;

/// Default query positions per attention call: long prompts (wikitext's 8192-token windows) skip
/// the masked upper triangle of attention, short ones (up to 256 new tokens) run in one call.
pub const DEFAULT_QUERY_CHUNK: usize = 256;

impl ExecSettings {
    /// The defaults for `device`: CPU threading on host devices ([`painters::backend::runs_on_host`]),
    /// off elsewhere (GPU backends queue work asynchronously and gain nothing from it).
    pub fn for_device(device: &Device) -> Self {
        let host = painters::backend::runs_on_host(device);
        ExecSettings {
            query_chunk: Some(DEFAULT_QUERY_CHUNK),
            batch_split: host,
            projection_split: host,
            stacked_weight_budget: None,
        }
    }

    /// The same with every CPU threading setting off (one GEMM per projection, one row group).
    pub fn unsplit(self) -> Self {
        ExecSettings {
            batch_split: false,
            projection_split: false,
            ..self
        }
    }
}
