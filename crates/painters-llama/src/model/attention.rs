//! Attention pieces shared by the sequential and batched block paths: rotate-half RoPE on all or
//! part of each head, causal / sliding-window query chunks, and grouped-query attention.

use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor};

/// One RoPE table of a forward call: `cos`, `sin` of shape `[1, 1, seq, rotary_dims]` for positions
/// `past_len..past_len + seq`.
#[derive(Clone, Debug)]
pub(crate) struct RopeTable {
    pub cos: Tensor<4>,
    pub sin: Tensor<4>,
}

impl RopeTable {
    /// HF `apply_rotary_pos_emb`: `x·cos + rotate_half(x)·sin` with `rotate_half(x) = [−x₂, x₁]`,
    /// on the first `rotary_dims` of each head; the rest passes through (partial rotary).
    ///
    /// # Shapes
    /// `x: [b, heads, seq, head_dim]` → the same.
    pub(crate) fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let hd = x.dims()[3];
        let rd = self.cos.dims()[3];
        if rd == hd {
            return rotate(x, &self.cos, &self.sin);
        }
        let rot = x.clone().narrow(3, 0, rd);
        let pass = x.narrow(3, rd, hd - rd);
        Tensor::cat(vec![rotate(rot, &self.cos, &self.sin), pass], 3)
    }
}

fn rotate(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let d = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, d / 2);
    let x2 = x.clone().narrow(3, d / 2, d / 2);
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
#[derive(Clone, Debug)]
pub(crate) struct QueryChunk {
    pub start: usize,
    pub len: usize,
    pub keys: usize,
    /// `[batch, kv_heads, rep·len, keys]` (queries grouped by their KV head, see
    /// [`grouped_attention`]), true where a query must not see a key; None when every query sees
    /// every key (a single new token with no padding and no window cutting its keys).
    pub mask: Option<Tensor<4, Bool>>,
}

/// How a layer scores queries against keys.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ScoreOptions {
    pub scale: f64,
    pub softcap: Option<f64>,
}

/// Attention over every chunk of `chunks`: `q: [b·r, heads, s, hd]`, `k, v: [b·r, kv, t, hd]` where
/// the chunks' masks have batch `b` and `r` (`batch_repeat`) copies of each row run side by side
/// (the members of a batched parallel step). Returns `[b·r, heads, s, hd]`.
pub(crate) fn chunked_attention(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    chunks: &[QueryChunk],
    batch_repeat: usize,
    scores: ScoreOptions,
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
        return grouped_attention(q, k, v, mask(c), scores);
    }
    let outs = chunks
        .iter()
        .map(|c| {
            grouped_attention(
                q.clone().narrow(2, c.start, c.len),
                k.clone().narrow(2, 0, c.keys),
                v.clone().narrow(2, 0, c.keys),
                mask(c),
                scores,
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
    scores: ScoreOptions,
) -> Tensor<4> {
    let [b, heads, s, hd] = q.dims();
    let kv = k.dims()[1];
    let rep = heads / kv;
    let q = if rep == 1 {
        q
    } else {
        q.reshape([b, kv, rep * s, hd])
    };
    let options = AttentionModuleOptions {
        scale: Some(scores.scale),
        softcap: scores.softcap,
        is_causal: false,
    };
    let out = attention(q, k, v, mask, None, options);
    if rep == 1 {
        out
    } else {
        out.reshape([b, heads, s, hd])
    }
}
