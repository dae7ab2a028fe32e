//! The logit lens (nostalgebraist 2020): every intermediate residual state read out through the
//! model's own final norm and LM head, as if the network ended there.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use painters_llama::LlamaModel;
use serde::Serialize;

use super::AnalysisError;

/// What turns a residual state into logits: the final norm and the LM head.
pub trait ReadOut {
    /// Logits `[b, s, vocab]` of residual states `[b, s, d]`.
    fn read_out(&self, hidden: Tensor<3>) -> Tensor<3>;
}

impl ReadOut for LlamaModel {
    fn read_out(&self, hidden: Tensor<3>) -> Tensor<3> {
        self.logits(self.final_norm(hidden))
    }
}

/// One candidate token of a read-out.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopToken {
    pub id: u32,
    /// The decoded token (empty when no tokenizer was given).
    pub text: String,
    pub logprob: f64,
}

/// One state's read-out at one sample's prediction position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LensReading {
    /// 1-based rank of the target among the vocabulary (1 = top prediction; ties rank in its favour).
    pub rank: usize,
    pub target_logprob: f64,
    pub top: Vec<TopToken>,
}

/// The read-outs of every state for one sample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LensSample {
    /// The sample's index in the analysed data set.
    pub doc: usize,
    /// The position read (the one that predicts `target`).
    pub position: usize,
    pub target: u32,
    pub target_text: String,
    /// Indexed by state (0 = embedding output).
    pub states: Vec<LensReading>,
}

/// Per-state summary over samples.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LensSummary {
    pub state: usize,
    /// Fraction of samples whose target is the top-1 read-out.
    pub top1: f64,
    /// Fraction whose target is among the top k.
    pub topk: f64,
    pub median_rank: f64,
    /// Mean of 1/rank.
    pub mrr: f64,
    pub mean_target_logprob: f64,
}

/// The logit lens over a data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogitLens {
    pub k: usize,
    pub summary: Vec<LensSummary>,
    pub samples: Vec<LensSample>,
}

impl LogitLens {
    /// Per-state summaries of `samples` (which must all have the same number of states).
    pub fn from_samples(k: usize, samples: Vec<LensSample>) -> Self {
        let states = samples.first().map_or(0, |s| s.states.len());
        let summary = (0..states)
            .map(|state| {
                let readings: Vec<&LensReading> =
                    samples.iter().filter_map(|s| s.states.get(state)).collect();
                let n = readings.len().max(1) as f64;
                let mut ranks: Vec<usize> = readings.iter().map(|r| r.rank).collect();
                ranks.sort_unstable();
                let median_rank = match ranks.len() {
                    0 => f64::NAN,
                    l if l.is_multiple_of(2) => (ranks[l / 2 - 1] + ranks[l / 2]) as f64 / 2.0,
                    l => ranks[l / 2] as f64,
                };
                LensSummary {
                    state,
                    top1: readings.iter().filter(|r| r.rank == 1).count() as f64 / n,
                    topk: readings.iter().filter(|r| r.rank <= k).count() as f64 / n,
                    median_rank,
                    mrr: readings.iter().map(|r| 1.0 / r.rank as f64).sum::<f64>() / n,
                    mean_target_logprob: readings.iter().map(|r| r.target_logprob).sum::<f64>() / n,
                }
            })
            .collect();
        LogitLens {
            k,
            summary,
            samples,
        }
    }
}

/// Read out `states` (each `[batch, seq, d]`) at one position per row: `positions[b]` for row `b`,
/// scored against `targets[b]`. Returns, per row, one reading per state (tokens not yet decoded).
pub fn read_positions(
    head: &dyn ReadOut,
    states: &[Tensor<3>],
    positions: &[usize],
    targets: &[u32],
    k: usize,
) -> Result<Vec<Vec<LensReading>>, AnalysisError> {
    let Some(first) = states.first() else {
        return Ok(Vec::new());
    };
    let [batch, seq, d] = first.dims();
    if positions.len() != batch || targets.len() != batch {
        return Err(AnalysisError::Shape(format!(
            "{} positions and {} targets for a batch of {batch}",
            positions.len(),
            targets.len()
        )));
    }
    if let Some(&p) = positions.iter().find(|&&p| p >= seq) {
        return Err(AnalysisError::Shape(format!(
            "position {p} is outside a sequence of {seq}"
        )));
    }
    let device = first.device();
    let idx: Vec<i64> = positions
        .iter()
        .enumerate()
        .map(|(b, &p)| (b * seq + p) as i64)
        .collect();
    let idx: Tensor<1, Int> = Tensor::from_data(TensorData::new(idx, [batch]), &device);
    // Rows of every state, state-major: [n·batch, d].
    let rows: Vec<Tensor<2>> = states
        .iter()
        .map(|s| s.clone().reshape([batch * seq, d]).select(0, idx.clone()))
        .collect();
    let n = rows.len();
    let rows = Tensor::cat(rows, 0).reshape([1, n * batch, d]);
    let logits = head.read_out(rows);
    let vocab = logits.dims()[2];
    let logp = log_softmax(logits.reshape([n * batch, vocab]), 1);
    let tgt: Vec<i64> = (0..n)
        .flat_map(|_| targets.iter().map(|&t| i64::from(t)))
        .collect();
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= vocab) {
        return Err(AnalysisError::Shape(format!(
            "target token {t} is outside the vocabulary ({vocab})"
        )));
    }
    let tgt: Tensor<2, Int> = Tensor::from_data(TensorData::new(tgt, [n * batch, 1]), &device);
    let target_lp = logp.clone().gather(1, tgt);
    let above = logp
        .clone()
        .greater(target_lp.clone().expand([n * batch, vocab]))
        .int()
        .sum_dim(1);
    let k = k.clamp(1, vocab);
    let (top_v, top_i) = logp.topk_with_indices(k, 1);
    let target_lp = read_f32(target_lp)?;
    let above = read_i64(above)?;
    let top_v = read_f32(top_v)?;
    let top_i = read_i64(top_i)?;
    let mut out = vec![Vec::with_capacity(n); batch];
    for s in 0..n {
        for (b, row) in out.iter_mut().enumerate() {
            let r = s * batch + b;
            row.push(LensReading {
                rank: above[r].max(0) as usize + 1,
                target_logprob: f64::from(target_lp[r]),
                top: (0..k)
                    .map(|j| TopToken {
                        id: top_i[r * k + j].max(0) as u32,
                        text: String::new(),
                        logprob: f64::from(top_v[r * k + j]),
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, AnalysisError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| AnalysisError::ReadBack(format!("{e:?}")))
}

fn read_i64<const D: usize>(t: Tensor<D, Int>) -> Result<Vec<i64>, AnalysisError> {
    t.into_data()
        .try_into_vec_as::<i64>()
        .map_err(|e| AnalysisError::ReadBack(format!("{e:?}")))
}
