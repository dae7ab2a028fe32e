//! What every block application of one forward call shares: one RoPE table per distinct RoPE spec
//! of the model, and the query chunks with their masks per distinct attention window. A block picks
//! its own table and window, so it keeps them wherever a schedule places it.

use std::sync::Arc;

use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::attention::{QueryChunk, RopeTable};
use super::block::{BlockCall, BlockSpec};
use super::input::DecoderInput;
use super::stacked::StackedCache;

/// The per-call state blocks share (see the module docs).
pub struct DecoderContext {
    /// Indexed like [`crate::DecoderConfig::ropes`].
    pub(crate) ropes: Vec<RopeTable>,
    /// Query chunks per distinct window (None: full causal attention).
    pub(crate) masks: Vec<(Option<usize>, Vec<QueryChunk>)>,
    /// The model's stacked weights for batched parallel steps.
    pub(crate) stacked: Arc<StackedCache>,
    /// Address and length of the model's block slice: the stacked weights are keyed by indices into it.
    pub(crate) blocks_at: (usize, usize),
    /// Run the two column parts of the fused projections on rayon's threads (CPU, enough rows).
    pub(crate) split_projections: bool,
    /// Compute SwiGLU in one pass over the host buffers (CPU devices, at any row count, so that
    /// split and whole batches compute the same numbers).
    pub(crate) host_swiglu: bool,
    /// Adapters the blocks add to their projections (an [`AdaptedModel`](super::AdaptedModel)'s
    /// call); None for the plain model.
    pub(crate) adapters: Option<Arc<super::lora::ActiveAdapters>>,
}

/// The name this type had when only Llama loaded.
pub type LlamaContext = DecoderContext;

impl DecoderContext {
    /// Whether `blocks` is the block slice of the model that built this context.
    pub(crate) fn built_for<T>(&self, blocks: &[T]) -> bool {
        (blocks.as_ptr() as usize, blocks.len()) == self.blocks_at
    }

    /// What a block with `spec` reads from this call: its RoPE table and its window's chunks.
    pub(crate) fn call(&self, spec: &BlockSpec) -> BlockCall<'_> {
        BlockCall {
            rope: &self.ropes[spec.rope],
            chunks: self.chunks(spec.window),
            split_projections: self.split_projections,
            host_swiglu: self.host_swiglu,
            adapters: self.adapters.as_deref(),
        }
    }

    /// The query chunks of layers with attention window `window`.
    pub(crate) fn chunks(&self, window: Option<usize>) -> &[QueryChunk] {
        self.masks
            .iter()
            .find(|(w, _)| *w == window)
            .map(|(_, c)| c.as_slice())
            .unwrap_or(&[])
    }
}

/// `cos`/`sin` tables `[1, 1, seq, 2·inv_freq.len()]` for positions `past..past + seq`.
pub(crate) fn rope_table(inv_freq: &[f32], past: usize, seq: usize, device: &Device) -> RopeTable {
    let rd = 2 * inv_freq.len();
    let mut cos = Vec::with_capacity(seq * rd);
    let mut sin = Vec::with_capacity(seq * rd);
    for p in past..past + seq {
        // cat(freqs, freqs): both halves of the rotated part use the same frequencies.
        for _ in 0..2 {
            for &f in inv_freq {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
    }
    let mk = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [1, 1, seq, rd]), device);
    RopeTable {
        cos: mk(cos),
        sin: mk(sin),
    }
}

/// The query chunks of a forward call for one attention window, each with its causal, window and
/// padding mask (true = masked), laid out for grouped attention (`kv` heads, `rep` query heads each).
pub(crate) fn query_chunks(
    input: &DecoderInput,
    past: usize,
    chunk: Option<usize>,
    window: Option<usize>,
    (kv, rep): (usize, usize),
    device: &Device,
) -> Vec<QueryChunk> {
    let (b, s) = (input.batch, input.seq);
    let t = past + s;
    let hidden = |row: usize, i: usize, j: usize| {
        let q = past + i;
        j > q || window.is_some_and(|w| q - j >= w) || input.is_padding(row, j, t)
    };
    let step = chunk.unwrap_or(s).max(1);
    let mut chunks = Vec::with_capacity(s.div_ceil(step));
    for start in (0..s).step_by(step) {
        let len = step.min(s - start);
        let keys = past + start + len;
        if len == 1 && (0..b).all(|row| (0..keys).all(|j| !hidden(row, start, j))) {
            chunks.push(QueryChunk {
                start,
                len,
                keys,
                mask: None,
            });
            continue;
        }
        let mut v = Vec::with_capacity(b * len * keys);
        for row in 0..b {
            for i in start..start + len {
                v.extend((0..keys).map(|j| hidden(row, i, j)));
            }
        }
        // Laid out for grouped_attention: [b, kv, rep·len, keys], the same mask for every head.
        let m: Tensor<5, Bool> =
            Tensor::from_data(TensorData::new(v, [b, 1, 1, len, keys]), device);
        chunks.push(QueryChunk {
            start,
            len,
            keys,
            mask: Some(
                m.expand([b, kv, rep, len, keys])
                    .reshape([b, kv, rep * len, keys]),
            ),
        });
    }
    chunks
}
