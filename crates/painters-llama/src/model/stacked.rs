//! The stacked weights of batched parallel steps: each member list's weights stacked along a new
//! leading axis, built on first use and cached on the model within a byte budget (by default the
//! blocks' own weight bytes; least recently used lists are dropped first, and a list that does not
//! fit runs sequentially).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use burn::tensor::Tensor;

use super::block::{BlockSpec, DecoderBlock};
use super::norm::Norm;

/// The weights of a member list, stacked along a new leading axis of size `k`.
pub(crate) struct Stacked {
    /// `[k, 1, d]`.
    pub(crate) attn_norm: Tensor<3>,
    /// `[k, d, (heads + 2·kv_heads)·head_dim]`.
    pub(crate) w_qkv: Tensor<3>,
    /// `[k, heads·head_dim, d]`.
    pub(crate) w_o: Tensor<3>,
    /// `[k, 1, d]`.
    pub(crate) mlp_norm: Tensor<3>,
    /// `[k, d, 2·ffn]`.
    pub(crate) w_gate_up: Tensor<3>,
    /// `[k, ffn, d]`.
    pub(crate) w_down: Tensor<3>,
    pub(crate) spec: BlockSpec,
    pub(crate) eps: f64,
    pub(crate) bytes: usize,
}

/// Bytes of one block's weights.
fn block_bytes(b: &DecoderBlock) -> usize {
    b.bytes()
}

impl Stacked {
    /// None when a member is out of range, is not a plain Llama block
    /// ([`DecoderBlock::is_plain`]), or the members' sizes, windows, RoPE tables or epsilons differ.
    fn build(blocks: &[DecoderBlock], members: &[usize]) -> Option<Stacked> {
        let parts: Vec<&DecoderBlock> = members
            .iter()
            .map(|&m| blocks.get(m))
            .collect::<Option<_>>()?;
        let first = parts.first()?;
        let spec = first.spec;
        let eps = first.attn_norm.rms_weight()?.1;
        let rms = |n: &Norm| {
            n.rms_weight()
                .filter(|(_, e)| *e == eps)
                .map(|(w, _)| w.clone())
        };
        if parts.iter().any(|b| b.spec != spec || !b.is_plain()) {
            return None;
        }
        let k = parts.len();
        let mat = |f: fn(&DecoderBlock) -> Option<&Tensor<2>>| -> Option<Tensor<3>> {
            let ws = parts
                .iter()
                .map(|b| f(b).cloned())
                .collect::<Option<Vec<_>>>()?;
            Some(Tensor::stack(ws, 0))
        };
        let norm = |ws: Vec<Tensor<1>>| -> Tensor<3> {
            let t: Tensor<2> = Tensor::stack(ws, 0);
            let d = t.dims()[1];
            t.reshape([k, 1, d])
        };
        let attn_norm = norm(
            parts
                .iter()
                .map(|b| rms(&b.attn_norm))
                .collect::<Option<_>>()?,
        );
        let w_qkv = mat(|b| b.qkv.dense())?;
        let w_o = mat(|b| b.o.dense())?;
        let mlp_norm = norm(
            parts
                .iter()
                .map(|b| rms(&b.mlp_norm))
                .collect::<Option<_>>()?,
        );
        let w_gate_up = mat(|b| b.up.dense())?;
        let w_down = mat(|b| b.down.dense())?;
        let bytes = [&attn_norm, &w_qkv, &w_o, &mlp_norm, &w_gate_up, &w_down]
            .iter()
            .map(|t| t.shape().num_elements() * t.dtype().size())
            .sum();
        Some(Stacked {
            attn_norm,
            w_qkv,
            w_o,
            mlp_norm,
            w_gate_up,
            w_down,
            spec,
            eps,
            bytes,
        })
    }
}

/// The stacked weights of the member lists run so far, shared by a model and its clones.
#[derive(Default)]
pub(crate) struct StackedCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Stacked weights and the tick of their last use, by member list.
    groups: HashMap<Vec<usize>, (Arc<Stacked>, u64)>,
    tick: u64,
    /// Bytes the cache may hold; None: the blocks' own weight bytes.
    budget: Option<usize>,
}

impl Inner {
    fn bytes(&self) -> usize {
        self.groups.values().map(|(s, _)| s.bytes).sum()
    }
}

impl fmt::Debug for StackedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = self.lock();
        f.debug_struct("StackedCache")
            .field("groups", &g.groups.len())
            .field("bytes", &g.bytes())
            .field("budget", &g.budget)
            .finish()
    }
}

impl StackedCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while building leaves the map unchanged; keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stacked weights of `members`, built on first use; None when they cannot be stacked or
    /// exceed the budget on their own. Least recently used lists are dropped to make room.
    pub(crate) fn get_or_build(
        &self,
        blocks: &[DecoderBlock],
        members: &[usize],
    ) -> Option<Arc<Stacked>> {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        if let Some((s, used)) = g.groups.get_mut(members) {
            *used = tick;
            return Some(s.clone());
        }
        let budget = g
            .budget
            .unwrap_or_else(|| blocks.iter().map(block_bytes).sum());
        let need: usize = members
            .iter()
            .map(|&m| blocks.get(m).map(block_bytes))
            .sum::<Option<usize>>()?;
        if need > budget {
            return None;
        }
        while g.bytes() + need > budget {
            let oldest = g
                .groups
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())?;
            g.groups.remove(&oldest);
        }
        let s = Arc::new(Stacked::build(blocks, members)?);
        g.groups.insert(members.to_vec(), (s.clone(), tick));
        Some(s)
    }

    /// Bytes held by stacked weights.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes()
    }

    /// Member lists with stacked weights.
    pub(crate) fn len(&self) -> usize {
        self.lock().groups.len()
    }

    pub(crate) fn clear(&self) {
        self.lock().groups.clear();
    }

    /// Sets the byte budget (None: the blocks' own weight bytes) and drops every cached list.
    pub(crate) fn set_budget(&self, budget: Option<usize>) {
        let mut g = self.lock();
        g.budget = budget;
        g.groups.clear();
    }
}
