//! The Llama model: RMSNorm, rotate-half RoPE, grouped-query attention, SwiGLU, as HF's
//! `modeling_llama.py` (transformers 5.x) computes them in float32.
//!
//! Projections are fused at load time (Q/K/V into one `[d, (h + 2·kv)·hd]` matrix, gate/up into one
//! `[d, 2·ffn]`), and stored transposed so that every projection is one `x · W` without a transpose
//! per call. On CPU devices a fused projection of enough rows runs as its two column parts on two
//! threads at once instead ([`LlamaModel::set_projection_split`]).
//!
//! A parallel step whose branches are single blocks runs as one batched computation over the
//! members' stacked weights (see the `batched` module; cached on the model, built on first use).

mod batched;
mod swiglu;

use std::sync::Arc;

use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use painters::exec::{
    Block, BlockOutput, ExecOptions, ObservePoint, Observer, Transformer, forward_whole,
    hidden_whole,
};
use painters::{ExecError, KvCache, KvState, Plan};

use crate::config::LlamaConfig;

/// The sizes a block needs at run time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dims {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub eps: f64,
}

/// One decoder layer (`LlamaDecoderLayer`).
#[derive(Clone, Debug)]
pub struct LlamaBlock {
    pub(crate) attn_norm: Tensor<1>,
    /// `[d, (heads + 2·kv_heads)·head_dim]`: q, then k, then v columns.
    pub(crate) w_qkv: Tensor<2>,
    /// `[heads·head_dim, d]`.
    pub(crate) w_o: Tensor<2>,
    pub(crate) mlp_norm: Tensor<1>,
    /// `[d, 2·ffn]`: gate, then up columns.
    pub(crate) w_gate_up: Tensor<2>,
    /// `[ffn, d]`.
    pub(crate) w_down: Tensor<2>,
    pub(crate) dims: Dims,
}

/// What every block application of one forward call shares: RoPE tables and the attention layout.
pub struct LlamaContext {
    /// `[1, 1, seq, head_dim]`, for positions `past_len..past_len + seq`.
    cos: Tensor<4>,
    sin: Tensor<4>,
    /// The new positions cut into query chunks, each with its causal key prefix and mask.
    chunks: Vec<QueryChunk>,
    /// The model's stacked weights for batched parallel steps.
    stacked: Arc<batched::StackedCache>,
    /// Address and length of the model's block slice: the stacked weights are keyed by indices into it.
    blocks_at: (usize, usize),
    /// Run the two column parts of the fused projections on rayon's threads
    /// ([`LlamaModel::set_projection_split`]; on CPU devices, for enough rows).
    split_projections: bool,
    /// Compute SwiGLU in one pass over the host buffers ([`LlamaModel::set_projection_split`]; on
    /// CPU devices, at any row count, so that split and whole batches compute the same numbers).
    host_swiglu: bool,
}

impl LlamaContext {
    /// Whether `blocks` is the block slice of the model that built this context.
    fn built_for(&self, blocks: &[LlamaBlock]) -> bool {
        (blocks.as_ptr() as usize, blocks.len()) == self.blocks_at
    }
}

/// `x · rsqrt(mean(x²) + eps) · w`, over the last axis.
pub(crate) fn rms_norm(x: Tensor<3>, w: &Tensor<1>, eps: f64) -> Tensor<3> {
    let d = w.dims()[0];
    rms_scale(x, eps).mul(w.clone().reshape([1, 1, d]))
}

/// `x · rsqrt(mean(x²) + eps)` over the last axis: RMSNorm without its weight.
fn rms_scale(x: Tensor<3>, eps: f64) -> Tensor<3> {
    let var = x.clone().square().mean_dim(2);
    x.mul(var.add_scalar(eps).sqrt().recip())
}

/// `x · W` for `x: [b, s, i]`, `W: [i, o]`.
fn project(x: Tensor<3>, w: &Tensor<2>) -> Tensor<3> {
    let [b, s, i] = x.dims();
    let o = w.dims()[1];
    x.reshape([b * s, i]).matmul(w.clone()).reshape([b, s, o])
}

/// `x · W[:, ..cut]` and `x · W[:, cut..]` for `x: [b, s, i]`, `W: [i, o]`: the two parts of a fused
/// projection (queries | keys and values, gate | up), each contiguous.
///
/// With `threads`, the parts are two GEMMs on rayon's threads at once, reading the weight's columns
/// in place. Why: burn-flex hands every product to `gemm`, which threads 128-row products of these
/// shapes poorly (on 2 cores, 128×576×960: 1.12 ms as one GEMM, 0.82 ms as two parts at once;
/// 128×576×3072: 2.80 vs 2.43 ms). Without, one fused GEMM, which GPU backends prefer.
fn project_parts(x: Tensor<3>, w: &Tensor<2>, cut: usize, threads: bool) -> (Tensor<3>, Tensor<3>) {
    let rest = w.dims()[1] - cut;
    if threads {
        let part = |start: usize, len: usize| project(x.clone(), &w.clone().narrow(1, start, len));
        rayon::join(|| part(0, cut), || part(cut, rest))
    } else {
        let y = project(x, w);
        (y.clone().narrow(2, 0, cut), y.narrow(2, cut, rest))
    }
}

/// HF `apply_rotary_pos_emb`: `x·cos + rotate_half(x)·sin`, with `rotate_half(x) = [−x₂, x₁]`.
fn rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let hd = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, hd / 2);
    let x2 = x.clone().narrow(3, hd / 2, hd / 2);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x.mul(cos.clone()) + rotated.mul(sin.clone())
}

/// Attention of the query positions `start..start + len` of one forward call.
///
/// A causal query at position `past + i` sees no key after it, so a chunk only needs the first
/// `keys = past + start + len` keys: cutting a long prompt into chunks skips the upper triangle of
/// the score matrix (about half of attention's work at 8192 tokens) and keeps each chunk's mask
/// small. Every query still meets exactly the keys it met unchunked; the keys a chunk drops are
/// masked for all of its rows.
struct QueryChunk {
    start: usize,
    len: usize,
    keys: usize,
    /// `[batch, kv_heads, rep·len, keys]` (queries grouped by their KV head, see
    /// [`grouped_attention`]), true where a query must not see a key; None when every query sees
    /// every key (a single new token with no padding).
    mask: Option<Tensor<4, Bool>>,
}

/// Attention over every chunk of `chunks`: `q: [b·r, heads, s, hd]`, `k, v: [b·r, kv, t, hd]` where
/// the chunks' masks have batch `b` and `r` (`batch_repeat`) copies of each row run side by side
/// (the members of a batched parallel step). Returns `[b·r, heads, s, hd]`.
fn chunked_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    chunks: &[QueryChunk],
    batch_repeat: usize,
) -> Tensor<4> {
    let mask = |c: &QueryChunk| {
        c.mask.clone().map(|m| {
            if batch_repeat == 1 {
                m
            } else {
                m.repeat_dim(0, batch_repeat)
            }
        })
    };
    if let [c] = chunks
        && c.keys == k.dims()[2]
    {
        return grouped_attention(q, k, v, mask(c));
    }
    let outs = chunks
        .iter()
        .map(|c| {
            grouped_attention(
                q.clone().narrow(2, c.start, c.len),
                k.clone().narrow(2, 0, c.keys),
                v.clone().narrow(2, 0, c.keys),
                mask(c),
            )
        })
        .collect();
    Tensor::cat(outs, 2)
}

/// Grouped-query attention without HF's `repeat_kv`: instead of copying each KV head `rep` times to
/// line up with the query heads, the `rep` query heads that share a KV head are stacked along the
/// query axis. `q: [b, kv·rep, s, hd]` (head `h` uses KV head `h / rep`, as in HF), `k, v:
/// [b, kv, t, hd]`, `mask: [b, kv, rep·s, t]`; returns `[b, kv·rep, s, hd]`. Every query row meets the
/// same keys as with `repeat_kv`, so the numbers are the same; the cache is read where it lies,
/// which during decoding saves copying `rep`× the whole cache per block and token.
pub(crate) fn grouped_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
) -> Tensor<4> {
    let [b, heads, s, hd] = q.dims();
    let kv = k.dims()[1];
    let rep = heads / kv;
    let q = if rep == 1 {
        q
    } else {
        q.reshape([b, kv, rep * s, hd])
    };
    let out = attention(q, k, v, mask, None, AttentionModuleOptions::default());
    if rep == 1 {
        out
    } else {
        out.reshape([b, heads, s, hd])
    }
}

impl Block for LlamaBlock {
    type Context = LlamaContext;

    fn forward(
        &self,
        x: Tensor<3>,
        ctx: &LlamaContext,
        past: Option<&KvState>,
        want_kv: bool,
    ) -> BlockOutput {
        let Dims {
            heads,
            kv_heads,
            head_dim: hd,
            ..
        } = self.dims;
        let [b, s, d] = x.dims();
        let h = rms_norm(x.clone(), &self.attn_norm, self.dims.eps);
        let (q, kv) = project_parts(h, &self.w_qkv, heads * hd, ctx.split_projections);
        let heads_of = |t: Tensor<3>, n: usize| t.reshape([b, s, n, hd]).swap_dims(1, 2);
        let q = rope(heads_of(q, heads), &ctx.cos, &ctx.sin);
        let k = kv.clone().narrow(2, 0, kv_heads * hd);
        let k = rope(heads_of(k, kv_heads), &ctx.cos, &ctx.sin);
        let v = heads_of(kv.narrow(2, kv_heads * hd, kv_heads * hd), kv_heads);
        let (k_all, v_all) = match past {
            Some(p) => (
                Tensor::cat(vec![p.key(), k.clone()], 2),
                Tensor::cat(vec![p.value(), v.clone()], 2),
            ),
            None => (k.clone(), v.clone()),
        };
        let ctx_out = chunked_attention(q, k_all, v_all, &ctx.chunks, 1);
        let attn = ctx_out.swap_dims(1, 2).reshape([b, s, heads * hd]);
        let x = x + project(attn, &self.w_o);
        let h = rms_norm(x.clone(), &self.mlp_norm, self.dims.eps);
        let (gate, up) = project_parts(h, &self.w_gate_up, self.dims.ffn, ctx.split_projections);
        let act = swiglu::swiglu(gate, up, ctx.host_swiglu);
        let out = x + project(act, &self.w_down);
        debug_assert_eq!(out.dims(), [b, s, d]);
        BlockOutput {
            hidden: out,
            kv: want_kv.then(|| KvState::new(k, v)),
        }
    }

    /// One batched computation for all members (stacked weights cached on the model); see the
    /// `batched` module.
    fn forward_group(
        blocks: &[Self],
        members: &[usize],
        hidden: &Tensor<3>,
        ctx: &LlamaContext,
        pasts: &[Option<&KvState>],
        want_kv: bool,
    ) -> Option<Vec<BlockOutput>> {
        batched::forward_group(blocks, members, hidden, ctx, pasts, want_kv)
    }
}

/// Token ids for one forward call, on the host: `batch` rows of `seq` ids each.
///
/// `attention_mask` (1 = real token, 0 = padding), when given, covers every key the call attends to:
/// the cached positions first, then the new ones (`batch × (past_len + seq)`), as in HF.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaInput {
    pub ids: Vec<u32>,
    pub batch: usize,
    pub seq: usize,
    pub attention_mask: Option<Vec<u8>>,
}

impl LlamaInput {
    /// Rows of equal length, no padding.
    pub fn new(rows: &[Vec<u32>]) -> Result<Self, LlamaError> {
        let seq = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != seq) {
            return Err(LlamaError::Input(
                "rows of different lengths: pad them and pass an attention mask (LlamaInput::padded)".into(),
            ));
        }
        Ok(LlamaInput {
            ids: rows.concat(),
            batch: rows.len(),
            seq,
            attention_mask: None,
        })
    }

    /// That the ids fill `batch × seq` and the mask, if any, `batch × (past + seq)`.
    fn check(&self, past: usize) -> Result<(), LlamaError> {
        let (b, s) = (self.batch, self.seq);
        if self.ids.len() != b * s || s == 0 {
            return Err(LlamaError::Input(format!(
                "{} ids for batch {b} × seq {s}",
                self.ids.len()
            )));
        }
        let t = past + s;
        if let Some(m) = &self.attention_mask
            && m.len() != b * t
        {
            return Err(LlamaError::Input(format!(
                "attention_mask has {} entries, expected batch {b} × keys {t}",
                m.len()
            )));
        }
        Ok(())
    }

    /// Rows `start..start + n` of an input that passed [`LlamaInput::check`].
    fn rows(&self, start: usize, n: usize) -> LlamaInput {
        if start == 0 && n == self.batch {
            return self.clone();
        }
        let s = self.seq;
        LlamaInput {
            ids: self.ids[start * s..(start + n) * s].to_vec(),
            batch: n,
            seq: s,
            attention_mask: self.attention_mask.as_ref().map(|m| {
                let t = m.len() / self.batch.max(1);
                m[start * t..(start + n) * t].to_vec()
            }),
        }
    }

    /// Rows of different lengths, right-padded with `pad` and masked.
    pub fn padded(rows: &[Vec<u32>], pad: u32) -> Self {
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * seq);
        let mut mask = Vec::with_capacity(rows.len() * seq);
        for r in rows {
            ids.extend_from_slice(r);
            ids.extend(std::iter::repeat_n(pad, seq - r.len()));
            mask.extend(std::iter::repeat_n(1u8, r.len()));
            mask.extend(std::iter::repeat_n(0u8, seq - r.len()));
        }
        LlamaInput {
            ids,
            batch: rows.len(),
            seq,
            attention_mask: Some(mask),
        }
    }
}

/// Errors of the Llama adapter.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Weights(#[from] painters::weights::WeightError),
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Schedule(#[from] painters::ScheduleError),
    #[error("token id {id} is outside the vocabulary (size {vocab})")]
    TokenOutOfRange { id: u32, vocab: usize },
    #[error(
        "sequence of {len} positions exceeds the model's maximum of {max} (max_position_embeddings); truncate the input"
    )]
    TooLong { len: usize, max: usize },
    #[error("bad input: {0}")]
    Input(String),
}

/// A Llama-architecture causal LM.
#[derive(Clone, Debug)]
pub struct LlamaModel {
    pub(crate) config: LlamaConfig,
    /// `[vocab, d]`.
    pub(crate) embed: Tensor<2>,
    pub(crate) blocks: Vec<LlamaBlock>,
    pub(crate) norm: Tensor<1>,
    /// `[d, vocab]`; None when the head is tied to the embedding.
    pub(crate) head: Option<Tensor<2>>,
    pub(crate) inv_freq: Vec<f32>,
    pub(crate) device: Device,
    /// Stacked member weights of batched parallel steps, built on first use; shared by clones.
    pub(crate) stacked: Arc<batched::StackedCache>,
    /// Query positions per attention call of a long forward (None: the whole call at once).
    pub(crate) query_chunk: Option<usize>,
    /// Run the rows of a batch without a KV cache as row groups on rayon's threads at once.
    pub(crate) batch_split: bool,
    /// Run the two parts of each fused projection, and the head's vocabulary slices, on rayon's
    /// threads at once ([`LlamaModel::set_projection_split`]).
    pub(crate) projection_split: bool,
}

/// Whether `device` computes on the calling thread (burn's CPU backends), where splitting a batch
/// across threads helps; GPU backends queue work asynchronously and gain nothing from it.
pub(crate) fn host_device(device: &Device) -> bool {
    // burn 0.22 has no public "is this a CPU backend" query; its Debug form names the backend
    // (`Device<Flex(Cpu)>`). The tests check that a flex device is recognised.
    let name = format!("{device:?}");
    name.contains("Flex(") || name.contains("NdArray(")
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

impl LlamaModel {
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes held by the stacked weights of batched parallel steps (one copy of each member's
    /// weights per distinct member list run so far). Extra memory on top of the model's own weights.
    pub fn stacked_weight_bytes(&self) -> usize {
        self.stacked.bytes()
    }

    /// Distinct member lists whose stacked weights are cached.
    pub fn stacked_groups(&self) -> usize {
        self.stacked.len()
    }

    /// Builds the stacked weights of every batched parallel step of `plan` now rather than on the
    /// first forward call; returns [`LlamaModel::stacked_weight_bytes`] afterwards.
    pub fn prepare(&self, plan: &Plan) -> usize {
        for g in plan.block_groups() {
            if g.blocks.len() >= 2 {
                // A member list that cannot be stacked simply runs sequentially later.
                let _ = self.stacked.get_or_build(&self.blocks, &g.blocks);
            }
        }
        self.stacked_weight_bytes()
    }

    /// Drops every cached stacked weight (they are rebuilt on demand).
    pub fn clear_stacked_weights(&self) {
        self.stacked.clear();
    }

    /// Caps the bytes that stacked weights may take (None, the default: as much as the blocks' own
    /// weights). When a new member list would exceed it, the least recently used lists are dropped;
    /// a list larger than the budget by itself runs sequentially. `Some(0)` turns batching off.
    /// Drops every cached stacked weight. Shared with the model's clones.
    pub fn set_stacked_weight_budget(&self, bytes: Option<usize>) {
        self.stacked.set_budget(bytes);
    }

    /// Sets how many query positions one attention call takes ([`DEFAULT_QUERY_CHUNK`]; None: all
    /// of a forward call's positions at once, as HF does). Results agree either way up to float
    /// rounding; chunks only skip keys that causal masking hides.
    pub fn set_query_chunk(&mut self, positions: Option<usize>) {
        self.query_chunk = positions.map(|p| p.max(1));
    }

    /// Split batches across threads (the default on CPU devices) or not. Splitting changes speed,
    /// not results (beyond float rounding): rows never interact in a forward pass without a cache.
    pub fn set_batch_split(&mut self, on: bool) {
        self.batch_split = on;
    }

    /// Run the two column parts of each fused projection (queries | keys and values, gate | up) as
    /// two GEMMs on rayon's threads at once in forward calls of at least
    /// [`PROJECTION_SPLIT_MIN_ROWS`] rows, the head in vocabulary slices (see
    /// [`LlamaModel::logits`]), and SwiGLU as one threaded pass over the host buffers: the default
    /// on CPU devices. Off: one GEMM each and burn's own `silu`. Changes speed, not results (beyond
    /// float rounding).
    pub fn set_projection_split(&mut self, on: bool) {
        self.projection_split = on;
    }

    /// How many row groups a forward pass of `batch` rows without a KV cache runs in at once: one
    /// per rayon thread, at most one per row (1: not split).
    ///
    /// Why: on 2 CPU cores one batched forward keeps only ~1.4 cores busy (burn-flex's GEMMs of
    /// these shapes scale poorly, and the element-wise ops and attention between them leave cores
    /// idle), while independent row groups on rayon's work-stealing threads keep both busy;
    /// SmolLM2 8×128 ran 2.3 s in one group and 1.8 s in two (docs/performance.md).
    pub fn batch_parts(&self, batch: usize) -> usize {
        if self.batch_split {
            batch.min(rayon::current_num_threads()).max(1)
        } else {
            1
        }
    }

    /// The last hidden state (before the final norm) of `input` under `plan`: embedding and
    /// blocks, without the head. Split into row groups as [`LlamaModel::batch_parts`] says when
    /// there is no cache.
    pub fn hidden_states(
        &self,
        plan: &Plan,
        input: &LlamaInput,
        cache: Option<&mut KvCache>,
        options: ExecOptions,
    ) -> Result<Tensor<3>, LlamaError> {
        let whole = |input: &LlamaInput, cache: Option<&mut KvCache>| {
            hidden_whole(self, plan, input, cache, &mut (), options)
        };
        let parts = self.batch_parts(input.batch);
        if cache.is_some() || parts <= 1 {
            return whole(input, cache);
        }
        input.check(0)?;
        in_row_groups(input, 0, input.batch, parts, &|sub| whole(sub, None))
    }

    /// [`LlamaModel::hidden_states`] of rows that each continue the one sequence cached in
    /// `prefix` (a batch-1 cache, left unchanged): several continuations scored after one shared
    /// context. Each row group runs against its own copy of the prefix, repeated per row, so the
    /// groups run at once as in [`LlamaModel::batch_parts`].
    pub fn hidden_states_after(
        &self,
        plan: &Plan,
        prefix: &KvCache,
        input: &LlamaInput,
        options: ExecOptions,
    ) -> Result<Tensor<3>, LlamaError> {
        input.check(prefix.len())?;
        if let Some(rows) = (0..prefix.num_slots())
            .filter_map(|i| prefix.slot(i))
            .map(|s| s.key().dims()[0])
            .find(|&rows| rows != 1)
        {
            return Err(LlamaError::Input(format!(
                "the prefix cache holds {rows} rows; continuations need a cache of one sequence"
            )));
        }
        let run = |sub: &LlamaInput| {
            let mut cache = prefix.repeat_batch(sub.batch);
            self.hidden_states(plan, sub, Some(&mut cache), options)
        };
        let parts = self.batch_parts(input.batch);
        if parts <= 1 {
            return run(input);
        }
        in_row_groups(input, 0, input.batch, parts, &run)
    }

    fn rope_tables(&self, past: usize, seq: usize) -> (Tensor<4>, Tensor<4>) {
        let hd = self.config.head_dim;
        let mut cos = Vec::with_capacity(seq * hd);
        let mut sin = Vec::with_capacity(seq * hd);
        for p in past..past + seq {
            // cat(freqs, freqs): both halves of the head use the same frequencies.
            for _ in 0..2 {
                for &f in &self.inv_freq {
                    let a = p as f32 * f;
                    cos.push(a.cos());
                    sin.push(a.sin());
                }
            }
        }
        let mk = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [1, 1, seq, hd]), &self.device);
        (mk(cos), mk(sin))
    }

    /// The query chunks of a forward call, each with its causal + padding mask (true = masked).
    fn chunks(&self, input: &LlamaInput, past: usize) -> Result<Vec<QueryChunk>, LlamaError> {
        input.check(past)?;
        let (b, s) = (input.batch, input.seq);
        let t = past + s;
        let padded = |row: usize, j: usize| {
            input
                .attention_mask
                .as_ref()
                .is_some_and(|m| m[row * t + j] == 0)
        };
        let kv = self.config.num_key_value_heads;
        let rep = self.config.num_attention_heads / kv.max(1);
        let step = self.query_chunk.unwrap_or(s).max(1);
        let mut chunks = Vec::with_capacity(s.div_ceil(step));
        for start in (0..s).step_by(step) {
            let len = step.min(s - start);
            let keys = past + start + len;
            if len == 1 && (0..b).all(|row| (0..keys).all(|j| !padded(row, j))) {
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
                    v.extend((0..keys).map(|j| j > past + i || padded(row, j)));
                }
            }
            // Laid out for grouped_attention: [b, kv, rep·len, keys], the same mask for every head.
            let m: Tensor<5, Bool> =
                Tensor::from_data(TensorData::new(v, [b, 1, 1, len, keys]), &self.device);
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
        Ok(chunks)
    }

    /// Logits `[b, s, vocab]` from the final norm's output.
    ///
    /// On CPU devices with the projection split on ([`LlamaModel::set_projection_split`]), fewer
    /// than [`HEAD_SPLIT_ROWS`] rows meet the head in vocabulary slices, one GEMM per rayon thread
    /// at once: SmolLM2's tied 576 × 49152 head took 61 ms at 128 rows as one GEMM and 46 ms in
    /// two slices (5.4 and 3.5 ms for one decoded token). Larger products thread well by themselves.
    pub fn logits(&self, normed: Tensor<3>) -> Tensor<3> {
        let [b, s, d] = normed.dims();
        let vocab = self.config.vocab_size;
        // Columns `start..start + len` of the `[d, vocab]` head.
        let head = |start: usize, len: usize| match &self.head {
            Some(w) => w.clone().narrow(1, start, len),
            None => self.embed.clone().narrow(0, start, len).transpose(),
        };
        let x = normed.reshape([b * s, d]);
        let parts = if self.projection_split && b * s < HEAD_SPLIT_ROWS {
            rayon::current_num_threads().clamp(1, vocab.max(1))
        } else {
            1
        };
        let y = if parts <= 1 {
            x.matmul(head(0, vocab))
        } else {
            use rayon::prelude::*;
            let slices: Vec<Tensor<2>> = (0..parts)
                .into_par_iter()
                .map(|i| {
                    let (start, end) = (vocab * i / parts, vocab * (i + 1) / parts);
                    x.clone().matmul(head(start, end - start))
                })
                .collect();
            Tensor::cat(slices, 1)
        };
        y.reshape([b, s, vocab])
    }

    /// The final RMSNorm.
    pub fn final_norm(&self, h: Tensor<3>) -> Tensor<3> {
        rms_norm(h, &self.norm, self.config.rms_norm_eps)
    }
}

impl Transformer for LlamaModel {
    type Block = LlamaBlock;
    type Input = LlamaInput;
    type Error = LlamaError;

    fn blocks(&self) -> &[LlamaBlock] {
        &self.blocks
    }

    fn embed(
        &self,
        input: &LlamaInput,
        past_len: usize,
    ) -> Result<(Tensor<3>, LlamaContext), LlamaError> {
        input.check(past_len)?;
        let (b, s) = (input.batch, input.seq);
        let vocab = self.config.vocab_size;
        if let Some(&id) = input.ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(LlamaError::TokenOutOfRange { id, vocab });
        }
        let max = self.config.max_position_embeddings;
        if past_len + s > max {
            return Err(LlamaError::TooLong {
                len: past_len + s,
                max,
            });
        }
        let ids: Vec<i64> = input.ids.iter().map(|&i| i as i64).collect();
        let ids: Tensor<1, Int> = Tensor::from_data(TensorData::new(ids, [b * s]), &self.device);
        let d = self.config.hidden_size;
        let h = self.embed.clone().select(0, ids).reshape([b, s, d]);
        let (cos, sin) = self.rope_tables(past_len, s);
        let chunks = self.chunks(input, past_len)?;
        Ok((
            h,
            LlamaContext {
                cos,
                sin,
                chunks,
                stacked: self.stacked.clone(),
                blocks_at: (self.blocks.as_ptr() as usize, self.blocks.len()),
                split_projections: self.projection_split && b * s >= PROJECTION_SPLIT_MIN_ROWS,
                host_swiglu: self.projection_split,
            },
        ))
    }

    fn head(&self, hidden: Tensor<3>, observer: &mut dyn Observer) -> Tensor<3> {
        let normed = self.final_norm(hidden);
        observer.observe(ObservePoint::FinalNorm, &normed);
        self.logits(normed)
    }

    /// Without a cache or an observer, the blocks run in row groups at once
    /// ([`LlamaModel::batch_parts`]); otherwise as one computation.
    fn forward_with(
        &self,
        plan: &Plan,
        input: &LlamaInput,
        cache: Option<&mut KvCache>,
        observer: &mut dyn Observer,
        options: ExecOptions,
    ) -> Result<Tensor<3>, LlamaError> {
        if cache.is_some() || observer.observes() || self.batch_parts(input.batch) <= 1 {
            return forward_whole(self, plan, input, cache, observer, options);
        }
        // The head is one large GEMM that threads well on its own; splitting it too would only add
        // the copy of the logits into one tensor.
        let h = self.hidden_states(plan, input, None, options)?;
        Ok(self.head(h, observer))
    }
}

/// `f` over `parts` groups of the rows `start..start + rows` of `input`, run at once on rayon's
/// threads (halving recursively), outputs concatenated along the batch axis.
fn in_row_groups(
    input: &LlamaInput,
    start: usize,
    rows: usize,
    parts: usize,
    f: &(dyn Fn(&LlamaInput) -> Result<Tensor<3>, LlamaError> + Sync),
) -> Result<Tensor<3>, LlamaError> {
    if parts <= 1 {
        return f(&input.rows(start, rows));
    }
    let left_parts = parts / 2;
    let left = rows * left_parts / parts;
    let (a, b) = rayon::join(
        || in_row_groups(input, start, left, left_parts, f),
        || in_row_groups(input, start + left, rows - left, parts - left_parts, f),
    );
    Ok(Tensor::cat(vec![a?, b?], 0))
}
