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

use burn::tensor::Tensor;
use painters::KvState;
use painters::exec::BlockOutput;

use super::attention::chunked_attention;
use super::block::{BlockSpec, DecoderBlock};
use super::context::DecoderContext;
use super::norm::rms_scale;
use super::weight::product;

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
    let qkv = product(h, st.w_qkv.clone());
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
    let x = x + product(attn, st.w_o.clone());
    let h = rms_scale(x.clone(), eps).mul(st.mlp_norm.clone());
    let gu = product(h, st.w_gate_up.clone());
    let act = super::swiglu::swiglu(
        gu.clone().narrow(2, 0, ffn),
        gu.narrow(2, ffn, ffn),
        ctx.host_swiglu,
    );
    let out = x + product(act, st.w_down.clone());
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
