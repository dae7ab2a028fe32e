//! Per-position log-probabilities of prompts read in one padded forward pass: what `echo` with
//! `logprobs` returns, and the greedy next token after each prompt.
//!
//! # Shapes
//!
//! The prompts run as one right-padded batch `[rows, seq]` (causal attention: a real position
//! never sees the padding after it) to hidden states `[rows, seq, d]`. Only the positions a
//! request needs are gathered (`[n, d]`), normed and sent through the head in chunks of at most
//! [`HEAD_CHUNK`] rows and [`HEAD_CHUNK_BYTES`] of `[chunk, vocab]` logits, then log-softmaxed; what comes back to the host
//! is, per gathered position, the log-probability of the prompt's next token, the maximum and its
//! id, and the `k` largest with their ids.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use painters::Plan;
use painters::exec::ExecOptions;
use painters_bench::lm::LmError;
use painters_llama::{LlamaInput, LlamaModel};

/// Rows of hidden state sent through the head at once, at most.
pub const HEAD_CHUNK: usize = 256;

pub use painters_bench::lm::HEAD_CHUNK_BYTES;

/// What one prompt position says about the token after it.
#[derive(Clone, Debug, PartialEq)]
pub struct PositionScore {
    /// log p(prompt[p + 1] | prompt[..=p]); `None` at the last prompt position.
    pub next: Option<f32>,
    /// The most likely next token and its log-probability.
    pub best: (u32, f32),
    /// The `k` most likely next tokens, most likely first.
    pub top: Vec<(u32, f32)>,
}

/// One prompt of a scoring pass: its tokens, and which positions to score.
#[derive(Clone, Debug)]
pub struct ScoreRequest {
    pub tokens: Vec<u32>,
    /// Score every position (echo with logprobs), or only the last (the next token).
    pub all_positions: bool,
    /// How many top tokens to return per position (0: none).
    pub top_k: usize,
}

/// The scored positions of each request, in request order: every position `0..len` when
/// [`ScoreRequest::all_positions`], else only the last.
pub fn score_prompts(
    model: &LlamaModel,
    plan: &Plan,
    reqs: &[ScoreRequest],
) -> Result<Vec<Vec<PositionScore>>, LmError> {
    if reqs.iter().any(|r| r.tokens.is_empty()) {
        return Err(LmError::EmptyContext);
    }
    if reqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Vec<u32>> = reqs.iter().map(|r| r.tokens.clone()).collect();
    let input = LlamaInput::padded(&rows, 0);
    let h = model.hidden_states(plan, &input, None, ExecOptions::default())?;
    let [b, s, d] = h.dims();
    // (flat row index, target, owner, top-k) for every position asked for.
    let mut picks = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        let len = r.tokens.len();
        let first = if r.all_positions { 0 } else { len - 1 };
        for p in first..len {
            picks.push((i * s + p, r.tokens.get(p + 1).copied(), i, r.top_k));
        }
    }
    let flat = h.reshape([b * s, d]);
    let mut out: Vec<Vec<PositionScore>> = vec![Vec::new(); reqs.len()];
    let rows = model.logit_rows_within(HEAD_CHUNK_BYTES).min(HEAD_CHUNK);
    for chunk in picks.chunks(rows) {
        let scores = score_rows(model, flat.clone(), chunk)?;
        for (&(_, _, owner, _), score) in chunk.iter().zip(scores) {
            out[owner].push(score);
        }
    }
    Ok(out)
}

/// [`PositionScore`]s of the rows `picks` (flat index, target, owner, k) of `flat` (`[b·s, d]`).
fn score_rows(
    model: &LlamaModel,
    flat: Tensor<2>,
    picks: &[(usize, Option<u32>, usize, usize)],
) -> Result<Vec<PositionScore>, LmError> {
    let device = model.device();
    let n = picks.len();
    let d = flat.dims()[1];
    let idx: Vec<i64> = picks.iter().map(|p| p.0 as i64).collect();
    let idx: Tensor<1, Int> = Tensor::from_data(TensorData::new(idx, [n]), device);
    let rows = flat.select(0, idx).reshape([1, n, d]);
    let logits = model.logits(model.final_norm(rows));
    let v = logits.dims()[2];
    let logp = log_softmax(logits.reshape([n, v]), 1);
    // Targets of the last position point at token 0; their values are dropped below.
    let targets: Vec<i64> = picks.iter().map(|p| i64::from(p.1.unwrap_or(0))).collect();
    let targets: Tensor<2, Int> = Tensor::from_data(TensorData::new(targets, [n, 1]), device);
    let next = read_f32(logp.clone().gather(1, targets))?;
    let k = picks.iter().map(|p| p.3).max().unwrap_or(0).min(v);
    let (best_v, best_i) = logp.clone().max_dim_with_indices(1);
    let (best_v, best_i) = (read_f32(best_v)?, read_i64(best_i)?);
    // One top token is the maximum already read (lm-eval asks for `logprobs: 1`); a top-k
    // over the vocabulary is only run for more.
    let (top_v, top_i) = if k == 1 {
        (best_v.clone(), best_i.clone())
    } else if k > 1 {
        let (tv, ti) = logp.topk_with_indices(k, 1);
        (read_f32(tv)?, read_i64(ti)?)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(picks
        .iter()
        .enumerate()
        .map(|(j, &(_, target, _, kj))| PositionScore {
            next: target.map(|_| next[j]),
            best: (best_i[j] as u32, best_v[j]),
            top: (0..kj.min(k))
                .map(|c| (top_i[j * k + c] as u32, top_v[j * k + c]))
                .collect(),
        })
        .collect())
}

fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, LmError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| LmError::ReadBack(format!("{e:?}")))
}

fn read_i64<const D: usize>(t: Tensor<D, Int>) -> Result<Vec<i64>, LmError> {
    t.into_data()
        .try_into_vec_as::<i64>()
        .map_err(|e| LmError::ReadBack(format!("{e:?}")))
}
