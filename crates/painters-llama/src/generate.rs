//! Incremental decoding under a plan: greedy or seeded sampling, with EOS and stop conditions.
//!
//! The prompt runs once through the plan with a fresh [`KvCache`]; each new token then runs alone,
//! every block occurrence reading its own slot (or the pooled slot, under `KvMode::PaperAveraged`).

use burn::tensor::Tensor;
use painters::exec::ExecOptions;
use painters::{KvCache, Plan};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::model::{
    DecoderError as LlamaError, DecoderInput as LlamaInput, DecoderModel as LlamaModel,
};

/// How the next token is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// Argmax (ties: the lowest id, as `torch.argmax`).
    Greedy,
    /// Softmax of `logits / temperature`, restricted to the `top_k` most likely tokens and then to the
    /// smallest set whose probability reaches `top_p`, drawn from ChaCha8 seeded with `seed`.
    Sample {
        temperature: f32,
        top_k: Option<usize>,
        top_p: Option<f32>,
        seed: u64,
    },
}

/// Options of [`generate`].
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    /// Generation stops after producing one of these (the EOS token is kept in the output).
    pub eos_ids: Vec<u32>,
    /// Keep each step's last-position logits (tests and analysis; costs vocab floats per step).
    pub keep_logits: bool,
    /// How the plan's steps run (e.g. parallel steps batched), for the prompt and every new token.
    pub exec: ExecOptions,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 32,
            sampling: Sampling::Greedy,
            eos_ids: Vec::new(),
            keep_logits: false,
            exec: ExecOptions::default(),
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    MaxTokens,
    Eos,
    /// The caller's stop condition (e.g. a stop string appeared in the decoded text).
    StopCondition,
}

/// The result of [`generate`].
#[derive(Clone, Debug)]
pub struct Generation {
    pub new_ids: Vec<u32>,
    /// One row of vocab logits per generated token, when asked for.
    pub step_logits: Vec<Vec<f32>>,
    pub stop: StopReason,
}

fn last_logits(logits: Tensor<3>) -> Result<Vec<f32>, LlamaError> {
    let [b, s, v] = logits.dims();
    logits
        .narrow(1, s - 1, 1)
        .reshape([b * v])
        .try_into_data()
        // A device that ran out of memory says so here (burn reports failures when data is read).
        .map_err(|e| LlamaError::Input(format!("reading logits from the device: {e}")))?
        .try_to_vec::<f32>()
        .map_err(|e| LlamaError::Input(format!("reading logits: {e:?}")))
}

/// Generate from a batch-1 `prompt` under `plan`. `stop` sees the ids generated so far after every
/// token and ends generation when it returns true (stop strings are checked there on decoded text).
pub fn generate(
    model: &LlamaModel,
    plan: &Plan,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut stop: impl FnMut(&[u32]) -> bool,
) -> Result<Generation, LlamaError> {
    if prompt.is_empty() {
        return Err(LlamaError::Input("empty prompt".into()));
    }
    let mut cache = KvCache::for_plan(plan);
    let mut rng = match opts.sampling {
        Sampling::Sample { seed, .. } => Some(ChaCha8Rng::seed_from_u64(seed)),
        Sampling::Greedy => None,
    };
    let mut out = Generation {
        new_ids: Vec::new(),
        step_logits: Vec::new(),
        stop: StopReason::MaxTokens,
    };
    let mut input = LlamaInput::new(&[prompt.to_vec()])?;
    for _ in 0..opts.max_new_tokens {
        // Only the last position goes through the head: a prompt's other positions would cost
        // `[prompt, vocab]` logits nobody reads (212 MB for a 1,078-token gsm8k prompt with
        // SmolLM2's 49,152 tokens, 1.1 GB with Gemma-3's 262,144).
        let h = model.hidden_states(plan, &input, Some(&mut cache), opts.exec)?;
        let s = h.dims()[1];
        let row = last_logits(model.logits(model.final_norm(h.narrow(1, s - 1, 1))))?;
        let next = choose(&row, opts.sampling, rng.as_mut());
        if opts.keep_logits {
            out.step_logits.push(row);
        }
        out.new_ids.push(next);
        if opts.eos_ids.contains(&next) {
            out.stop = StopReason::Eos;
            break;
        }
        if stop(&out.new_ids) {
            out.stop = StopReason::StopCondition;
            break;
        }
        input = LlamaInput::new(&[vec![next]])?;
    }
    Ok(out)
}

/// Pick the next token from one row of logits.
pub fn choose(logits: &[f32], sampling: Sampling, rng: Option<&mut ChaCha8Rng>) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if x > logits[best] {
                best = i;
            }
        }
        best as u32
    };
    let (
        Sampling::Sample {
            temperature,
            top_k,
            top_p,
            ..
        },
        Some(rng),
    ) = (sampling, rng)
    else {
        return argmax();
    };
    if temperature <= 0.0 {
        return argmax();
    }
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    // Descending by logit; stable, so ties keep the lower id first.
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if let Some(k) = top_k {
        idx.truncate(k.max(1));
    }
    let max = logits[idx[0]];
    let mut probs: Vec<f64> = idx
        .iter()
        .map(|&i| (((logits[i] - max) / temperature) as f64).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(p) = top_p {
        let mut acc = 0.0;
        let mut keep = probs.len();
        for (n, q) in probs.iter().enumerate() {
            acc += q;
            if acc >= p as f64 {
                keep = n + 1;
                break;
            }
        }
        idx.truncate(keep);
        probs.truncate(keep);
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|q| *q /= total);
    }
    // Uniform in [0, 1) from the top 53 bits.
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut acc = 0.0;
    for (n, q) in probs.iter().enumerate() {
        acc += q;
        if u < acc {
            return idx[n] as u32;
        }
    }
    idx[idx.len() - 1] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_sampling_choices() {
        let logits = [0.0, 3.0, 1.0, 3.0, -2.0];
        assert_eq!(
            choose(&logits, Sampling::Greedy, None),
            1,
            "ties go to the lowest id"
        );
        let s = |top_k, top_p, seed| Sampling::Sample {
            temperature: 1.0,
            top_k,
            top_p,
            seed,
        };
        let draw = |sampling: Sampling| {
            let Sampling::Sample { seed, .. } = sampling else {
                unreachable!()
            };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..200)
                .map(|_| choose(&logits, sampling, Some(&mut rng)))
                .collect::<Vec<_>>()
        };
        // top_k = 2 keeps only the two 3.0 logits.
        assert!(draw(s(Some(2), None, 1)).iter().all(|&t| t == 1 || t == 3));
        // top_p small keeps only the single most likely token.
        assert!(draw(s(None, Some(0.1), 2)).iter().all(|&t| t == 1));
        // Unrestricted sampling reaches the less likely tokens, and is reproducible under a seed.
        let a = draw(s(None, None, 3));
        assert!(a.contains(&2) && a.contains(&0));
        assert_eq!(a, draw(s(None, None, 3)));
        assert_ne!(a, draw(s(None, None, 4)));
    }
}
