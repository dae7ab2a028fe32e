//! KV caches for incremental decoding: one slot per executed block occurrence.
//!
//! Slots are indexed by the plan's execution order, not by block index, because a block that runs
//! twice (repeated, looped, or in two branches) sees different inputs each time and so produces
//! different keys and values each time. Sharing a slot between occurrences is the classic silent bug
//! of `model.layers = [...]` hacks.

use burn::tensor::Tensor;

use crate::plan::{KvMode, Plan};

/// Keys and values of one attention layer, laid out `[batch, kv_heads, seq, head_dim]`.
///
/// The core only appends along the sequence axis (dim 2) and averages; the layout of the other axes
/// is the adapter's business.
#[derive(Clone, Debug)]
pub struct KvState {
    pub key: Tensor<4>,
    pub value: Tensor<4>,
}

impl KvState {
    /// Number of cached positions.
    pub fn seq_len(&self) -> usize {
        self.key.dims()[2]
    }

    /// `self` followed by `new` along the sequence axis.
    pub fn append(self, new: KvState) -> KvState {
        KvState {
            key: Tensor::cat(vec![self.key, new.key], 2),
            value: Tensor::cat(vec![self.value, new.value], 2),
        }
    }

    /// Element-wise mean of several states of equal shape (the paper-averaged cache's pooling).
    /// Summed in the given order, divided once. Returns None for an empty list.
    pub fn mean(states: Vec<KvState>) -> Option<KvState> {
        let n = states.len();
        let mut it = states.into_iter();
        let first = it.next()?;
        let (k, v) = it.fold((first.key, first.value), |(k, v), s| {
            (k + s.key, v + s.value)
        });
        Some(KvState {
            key: k.div_scalar(n as f32),
            value: v.div_scalar(n as f32),
        })
    }
}

/// The per-slot caches of one plan, for one batch of sequences.
#[derive(Clone, Debug)]
pub struct KvCache {
    slots: Vec<Option<KvState>>,
    mode: KvMode,
    len: usize,
}

impl KvCache {
    /// An empty cache with the plan's slot count and KV mode.
    pub fn for_plan(plan: &Plan) -> Self {
        KvCache {
            slots: vec![None; plan.stats().cache_slots],
            mode: plan.kv_mode(),
            len: 0,
        }
    }

    /// Positions already processed (the next token's position).
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn num_slots(&self) -> usize {
        self.slots.len()
    }
    pub fn mode(&self) -> KvMode {
        self.mode
    }
    /// The cached keys/values of a slot (None before the first token, or for a slot id out of range).
    pub fn slot(&self, id: usize) -> Option<&KvState> {
        self.slots.get(id).and_then(Option::as_ref)
    }

    pub(crate) fn append(&mut self, id: usize, new: KvState) {
        if let Some(slot) = self.slots.get_mut(id) {
            *slot = Some(match slot.take() {
                Some(old) => old.append(new),
                None => new,
            });
        }
    }

    pub(crate) fn advance(&mut self, positions: usize) {
        self.len += positions;
    }
}
