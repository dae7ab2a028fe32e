//! Running a model over token requests and collecting every residual state's statistics.

use burn::tensor::Tensor;
use painters::Plan;
use painters::exec::{HiddenStates, ObservePoint, Observer, Transformer, run};
use painters_llama::{LlamaInput, LlamaModel};
use serde::Serialize;

use crate::analysis::error::AnalysisError;
use crate::analysis::lens::{LensSample, LogitLens, read_positions};
use crate::analysis::similarity::{
    AngularRow, Similarity, SimilarityAccumulator, angular_distances, block_influence, sample_grams,
};
use crate::lm::{TokenRequest, Tokenize};

/// Axis labels of `states` states: `emb`, then `1..states-1` (the block whose output it is, 1-based).
pub fn state_labels(states: usize) -> Vec<String> {
    (0..states)
        .map(|i| {
            if i == 0 {
                "emb".to_string()
            } else {
                i.to_string()
            }
        })
        .collect()
}

/// How [`analyze_llama`] batches and reads out.
#[derive(Clone, Debug, Serialize)]
pub struct AnalysisOptions {
    /// Rows per forward pass (lm-eval's `--batch_size`; the paper used 8). The paper mode averages
    /// within a batch first, so this changes its result slightly when the last batch is short.
    pub batch_size: usize,
    /// Padding token id (lm-eval pads with 0).
    pub pad_id: u32,
    /// Sort requests by decreasing length before batching, as lm-eval does.
    pub sort_by_length: bool,
    /// Tokens kept per logit-lens read-out; 0 turns the logit lens off.
    pub top_k: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            batch_size: 8,
            pad_id: 0,
            sort_by_length: true,
            top_k: 5,
        }
    }
}

/// Everything [`analyze_llama`] measures.
#[derive(Clone, Debug, Serialize)]
pub struct LayerAnalysis {
    /// Axis labels of the states: `emb`, then the number of the block whose output it is (1..=T).
    pub labels: Vec<String>,
    pub options: AnalysisOptions,
    pub similarity: Similarity,
    /// Block counts n = 1..=T.
    pub angular: Vec<AngularRow>,
    /// BI of blocks 0..T (block i maps state i to state i+1).
    pub block_influence: Vec<f64>,
    pub logit_lens: Option<LogitLens>,
}

/// The embedding output and every step's output, in order (the final norm's output is left out).
pub fn residual_states(obs: &HiddenStates) -> Vec<Tensor<3>> {
    obs.states
        .iter()
        .filter(|(p, _)| matches!(p, ObservePoint::Embedding | ObservePoint::Step(_)))
        .map(|(_, t)| t.clone())
        .collect()
}

/// Run `model` under `plan` over `requests` (what the model reads is [`TokenRequest::input`]) and
/// analyse its residual states. The logit lens reads, for each request, the position that predicts
/// the first continuation token, and ranks that token. `progress(done, total)` is called after each
/// batch.
pub fn analyze_llama(
    model: &LlamaModel,
    plan: &Plan,
    requests: &[TokenRequest],
    tokenizer: Option<&dyn Tokenize>,
    options: &AnalysisOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<LayerAnalysis, AnalysisError> {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    if options.sort_by_length {
        // lm-eval's Collator key: (-len(tokens), tuple(tokens)).
        let toks = |i: usize| {
            let r = &requests[i];
            r.context.iter().chain(&r.continuation).copied()
        };
        order.sort_by(|&a, &b| {
            let (la, lb) = (requests[a].input_len(), requests[b].input_len());
            lb.cmp(&la).then_with(|| toks(a).cmp(toks(b)))
        });
    }
    let mut acc = SimilarityAccumulator::default();
    let mut lens_samples = Vec::new();
    let mut done = 0;
    for chunk in order.chunks(options.batch_size.max(1)) {
        let rows: Vec<Vec<u32>> = chunk.iter().map(|&i| requests[i].input()).collect();
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * seq);
        let mut mask = Vec::with_capacity(rows.len() * seq);
        for r in &rows {
            ids.extend_from_slice(r);
            ids.extend(std::iter::repeat_n(options.pad_id, seq - r.len()));
            mask.extend(std::iter::repeat_n(1u8, r.len()));
            mask.extend(std::iter::repeat_n(0u8, seq - r.len()));
        }
        // No attention mask: lm-eval calls the HF model on right-padded ids alone. Causal attention
        // keeps real positions unaffected; the padding positions' states enter the paper's mode.
        let input = LlamaInput {
            ids,
            batch: rows.len(),
            seq,
            attention_mask: None,
        };
        let mut obs = HiddenStates::default();
        let (h, ctx) = model.embed(&input, 0)?;
        let states = {
            obs.observe(ObservePoint::Embedding, &h);
            // Blocks only: the head's full-sequence logits are not needed.
            run(plan, model.blocks(), h, &ctx, None, &mut obs)
                .map_err(painters_llama::LlamaError::from)?;
            residual_states(&obs)
        };
        acc.add_batch(&sample_grams(&states, Some(&mask))?)?;
        if options.top_k > 0 {
            let mut positions = Vec::with_capacity(chunk.len());
            let mut targets = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let r = &requests[i];
                let target = *r.continuation.first().ok_or(AnalysisError::NoTarget(i))?;
                positions.push(r.context.len().saturating_sub(1));
                targets.push(target);
            }
            let readings = read_positions(model, &states, &positions, &targets, options.top_k)?;
            for ((&i, readings), (&position, &target)) in chunk
                .iter()
                .zip(readings)
                .zip(positions.iter().zip(&targets))
            {
                lens_samples.push(LensSample {
                    doc: i,
                    position,
                    target,
                    target_text: String::new(),
                    states: readings,
                });
            }
        }
        done += chunk.len();
        progress(done, requests.len());
    }
    if let Some(tok) = tokenizer {
        decode_tokens(&mut lens_samples, tok)?;
    }
    lens_samples.sort_by_key(|s| s.doc);
    let similarity = acc.finish();
    let angular = angular_distances(&similarity.last_token_angular);
    let block_influence = block_influence(&similarity.token_mean);
    Ok(LayerAnalysis {
        labels: state_labels(similarity.states),
        options: options.clone(),
        angular,
        block_influence,
        logit_lens: (options.top_k > 0)
            .then(|| LogitLens::from_samples(options.top_k, lens_samples)),
        similarity,
    })
}

/// Fill in the decoded text of every target and top token.
fn decode_tokens(samples: &mut [LensSample], tok: &dyn Tokenize) -> Result<(), AnalysisError> {
    let mut cache = std::collections::HashMap::new();
    let mut text = |id: u32| -> Result<String, AnalysisError> {
        if let Some(t) = cache.get(&id) {
            return Ok(Clone::clone(t));
        }
        let t = tok.decode(&[id])?;
        cache.insert(id, t.clone());
        Ok(t)
    };
    for s in samples {
        s.target_text = text(s.target)?;
        for r in &mut s.states {
            for t in &mut r.top {
                t.text = text(t.id)?;
            }
        }
    }
    Ok(())
}
