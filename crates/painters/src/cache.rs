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
///
/// A state grown by [`KvState::append`] keeps spare room past its last position (its *capacity*),
/// grown geometrically, and appends into that room in place: decoding `n` tokens copies each cached
/// position O(1) times on average instead of once per new token, which re-copying the whole cache
/// with `cat` at every step would cost (O(n²) bytes moved). [`KvState::key`] and [`KvState::value`]
/// are views of the filled part.
#[derive(Clone, Debug)]
pub struct KvState {
    key: Tensor<4>,
    value: Tensor<4>,
    /// Filled positions along dim 2; `key.dims()[2]` is the capacity.
    len: usize,
}

/// Spare room added when a state must grow: half its length, and at least this many positions.
const MIN_GROWTH: usize = 16;

impl KvState {
    /// A state holding exactly `key` and `value` (equal shapes `[batch, kv_heads, seq, head_dim]`).
    pub fn new(key: Tensor<4>, value: Tensor<4>) -> Self {
        let len = key.dims()[2];
        KvState { key, value, len }
    }

    /// The cached keys, `[batch, kv_heads, seq_len, head_dim]` (a view; no copy).
    pub fn key(&self) -> Tensor<4> {
        Self::filled(&self.key, self.len)
    }

    /// The cached values, `[batch, kv_heads, seq_len, head_dim]` (a view; no copy).
    pub fn value(&self) -> Tensor<4> {
        Self::filled(&self.value, self.len)
    }

    fn filled(t: &Tensor<4>, len: usize) -> Tensor<4> {
        if t.dims()[2] == len {
            t.clone()
        } else {
            t.clone().narrow(2, 0, len)
        }
    }

    /// Number of cached positions.
    pub fn seq_len(&self) -> usize {
        self.len
    }

    /// Positions the state can hold before its next reallocation.
    pub fn capacity(&self) -> usize {
        self.key.dims()[2]
    }

    /// `self` followed by `new` along the sequence axis.
    ///
    /// Writes into the spare capacity in place when this state is the only owner of its buffers (a
    /// cache slot is, unless the cache was cloned: then the buffer is copied first, as burn's tensors
    /// are values). When the room runs out, the buffers are reallocated with half again as many
    /// positions (at least 16 more), so appends cost amortised O(new positions).
    pub fn append(self, new: KvState) -> KvState {
        let (old, add) = (self.len, new.len);
        if add == 0 {
            return self;
        }
        let need = old + add;
        let (mut key, mut value) = (self.key, self.value);
        if need > key.dims()[2] {
            let cap = need.max(old + old / 2).max(old + MIN_GROWTH);
            key = Self::regrow(key, old, cap);
            value = Self::regrow(value, old, cap);
        }
        key = Self::write_at(key, old, new.key());
        value = Self::write_at(value, old, new.value());
        KvState {
            key,
            value,
            len: need,
        }
    }

    /// A buffer of `cap` positions holding the first `len` positions of `t`.
    fn regrow(t: Tensor<4>, len: usize, cap: usize) -> Tensor<4> {
        let [b, h, _, d] = t.dims();
        let buf = Tensor::zeros([b, h, cap, d], &t.device());
        if len == 0 {
            return buf;
        }
        Self::write_at(buf, 0, t.narrow(2, 0, len))
    }

    /// `buf` with `part` written at sequence positions `at..at + part.len` (in place when `buf` is
    /// uniquely owned).
    fn write_at(buf: Tensor<4>, at: usize, part: Tensor<4>) -> Tensor<4> {
        let [b, h, n, d] = part.dims();
        buf.slice_assign([0..b, 0..h, at..at + n, 0..d], part)
    }

    /// The state with its whole batch tiled `rows` times along the batch axis (`[batch·rows, …]`;
    /// for batch 1, `rows` copies of the one row): shared-prefix scoring runs several continuations
    /// after one cached context this way. The copy is exact-size.
    pub fn repeat_batch(&self, rows: usize) -> KvState {
        KvState::new(
            self.key().repeat_dim(0, rows),
            self.value().repeat_dim(0, rows),
        )
    }

    /// Element-wise mean of several states of equal shape (the paper-averaged cache's pooling).
    /// Summed in the given order, divided once. Returns None for an empty list.
    pub fn mean(states: Vec<KvState>) -> Option<KvState> {
        let n = states.len();
        let mut it = states.into_iter();
        let first = it.next()?;
        let (k, v) = it.fold((first.key(), first.value()), |(k, v), s| {
            (k + s.key(), v + s.value())
        });
        Some(KvState::new(k.div_scalar(n as f32), v.div_scalar(n as f32)))
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

    /// The cache with every slot's batch rows repeated `rows` times (see [`KvState::repeat_batch`]).
    pub fn repeat_batch(&self, rows: usize) -> KvCache {
        KvCache {
            slots: self
                .slots
                .iter()
                .map(|s| s.as_ref().map(|s| s.repeat_batch(rows)))
                .collect(),
            mode: self.mode,
            len: self.len,
        }
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

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn positions(b: usize, from: usize, n: usize) -> Tensor<4> {
        // [b, 2 heads, n, 3]: every entry encodes (row, head, position, lane).
        let mut v = Vec::new();
        for r in 0..b {
            for h in 0..2 {
                for p in from..from + n {
                    for l in 0..3 {
                        v.push((r * 1000 + h * 100 + p * 10 + l) as f32);
                    }
                }
            }
        }
        Tensor::from_data(TensorData::new(v, [b, 2, n, 3]), &Device::flex())
    }

    fn state(b: usize, from: usize, n: usize) -> KvState {
        KvState::new(positions(b, from, n), positions(b, from, n).neg())
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap_or_default()
    }

    #[test]
    fn appends_equal_concatenation_and_grow_geometrically() {
        let mut s = state(2, 0, 3);
        let mut capacities = vec![s.capacity()];
        for p in 3..200 {
            s = s.append(state(2, p, 1));
            assert!(s.capacity() >= s.seq_len());
            if capacities.last() != Some(&s.capacity()) {
                capacities.push(s.capacity());
            }
        }
        assert_eq!(s.seq_len(), 200);
        assert_eq!(s.key().dims(), [2, 2, 200, 3]);
        assert_eq!(values(s.key()), values(positions(2, 0, 200)));
        assert_eq!(values(s.value()), values(positions(2, 0, 200).neg()));
        // 197 one-token appends reallocate only a handful of times (1.5× growth), not 197.
        assert!(capacities.len() <= 10, "{capacities:?}");
        // A multi-token append larger than the spare room.
        let s = s.append(state(2, 200, 150));
        assert_eq!(values(s.key()), values(positions(2, 0, 350)));
    }

    #[test]
    fn a_clone_keeps_its_contents_when_the_original_grows_in_place() {
        let mut s = state(1, 0, 4);
        s = s.append(state(1, 4, 1)); // now with spare room
        let before = s.clone();
        assert!(s.capacity() > s.seq_len());
        let s = s.append(state(1, 5, 1));
        assert_eq!(before.seq_len(), 5);
        assert_eq!(values(before.key()), values(positions(1, 0, 5)));
        assert_eq!(values(s.key()), values(positions(1, 0, 6)));
        // A view read before an append also keeps what it saw.
        let view = s.key();
        let s = s.append(state(1, 6, 1));
        assert_eq!(values(view), values(positions(1, 0, 6)));
        assert_eq!(s.seq_len(), 7);
    }

    #[test]
    fn repeat_batch_and_mean() {
        let s = state(1, 0, 2).append(state(1, 2, 1));
        let r = s.repeat_batch(3);
        assert_eq!(r.key().dims(), [3, 2, 3, 3]);
        assert_eq!(r.capacity(), 3);
        let one = values(s.key());
        assert_eq!(values(r.key()), [one.clone(), one.clone(), one].concat());
        let m = KvState::mean(vec![state(1, 0, 2), state(1, 0, 2).append(state(1, 2, 0))])
            .map(|m| values(m.key()));
        assert_eq!(m, Some(values(positions(1, 0, 2))));
        assert!(KvState::mean(Vec::new()).is_none());
    }
}
