//! [`DecoderModel`]: embeddings, blocks and head, and the calls the harness makes on them.

use std::sync::Arc;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use painters::exec::{
    ExecOptions, ObservePoint, Observer, Transformer, forward_whole, hidden_whole,
};
use painters::{KvCache, Plan};

use super::block::DecoderBlock;
use super::context::{self, DecoderContext};
use super::input::DecoderInput;
use super::norm::Norm;
use super::settings::{ExecSettings, HEAD_SPLIT_ROWS, PROJECTION_SPLIT_MIN_ROWS};
use super::stacked::StackedCache;
use super::weight::{Weight, WeightMode, as_dtype, packed_forward, product};
use crate::config::DecoderConfig;
use crate::error::DecoderError;

/// The token embedding table `[vocab, d]` (also the head when it is tied).
#[derive(Clone, Debug)]
pub(crate) enum Table {
    /// f32 on the device.
    Dense(Tensor<2>),
    /// On the host in its storage format.
    Packed(painters_kernels::QMatrix),
}

/// A decoder-only causal LM of any supported family.
#[derive(Clone, Debug)]
pub struct DecoderModel {
    pub(crate) config: DecoderConfig,
    pub(crate) embed: Table,
    pub(crate) blocks: Vec<DecoderBlock>,
    pub(crate) norm: Norm,
    /// `[vocab, d]` (stored as `Weight` is: `[d, vocab]` when dense); None when tied to the embedding.
    pub(crate) head: Option<Weight>,
    /// Inverse frequencies of each RoPE table (indexed like `config.ropes`).
    pub(crate) inv_freqs: Vec<Vec<f32>>,
    /// The distinct attention windows of the model's layers.
    pub(crate) windows: Vec<Option<usize>>,
    pub(crate) device: Device,
    /// Stacked member weights of batched parallel steps, built on first use; shared by clones.
    pub(crate) stacked: Arc<StackedCache>,
    pub(crate) settings: ExecSettings,
    /// How the matrices are stored.
    pub(crate) weights: WeightMode,
}

/// The name this type had when only Llama loaded.
pub type LlamaModel = DecoderModel;

impl DecoderModel {
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }
    /// How the model runs (chosen at load, see [`DecoderModel::with_settings`]).
    pub fn settings(&self) -> ExecSettings {
        self.settings
    }
    /// How the model's matrices are stored (chosen at load).
    pub fn weight_mode(&self) -> WeightMode {
        self.weights
    }
    /// Rows of `[rows, vocab]` f32 logits that fit in `bytes` (at least one): how many positions
    /// to send through the head at once when scoring many, so that the logits (1 MiB a row for
    /// Gemma-3's 262,144-token vocabulary) do not dominate the process's memory.
    pub fn logit_rows_within(&self, bytes: usize) -> usize {
        (bytes / (4 * self.config.vocab_size.max(1))).max(1)
    }
    /// The weight mode as result keys record it ([`WeightMode::key_on`] this model's device).
    pub fn weights_key(&self) -> String {
        self.weights.key_on(&self.device)
    }

    /// Bytes of every weight the model holds (matrices in their storage format, norms, biases).
    pub fn weight_bytes(&self) -> usize {
        let table = match &self.embed {
            Table::Dense(t) => t.dims().iter().product::<usize>() * t.dtype().size(),
            Table::Packed(q) => q.bytes_len(),
        };
        table
            + self.head.as_ref().map_or(0, Weight::bytes)
            + self.norm.bytes()
            + self.blocks.iter().map(DecoderBlock::bytes).sum::<usize>()
    }

    /// The model with other execution settings (results agree up to float rounding). Drops the
    /// stacked weights of batched parallel steps when their budget changes.
    pub fn with_settings(mut self, settings: ExecSettings) -> Self {
        if settings.stacked_weight_budget != self.settings.stacked_weight_budget {
            self.stacked = Default::default();
            self.stacked.set_budget(settings.stacked_weight_budget);
        }
        self.settings = ExecSettings {
            query_chunk: settings.query_chunk.map(|p| p.max(1)),
            ..settings
        };
        self
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
    /// first forward call; returns [`DecoderModel::stacked_weight_bytes`] afterwards.
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

    /// How many row groups a forward pass of `batch` rows without a KV cache runs in at once: one
    /// per rayon thread, at most one per row (1: not split). See [`ExecSettings::batch_split`].
    pub fn batch_parts(&self, batch: usize) -> usize {
        if self.settings.batch_split {
            batch.min(rayon::current_num_threads()).max(1)
        } else {
            1
        }
    }

    /// The last hidden state (before the final norm) of `input` under `plan`: embedding and
    /// blocks, without the head. Split into row groups as [`DecoderModel::batch_parts`] says when
    /// there is no cache.
    pub fn hidden_states(
        &self,
        plan: &Plan,
        input: &DecoderInput,
        cache: Option<&mut KvCache>,
        options: ExecOptions,
    ) -> Result<Tensor<3>, DecoderError> {
        let whole = |input: &DecoderInput, cache: Option<&mut KvCache>| {
            hidden_whole(self, plan, input, cache, &mut (), options)
        };
        let parts = self.batch_parts(input.batch);
        if cache.is_some() || parts <= 1 {
            return whole(input, cache);
        }
        input.check(0)?;
        in_row_groups(input, 0, input.batch, parts, &|sub| whole(sub, None))
    }

    /// [`DecoderModel::hidden_states`] of rows that each continue the one sequence cached in
    /// `prefix` (a batch-1 cache, left unchanged): several continuations scored after one shared
    /// context. Each row group runs against its own copy of the prefix, repeated per row, so the
    /// groups run at once as in [`DecoderModel::batch_parts`].
    pub fn hidden_states_after(
        &self,
        plan: &Plan,
        prefix: &KvCache,
        input: &DecoderInput,
        options: ExecOptions,
    ) -> Result<Tensor<3>, DecoderError> {
        input.check(prefix.len())?;
        if let Some(rows) = (0..prefix.num_slots())
            .filter_map(|i| prefix.slot(i))
            .map(|s| s.key().dims()[0])
            .find(|&rows| rows != 1)
        {
            return Err(DecoderError::Input(format!(
                "the prefix cache holds {rows} rows; continuations need a cache of one sequence"
            )));
        }
        let run = |sub: &DecoderInput| {
            let mut cache = prefix.repeat_batch(sub.batch);
            self.hidden_states(plan, sub, Some(&mut cache), options)
        };
        let parts = self.batch_parts(input.batch);
        if parts <= 1 {
            return run(input);
        }
        in_row_groups(input, 0, input.batch, parts, &run)
    }

    /// Logits `[b, s, vocab]` from the final norm's output, softcapped where the family says.
    ///
    /// On CPU devices with the projection split on, fewer than [`HEAD_SPLIT_ROWS`] rows meet the
    /// head in vocabulary slices, one GEMM per rayon thread at once: SmolLM2's tied 576 × 49152
    /// head took 61 ms at 128 rows as one GEMM and 46 ms in two slices (5.4 and 3.5 ms for one
    /// decoded token). Larger products thread well by themselves.
    pub fn logits(&self, normed: Tensor<3>) -> Tensor<3> {
        self.logits_with(normed, self.settings.projection_split)
    }

    /// [`DecoderModel::logits`], the vocabulary slices only when `split` (an adapted model in
    /// training keeps the head one product inside the autodiff graph).
    pub(crate) fn logits_with(&self, normed: Tensor<3>, split: bool) -> Tensor<3> {
        let [b, s, d] = normed.dims();
        let vocab = self.config.vocab_size;
        // Columns `start..start + len` of the dense `[d, vocab]` head; None when it is packed.
        let head = |start: usize, len: usize| match (&self.head, &self.embed) {
            (Some(Weight::Dense(w)), _) => Some((**w).clone().narrow(1, start, len)),
            (None, Table::Dense(e)) => Some(e.clone().narrow(0, start, len).transpose()),
            _ => None,
        };
        let packed = match (&self.head, &self.embed) {
            (Some(Weight::Packed { parts, columns }), _) => {
                Some((parts.as_slice(), columns.as_deref()))
            }
            (None, Table::Packed(q)) => Some((std::slice::from_ref(q), None)),
            _ => None,
        };
        if let Some((parts, columns)) = packed {
            return self.softcapped(packed_forward(normed, parts, columns));
        }
        let x = normed.reshape([b * s, d]);
        let parts = if split && b * s < HEAD_SPLIT_ROWS {
            rayon::current_num_threads().clamp(1, vocab.max(1))
        } else {
            1
        };
        let slice = |start: usize, len: usize| match head(start, len) {
            Some(w) => product(x.clone(), w),
            // infallible: a packed head returned above.
            None => unreachable!("dense head"),
        };
        let y = if parts <= 1 {
            slice(0, vocab)
        } else {
            use rayon::prelude::*;
            let slices: Vec<Tensor<2>> = (0..parts)
                .into_par_iter()
                .map(|i| {
                    let (start, end) = (vocab * i / parts, vocab * (i + 1) / parts);
                    slice(start, end - start)
                })
                .collect();
            Tensor::cat(slices, 1)
        };
        self.softcapped(y.reshape([b, s, vocab]))
    }

    /// The family's final-logit softcap, if any: `cap · tanh(logits / cap)`.
    fn softcapped(&self, y: Tensor<3>) -> Tensor<3> {
        match self.config.arch.final_softcap {
            Some(cap) => y.div_scalar(cap).tanh().mul_scalar(cap),
            None => y,
        }
    }

    /// The final norm.
    pub fn final_norm(&self, h: Tensor<3>) -> Tensor<3> {
        self.norm.forward(h)
    }

    fn context(&self, input: &DecoderInput, past: usize) -> DecoderContext {
        let (b, s) = (input.batch, input.seq);
        let kv = self.config.num_key_value_heads;
        let rep = self.config.num_attention_heads / kv.max(1);
        let ropes = self
            .inv_freqs
            .iter()
            .map(|f| context::rope_table(f, past, s, &self.device))
            .collect();
        let masks = self
            .windows
            .iter()
            .map(|&w| {
                let chunks = context::query_chunks(
                    input,
                    past,
                    self.settings.query_chunk,
                    w,
                    (kv, rep),
                    &self.device,
                );
                (w, chunks)
            })
            .collect();
        DecoderContext {
            ropes,
            masks,
            stacked: self.stacked.clone(),
            blocks_at: (self.blocks.as_ptr() as usize, self.blocks.len()),
            split_projections: self.settings.projection_split && b * s >= PROJECTION_SPLIT_MIN_ROWS,
            host_swiglu: self.settings.projection_split,
            adapters: None,
        }
    }
}

impl Transformer for DecoderModel {
    type Block = DecoderBlock;
    type Input = DecoderInput;
    type Error = DecoderError;

    fn blocks(&self) -> &[DecoderBlock] {
        &self.blocks
    }

    fn embed(
        &self,
        input: &DecoderInput,
        past_len: usize,
    ) -> Result<(Tensor<3>, DecoderContext), DecoderError> {
        input.check(past_len)?;
        let (b, s) = (input.batch, input.seq);
        let vocab = self.config.vocab_size;
        if let Some(&id) = input.ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(DecoderError::TokenOutOfRange { id, vocab });
        }
        let max = self.config.max_position_embeddings;
        if past_len + s > max {
            return Err(DecoderError::TooLong {
                len: past_len + s,
                max,
            });
        }
        let d = self.config.hidden_size;
        let h = match &self.embed {
            Table::Dense(e) => {
                let ids: Vec<i64> = input.ids.iter().map(|&i| i as i64).collect();
                let ids: Tensor<1, Int> =
                    Tensor::from_data(TensorData::new(ids, [b * s]), &self.device);
                as_dtype(e.clone().select(0, ids).reshape([b, s, d]), DType::F32)
            }
            Table::Packed(q) => {
                let rows: Vec<usize> = input.ids.iter().map(|&i| i as usize).collect();
                let mut out = vec![0f32; rows.len() * d];
                q.gather_rows(&rows, &mut out)
                    .map_err(|e| DecoderError::Input(format!("embedding rows: {e}")))?;
                Tensor::from_data(TensorData::new(out, [b, s, d]), &self.device)
            }
        };
        let h = match self.config.arch.embed_scale {
            Some(scale) => h.mul_scalar(scale),
            None => h,
        };
        Ok((h, self.context(input, past_len)))
    }

    fn head(&self, hidden: Tensor<3>, observer: &mut dyn Observer) -> Tensor<3> {
        let normed = self.final_norm(hidden);
        observer.observe(ObservePoint::FinalNorm, &normed);
        self.logits(normed)
    }

    /// Without a cache or an observer, the blocks run in row groups at once
    /// ([`DecoderModel::batch_parts`]); otherwise as one computation.
    fn forward_with(
        &self,
        plan: &Plan,
        input: &DecoderInput,
        cache: Option<&mut KvCache>,
        observer: &mut dyn Observer,
        options: ExecOptions,
    ) -> Result<Tensor<3>, DecoderError> {
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
    input: &DecoderInput,
    start: usize,
    rows: usize,
    parts: usize,
    f: &(dyn Fn(&DecoderInput) -> Result<Tensor<3>, DecoderError> + Sync),
) -> Result<Tensor<3>, DecoderError> {
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
