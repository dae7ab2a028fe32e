//! Batched parallel steps: the members of a parallel step whose branches are single blocks run as
//! one computation, the members being an extra leading axis.
//!
//! Projections are batched matmuls `[k, b·s, i] @ [k, i, o]` over the members' stacked weights; the
//! first RMSNorm's normalisation is computed once (every member sees the same input) and scaled by
//! each member's weight; attention runs on `[k·b, heads, s, hd]`. The stacked weights are built on
//! first use for each distinct member list and cached on the model
//! ([`DecoderModel::stacked_weight_bytes`](super::DecoderModel::stacked_weight_bytes) reports their size),
//! within a byte budget (by default the blocks' own weight bytes; least recently used lists are
//! dropped first, and a list that does not fit runs sequentially).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use burn::tensor::Tensor;
use painters::KvState;
use painters::exec::BlockOutput;

use super::attention::chunked_attention;
use super::block::{BlockSpec, DecoderBlock};
use super::context::DecoderContext;
use super::norm::rms_scale;

/// The weights of a member list, stacked along a new leading axis of size `k`.
pub(crate) struct Stacked {
    /// `[k, 1, d]`.
    attn_norm: Tensor<3>,
    /// `[k, d, (heads + 2·kv_heads)·head_dim]`.
    w_qkv: Tensor<3>,
    /// `[k, heads·head_dim, d]`.
    w_o: Tensor<3>,
    /// `[k, 1, d]`.
    mlp_norm: Tensor<3>,
    /// `[k, d, 2·ffn]`.
    w_gate_up: Tensor<3>,
    /// `[k, ffn, d]`.
    w_down: Tensor<3>,
    spec: BlockSpec,
    eps: f64,
    bytes: usize,
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
        let rms = |n: &super::norm::Norm| {
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

/// [`painters::Block::forward_group`] for plain Llama blocks: see the module docs. None (the executor
/// then runs the members one by one) for fewer than two members, for a block slice other than the
/// model's that built `ctx`, or for members whose pasts differ in shape.
pub(crate) fn forward_group(
    blocks: &[DecoderBlock],
    members: &[usize],
    x: &Tensor<3>,
    ctx: &DecoderContext,
    pasts: &[Option<&KvState>],
    want_kv: bool,
) -> Option<Vec<BlockOutput>> {
    let k = members.len();
    if k < 2 || pasts.len() != k || !ctx.built_for(blocks) {
        return None;
    }
    let past_dims = pasts.first()?.map(|p| (p.key().dims(), p.value().dims()));
    if pasts
        .iter()
        .any(|p| p.map(|p| (p.key().dims(), p.value().dims())) != past_dims)
    {
        return None;
    }
    let st = ctx.stacked.get_or_build(blocks, members)?;
    let BlockSpec {
        heads,
        kv_heads,
        head_dim: hd,
        ffn,
        ..
    } = st.spec;
    let eps = st.eps;
    let rope = ctx.ropes.get(st.spec.rope)?;
    let [b, s, d] = x.dims();
    let n = b * s;
    let x = x.clone().reshape([1, n, d]);
    // The members share their input, so its normalisation is computed once.
    let h = rms_scale(x.clone(), eps).mul(st.attn_norm.clone());
    let qkv = h.matmul(st.w_qkv.clone());
    let split = |start: usize, cnt: usize| {
        qkv.clone()
            .narrow(2, start * hd, cnt * hd)
            .reshape([k * b, s, cnt, hd])
            .swap_dims(1, 2)
    };
    let q = rope.apply(split(0, heads));
    let key = rope.apply(split(heads, kv_heads));
    let value = split(heads + kv_heads, kv_heads);
    let (k_all, v_all) = if past_dims.is_some() {
        let (pk, pv): (Vec<Tensor<4>>, Vec<Tensor<4>>) =
            pasts.iter().flatten().map(|p| (p.key(), p.value())).unzip();
        (
            Tensor::cat(vec![Tensor::cat(pk, 0), key.clone()], 2),
            Tensor::cat(vec![Tensor::cat(pv, 0), value.clone()], 2),
        )
    } else {
        (key.clone(), value.clone())
    };
    let ctx_out = chunked_attention(
        q,
        k_all,
        v_all,
        ctx.chunks(st.spec.window),
        k,
        st.spec.scores,
    );
    let attn = ctx_out.swap_dims(1, 2).reshape([k, n, heads * hd]);
    let x = x + attn.matmul(st.w_o.clone());
    let h = rms_scale(x.clone(), eps).mul(st.mlp_norm.clone());
    let gu = h.matmul(st.w_gate_up.clone());
    let act = super::swiglu::swiglu(
        gu.clone().narrow(2, 0, ffn),
        gu.narrow(2, ffn, ffn),
        ctx.host_swiglu,
    );
    let out = x + act.matmul(st.w_down.clone());
    Some(
        (0..k)
            .map(|i| BlockOutput {
                hidden: out.clone().narrow(0, i, 1).reshape([b, s, d]),
                kv: want_kv.then(|| {
                    KvState::new(
                        key.clone().narrow(0, i * b, b),
                        value.clone().narrow(0, i * b, b),
                    )
                }),
            })
            .collect(),
    )
}
