//! Similarity between the residual states of one forward pass, in the three ways the literature
//! measures it, from one set of per-position Gram matrices.
//!
//! Every mode reduces to dot products `⟨s_a[t], s_b[t]⟩` between states `a`, `b` at one position `t`
//! of one sample ([`SampleGrams`]):
//!
//! * [`SimilarityMode::Paper`] (Figure 3 of the paper, `cos_sim_plotter.ipynb`): each state
//!   `[S, D]` of a sample is flattened to one vector of `S·D` numbers, **padding positions
//!   included**, and compared by cosine; `Σ_t ⟨s_a[t], s_b[t]⟩ / (‖s_a‖ ‖s_b‖)`. Cosines are
//!   averaged over the samples of a batch, then over batches.
//! * [`SimilarityMode::TokenMean`] (ShortGPT): the cosine at every non-padding position, averaged
//!   over all non-padding positions of all samples.
//! * [`SimilarityMode::LastToken`] (Gromov et al.): the cosine at each sample's last non-padding
//!   position, averaged over samples.

use std::f64::consts::PI;

use burn::tensor::Tensor;
use serde::Serialize;

use super::AnalysisError;

/// A square matrix of numbers, row-major as nested vectors (JSON-friendly).
pub type Matrix = Vec<Vec<f64>>;

/// Which cosine similarity to compute between states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimilarityMode {
    /// The paper's: whole sequence flattened (padding included), cosine per sample, averaged.
    Paper,
    /// Per-token cosine over non-padding positions, averaged over tokens.
    TokenMean,
    /// Cosine at each sample's last non-padding position, averaged over samples.
    LastToken,
}

impl SimilarityMode {
    pub const ALL: [SimilarityMode; 3] = [Self::Paper, Self::TokenMean, Self::LastToken];

    /// The name used on the command line and in file names: `paper`, `token-mean`, `last-token`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::TokenMean => "token-mean",
            Self::LastToken => "last-token",
        }
    }

    /// Parse [`Self::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// Torch's `cosine_similarity` epsilon, applied to each norm.
const EPS: f64 = 1e-8;

fn cos_from(dot: f64, aa: f64, bb: f64) -> f64 {
    dot / (aa.sqrt().max(EPS) * bb.sqrt().max(EPS))
}

/// The angular distance `arccos(cos) / π` ∈ [0, 1] (Gromov et al.), with `cos` clamped to [-1, 1].
pub fn angular_distance(cos: f64) -> f64 {
    cos.clamp(-1.0, 1.0).acos() / PI
}

/// Dot products between every pair of `states` states at every position of one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleGrams {
    states: usize,
    /// Per position: a real token (`true`) or padding.
    valid: Vec<bool>,
    /// `[positions][states][states]`, symmetric in the last two.
    dots: Vec<f64>,
}

impl SampleGrams {
    /// From raw dot products `[positions][states][states]` and a per-position validity mask.
    pub fn new(states: usize, valid: Vec<bool>, dots: Vec<f64>) -> Result<Self, AnalysisError> {
        if dots.len() != valid.len() * states * states {
            return Err(AnalysisError::Shape(format!(
                "{} dot products for {} positions × {states}² states",
                dots.len(),
                valid.len()
            )));
        }
        Ok(SampleGrams {
            states,
            valid,
            dots,
        })
    }

    /// Number of states compared (T+1 for a T-block model).
    pub fn states(&self) -> usize {
        self.states
    }
    /// Number of positions, padding included.
    pub fn positions(&self) -> usize {
        self.valid.len()
    }
    /// Whether position `t` is a real token.
    pub fn is_valid(&self, t: usize) -> bool {
        self.valid.get(t).copied().unwrap_or(false)
    }
    /// The last real-token position.
    pub fn last_valid(&self) -> Option<usize> {
        self.valid.iter().rposition(|&v| v)
    }
    /// `⟨s_a[t], s_b[t]⟩`.
    ///
    /// # Panics
    /// When `t`, `a` or `b` is out of range (as slice indexing does).
    pub fn dot(&self, t: usize, a: usize, b: usize) -> f64 {
        self.dots[(t * self.states + a) * self.states + b]
    }

    /// Cosine between states `a` and `b` at position `t`.
    pub fn position_cosine(&self, t: usize, a: usize, b: usize) -> f64 {
        cos_from(self.dot(t, a, b), self.dot(t, a, a), self.dot(t, b, b))
    }

    /// Cosine between the flattened states (all positions, padding included): the paper's.
    pub fn flat_cosine(&self, a: usize, b: usize) -> f64 {
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for t in 0..self.positions() {
            ab += self.dot(t, a, b);
            aa += self.dot(t, a, a);
            bb += self.dot(t, b, b);
        }
        cos_from(ab, aa, bb)
    }

    /// The sample's `(T+1)×(T+1)` matrix for `mode`: for [`SimilarityMode::TokenMean`] the mean over
    /// its real tokens. None when the mode needs a real token and the sample has none.
    pub fn matrix(&self, mode: SimilarityMode) -> Option<Matrix> {
        let n = self.states;
        let mut m = vec![vec![0.0; n]; n];
        match mode {
            SimilarityMode::Paper => fill_sym(&mut m, |a, b| self.flat_cosine(a, b)),
            SimilarityMode::LastToken => {
                let t = self.last_valid()?;
                fill_sym(&mut m, |a, b| self.position_cosine(t, a, b));
            }
            SimilarityMode::TokenMean => {
                let (sum, count) = self.token_cosine_sum();
                if count == 0 {
                    return None;
                }
                fill_sym(&mut m, |a, b| sum[a][b] / count as f64);
            }
        }
        Some(m)
    }

    /// Sum over real tokens of the per-position cosine matrix, and the number of real tokens.
    fn token_cosine_sum(&self) -> (Matrix, usize) {
        let n = self.states;
        let mut sum = vec![vec![0.0; n]; n];
        let mut count = 0;
        for t in (0..self.positions()).filter(|&t| self.valid[t]) {
            count += 1;
            for (a, b) in upper_pairs(n) {
                sum[a][b] += self.position_cosine(t, a, b);
            }
        }
        for (a, b) in upper_pairs(n) {
            sum[b][a] = sum[a][b];
        }
        (sum, count)
    }
}

fn fill_sym(m: &mut Matrix, f: impl Fn(usize, usize) -> f64) {
    for (a, b) in upper_pairs(m.len()) {
        let v = f(a, b);
        m[a][b] = v;
        m[b][a] = v;
    }
}

/// `(a, b)` with `a ≤ b < n`: the upper triangle of a symmetric matrix, diagonal included.
fn upper_pairs(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).flat_map(move |a| (a..n).map(move |b| (a, b)))
}

/// Position Gram matrices of every sample from host states: `states[k]` is state `k` as a row-major
/// `[batch, seq, d]` buffer; `mask` (`batch × seq`, 1 = real token), when given, marks padding.
/// Computed in f64.
pub fn sample_grams_host(
    states: &[&[f32]],
    batch: usize,
    seq: usize,
    d: usize,
    mask: Option<&[u8]>,
) -> Result<Vec<SampleGrams>, AnalysisError> {
    let n = states.len();
    if let Some(s) = states.iter().find(|s| s.len() != batch * seq * d) {
        return Err(AnalysisError::Shape(format!(
            "a state has {} values, expected batch {batch} × seq {seq} × d {d}",
            s.len()
        )));
    }
    check_mask(mask, batch, seq)?;
    let mut out = Vec::with_capacity(batch);
    for row in 0..batch {
        let mut dots = vec![0.0; seq * n * n];
        for t in 0..seq {
            let off = (row * seq + t) * d;
            let g = &mut dots[t * n * n..(t + 1) * n * n];
            for a in 0..n {
                let x = &states[a][off..off + d];
                for b in a..n {
                    let y = &states[b][off..off + d];
                    let dot: f64 = x
                        .iter()
                        .zip(y)
                        .map(|(&p, &q)| f64::from(p) * f64::from(q))
                        .sum();
                    g[a * n + b] = dot;
                    g[b * n + a] = dot;
                }
            }
        }
        out.push(SampleGrams::new(n, valid_row(mask, row, seq), dots)?);
    }
    Ok(out)
}

/// Position Gram matrices of every sample from device states (each `[batch, seq, d]`), computed
/// with one batched matmul on the states' device (f32 products, summed in f64 on the host later).
pub fn sample_grams(
    states: &[Tensor<3>],
    mask: Option<&[u8]>,
) -> Result<Vec<SampleGrams>, AnalysisError> {
    let Some(first) = states.first() else {
        return Err(AnalysisError::Shape("no states".into()));
    };
    let [batch, seq, d] = first.dims();
    if let Some(t) = states.iter().find(|t| t.dims() != [batch, seq, d]) {
        return Err(AnalysisError::Shape(format!(
            "states of different shapes: {:?} and {:?}",
            first.dims(),
            t.dims()
        )));
    }
    check_mask(mask, batch, seq)?;
    let n = states.len();
    // [n, b, s, d] → [b·s, n, d] → Gram [b·s, n, n].
    let x: Tensor<4> = Tensor::stack(states.to_vec(), 0);
    let x: Tensor<3> = x.permute([1, 2, 0, 3]).reshape([batch * seq, n, d]);
    let g = x.clone().matmul(x.swap_dims(1, 2));
    let v = g
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| AnalysisError::ReadBack(format!("{e:?}")))?;
    let per_sample = seq * n * n;
    (0..batch)
        .map(|row| {
            let dots = v[row * per_sample..(row + 1) * per_sample]
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            SampleGrams::new(n, valid_row(mask, row, seq), dots)
        })
        .collect()
}

fn check_mask(mask: Option<&[u8]>, batch: usize, seq: usize) -> Result<(), AnalysisError> {
    match mask {
        Some(m) if m.len() != batch * seq => Err(AnalysisError::Shape(format!(
            "mask has {} entries, expected batch {batch} × seq {seq}",
            m.len()
        ))),
        _ => Ok(()),
    }
}

fn valid_row(mask: Option<&[u8]>, row: usize, seq: usize) -> Vec<bool> {
    match mask {
        Some(m) => m[row * seq..(row + 1) * seq]
            .iter()
            .map(|&x| x != 0)
            .collect(),
        None => vec![true; seq],
    }
}

/// The similarity matrices of one batch of samples (the batch is one average for the paper mode).
pub fn cosine_matrix(
    samples: &[SampleGrams],
    mode: SimilarityMode,
) -> Result<Matrix, AnalysisError> {
    let mut acc = SimilarityAccumulator::default();
    acc.add_batch(samples)?;
    Ok(acc.finish().matrix(mode).clone())
}

/// Running sums for every mode over batches of samples; [`Self::finish`] gives the means.
#[derive(Clone, Debug, Default)]
pub struct SimilarityAccumulator {
    states: Option<usize>,
    /// Sum of per-batch mean flattened cosines, and the number of batches.
    paper: Matrix,
    batches: usize,
    /// Sum of per-token cosines over real tokens, and their number.
    token: Matrix,
    tokens: usize,
    /// Sums of last-token cosines and of their angular distances, and the number of samples.
    last: Matrix,
    last_angular: Matrix,
    last_samples: usize,
    samples: usize,
}

impl SimilarityAccumulator {
    /// Add one forward batch (the paper mode averages within it first, as the authors' notebook does).
    pub fn add_batch(&mut self, samples: &[SampleGrams]) -> Result<(), AnalysisError> {
        let Some(first) = samples.first() else {
            return Ok(());
        };
        let n = first.states();
        match self.states {
            None => {
                self.states = Some(n);
                let z = vec![vec![0.0; n]; n];
                self.paper = z.clone();
                self.token = z.clone();
                self.last = z.clone();
                self.last_angular = z;
            }
            Some(m) if m != n => {
                return Err(AnalysisError::Shape(format!(
                    "a batch has {n} states, earlier batches {m}"
                )));
            }
            Some(_) => {}
        }
        if let Some(s) = samples.iter().find(|s| s.states() != n) {
            return Err(AnalysisError::Shape(format!(
                "samples with {} and {n} states in one batch",
                s.states()
            )));
        }
        let mut batch_paper = vec![vec![0.0; n]; n];
        for s in samples {
            for (a, b) in upper_pairs(n) {
                batch_paper[a][b] += s.flat_cosine(a, b);
            }
            let (sum, count) = s.token_cosine_sum();
            self.tokens += count;
            add_into(&mut self.token, &sum);
            if let Some(t) = s.last_valid() {
                self.last_samples += 1;
                for (a, b) in upper_pairs(n) {
                    let c = s.position_cosine(t, a, b);
                    self.last[a][b] += c;
                    self.last_angular[a][b] += angular_distance(c);
                }
            }
        }
        let k = samples.len() as f64;
        for (a, b) in upper_pairs(n) {
            self.paper[a][b] += batch_paper[a][b] / k;
        }
        self.batches += 1;
        self.samples += samples.len();
        Ok(())
    }

    /// The means so far. Matrices are all zeros (0×0 before any batch) where nothing was counted.
    pub fn finish(&self) -> Similarity {
        let mean = |m: &Matrix, count: usize| {
            let mut out = m.clone();
            fill_sym(&mut out, |a, b| {
                if count == 0 {
                    0.0
                } else {
                    m[a][b] / count as f64
                }
            });
            out
        };
        Similarity {
            states: self.states.unwrap_or(0),
            samples: self.samples,
            batches: self.batches,
            tokens: self.tokens,
            paper: mean(&self.paper, self.batches),
            token_mean: mean(&self.token, self.tokens),
            last_token: mean(&self.last, self.last_samples),
            last_token_angular: mean(&self.last_angular, self.last_samples),
        }
    }
}

/// Upper triangle only (the caller symmetrises).
fn add_into(acc: &mut Matrix, x: &Matrix) {
    for (ra, rx) in acc.iter_mut().zip(x) {
        for (p, q) in ra.iter_mut().zip(rx) {
            *p += q;
        }
    }
}

/// Mean similarity matrices over a data set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Similarity {
    /// T+1: the embedding output, then every block's output (before the final norm).
    pub states: usize,
    pub samples: usize,
    pub batches: usize,
    /// Real (non-padding) tokens counted by the token-mean mode.
    pub tokens: usize,
    pub paper: Matrix,
    pub token_mean: Matrix,
    pub last_token: Matrix,
    /// Mean over samples of the last token's angular distance `arccos(cos)/π` (Gromov et al.).
    pub last_token_angular: Matrix,
}

impl Similarity {
    pub fn matrix(&self, mode: SimilarityMode) -> &Matrix {
        match mode {
            SimilarityMode::Paper => &self.paper,
            SimilarityMode::TokenMean => &self.token_mean,
            SimilarityMode::LastToken => &self.last_token,
        }
    }
}

/// Angular distances `d(x^ℓ, x^{ℓ+n})` for one block count `n` (Gromov et al.): state ℓ is the input
/// of block ℓ, so `distances[ℓ]` measures what blocks `ℓ..ℓ+n` change, and pruning them is the
/// candidate with the smallest distance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AngularRow {
    /// Number of blocks spanned.
    pub n: usize,
    /// Indexed by the first block ℓ = 0..=T−n.
    pub distances: Vec<f64>,
    /// argmin ℓ*: prune blocks ℓ*..ℓ*+n.
    pub best_start: usize,
    pub best: f64,
}

/// Every block count `n = 1..=T` from a matrix of angular distances between states (e.g.
/// [`Similarity::last_token_angular`]).
pub fn angular_distances(angular: &Matrix) -> Vec<AngularRow> {
    let states = angular.len();
    (1..states)
        .map(|n| {
            let distances: Vec<f64> = (0..states - n).map(|l| angular[l][l + n]).collect();
            let (best_start, best) =
                distances
                    .iter()
                    .copied()
                    .enumerate()
                    .fold(
                        (0, f64::INFINITY),
                        |acc, (i, d)| {
                            if d < acc.1 { (i, d) } else { acc }
                        },
                    );
            AngularRow {
                n,
                distances,
                best_start,
                best,
            }
        })
        .collect()
}

/// ShortGPT's Block Influence `BI_i = 1 − E_t[cos(x_i, x_{i+1})]` of every block `i`, from the
/// per-token mean cosine matrix of the states (state i is block i's input).
pub fn block_influence(token_mean: &Matrix) -> Vec<f64> {
    (0..token_mean.len().saturating_sub(1))
        .map(|i| 1.0 - token_mean[i][i + 1])
        .collect()
}
