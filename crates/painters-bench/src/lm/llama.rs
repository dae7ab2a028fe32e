//! [`LanguageModel`] for a Llama model run under a [`Plan`].

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};
use painters::exec::ExecOptions;
use painters::{KvCache, KvMode, Plan};
use painters_llama::generate::{GenerateOptions, Sampling, generate};
use painters_llama::{LlamaInput, LlamaModel};
use rayon::prelude::*;

use super::{LanguageModel, LmError, Scored, TextEncoding, TokenRequest, Tokenize, common_prefix};

/// A Llama model run under a plan, with a tokenizer.
pub struct LlamaLm<'a> {
    model: &'a LlamaModel,
    plan: &'a Plan,
    tokenizer: &'a dyn Tokenize,
    encoding: TextEncoding,
    max_length: usize,
    prefix: u32,
}

/// Bytes of `[rows, vocab]` f32 logits computed at once when scoring (at most `HEAD_CHUNK_ROWS`
/// rows): 32 rows for Gemma-3's 262,144-token vocabulary, 170 for SmolLM2's 49,152.
pub const HEAD_CHUNK_BYTES: usize = 32 << 20;
const HEAD_CHUNK_ROWS: usize = 512;

impl<'a> LlamaLm<'a> {
    pub fn new(model: &'a LlamaModel, plan: &'a Plan, tokenizer: &'a dyn Tokenize) -> Self {
        let c = model.config();
        let prefix = tokenizer
            .prefix_token()
            .or(c.bos_token_id)
            .or(c.eos_token_ids.first().copied())
            .unwrap_or(0);
        LlamaLm {
            model,
            plan,
            tokenizer,
            encoding: TextEncoding::for_family(c.family),
            max_length: c.max_position_embeddings,
            prefix,
        }
    }

    /// How request texts are encoded (lm-eval's rule for the model's family).
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    /// A shorter window than the model's (faster perplexity runs, tests). Larger values are capped.
    pub fn with_max_length(mut self, max_length: usize) -> Self {
        self.max_length = max_length.clamp(1, self.model.config().max_position_embeddings);
        self
    }

    /// Hidden states after the plan (before the final norm) for `input`, continuing `cache`.
    fn hidden(
        &self,
        input: &LlamaInput,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor<3>, LmError> {
        Ok(self
            .model
            .hidden_states(self.plan, input, cache, ExecOptions::default())?)
    }

    /// Log-probability of `targets[i]` at hidden row `i` (`rows: [n, d]`), and whether it is the
    /// argmax there. Only these rows go through the head: context positions never need logits.
    fn score_rows(&self, rows: Tensor<2>, targets: &[u32]) -> Result<Vec<(f32, bool)>, LmError> {
        let [n, d] = rows.dims();
        let chunk_rows = self
            .model
            .logit_rows_within(HEAD_CHUNK_BYTES)
            .min(HEAD_CHUNK_ROWS);
        let mut out = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let len = chunk_rows.min(n - start);
            let chunk = rows.clone().narrow(0, start, len).reshape([1, len, d]);
            let logits = self.model.logits(self.model.final_norm(chunk));
            let v = logits.dims()[2];
            let logp = log_softmax(logits.reshape([len, v]), 1);
            let ids: Vec<i64> = targets[start..start + len]
                .iter()
                .map(|&t| i64::from(t))
                .collect();
            let idx: Tensor<2, Int> =
                Tensor::from_data(TensorData::new(ids, [len, 1]), self.model.device());
            let picked = read_f32(logp.clone().gather(1, idx))?;
            let best = read_f32(logp.max_dim(1))?;
            // Ties count as greedy (torch's argmax would pick the lower id; ties do not occur in practice).
            out.extend(picked.into_iter().zip(best).map(|(p, b)| (p, p >= b)));
            start += len;
        }
        Ok(out)
    }

    /// Sum per request, from `(request, position score)` pairs in request order.
    fn sums(n: usize, owners: &[usize], scores: &[(f32, bool)]) -> Vec<Scored> {
        let mut out = vec![
            Scored {
                logprob: 0.0,
                greedy: true
            };
            n
        ];
        for (&r, &(lp, g)) in owners.iter().zip(scores) {
            out[r].logprob += f64::from(lp);
            out[r].greedy &= g;
        }
        out
    }

    /// The model this LM runs.
    pub fn model(&self) -> &'a LlamaModel {
        self.model
    }

    /// The plan this LM runs.
    pub fn plan(&self) -> &'a Plan {
        self.plan
    }

    /// Scores of `reqs` from the hidden state `h` (`[rows, seq, d]`, before the final norm) that
    /// the plan produced for `pass.input`: exactly the second half of
    /// [`LanguageModel::score_batch`].
    pub fn score_batch_hidden(
        &self,
        reqs: &[TokenRequest],
        pass: &BatchPass,
        h: Tensor<3>,
    ) -> Result<Vec<Scored>, LmError> {
        let [b, s, d] = h.dims();
        let (mut idx, mut targets, mut owners) = (Vec::new(), Vec::new(), Vec::new());
        for (row, &i) in pass.live.iter().enumerate() {
            for (p, t) in scored_positions(&reqs[i], row * s) {
                idx.push(p as i64);
                targets.push(t);
                owners.push(i);
            }
        }
        let n = idx.len();
        let idx: Tensor<1, Int> = Tensor::from_data(TensorData::new(idx, [n]), self.model.device());
        let rows = h.reshape([b * s, d]).select(0, idx);
        let scores = self.score_rows(rows, &targets)?;
        Ok(Self::sums(reqs.len(), &owners, &scores))
    }

    /// The passes [`LanguageModel::score_shared`] runs for `reqs`, or `None` when it falls back to
    /// [`LanguageModel::score_batch`] (no shared prefix, an empty context or continuation, or a
    /// paper-averaged plan).
    pub fn shared_pass(&self, reqs: &[TokenRequest]) -> Option<SharedPass> {
        let inputs: Vec<Vec<u32>> = reqs.iter().map(TokenRequest::input).collect();
        let shared = common_prefix(&inputs);
        // The paper-averaged cache is an approximation meant for generation; a cached prefix would
        // change log-likelihoods, so scoring under it always reads whole inputs.
        if shared == 0
            || self.plan.kv_mode() != KvMode::Exact
            || reqs
                .iter()
                .any(|r| r.continuation.is_empty() || r.context.is_empty())
        {
            return None;
        }
        let prefix = LlamaInput {
            ids: inputs[0][..shared].to_vec(),
            batch: 1,
            seq: shared,
            attention_mask: None,
        };
        // The remainders run as one padded batch against the prefix cache repeated once per row.
        let rows: Vec<usize> = (0..reqs.len())
            .filter(|&i| inputs[i].len() > shared)
            .collect();
        let rest = if rows.is_empty() {
            None
        } else {
            let rests: Vec<Vec<u32>> = rows.iter().map(|&i| inputs[i][shared..].to_vec()).collect();
            let mut input = LlamaInput::padded(&rests, 0);
            let s = input.seq;
            let mut mask = Vec::with_capacity(rests.len() * (shared + s));
            for r in &rests {
                mask.extend(std::iter::repeat_n(1u8, shared + r.len()));
                mask.extend(std::iter::repeat_n(0u8, s - r.len()));
            }
            input.attention_mask = Some(mask);
            Some(input)
        };
        Some(SharedPass {
            shared,
            rows,
            prefix,
            rest,
        })
    }

    /// Scores of `reqs` from the hidden states the plan produced for `pass.prefix` (`hp`) and, when
    /// there is one, `pass.rest` run against the prefix's cache (`hr`): exactly the second half of
    /// [`LanguageModel::score_shared`].
    pub fn score_shared_hidden(
        &self,
        reqs: &[TokenRequest],
        pass: &SharedPass,
        hp: Tensor<3>,
        hr: Option<Tensor<3>>,
    ) -> Result<Vec<Scored>, LmError> {
        let device = self.model.device();
        let d = self.model.config().hidden_size;
        let shared = pass.shared;
        let hp = hp.reshape([shared, d]);
        let (all, s) = match hr {
            Some(hr) => {
                let [r, s, _] = hr.dims();
                (Tensor::cat(vec![hp, hr.reshape([r * s, d])], 0), s)
            }
            None => (hp, 0),
        };
        let (mut idx, mut targets, mut owners) = (Vec::new(), Vec::new(), Vec::new());
        for (i, r) in reqs.iter().enumerate() {
            let row = pass.rows.iter().position(|&x| x == i).unwrap_or(0);
            for (p, t) in scored_positions(r, 0) {
                let at = if p < shared {
                    p
                } else {
                    shared + row * s + (p - shared)
                };
                idx.push(at as i64);
                targets.push(t);
                owners.push(i);
            }
        }
        let n = idx.len();
        let idx: Tensor<1, Int> = Tensor::from_data(TensorData::new(idx, [n]), device);
        let scores = self.score_rows(all.select(0, idx), &targets)?;
        Ok(Self::sums(reqs.len(), &owners, &scores))
    }
}

/// The one padded forward pass of [`LanguageModel::score_batch`]: the rows of the requests that have
/// a continuation, right-padded. Public so that a sweep can run the blocks itself (sharing a prefix of
/// the plan between schedules) and score the result with [`LlamaLm::score_batch_hidden`].
#[derive(Clone, Debug)]
pub struct BatchPass {
    live: Vec<usize>,
    /// What the model reads: one row per request with a continuation.
    pub input: LlamaInput,
}

impl BatchPass {
    /// The pass for `reqs`; `None` when no request has a continuation (nothing to run, every score
    /// is 0 and greedy).
    pub fn new(reqs: &[TokenRequest]) -> Result<Option<Self>, LmError> {
        if reqs.iter().any(|r| r.context.is_empty()) {
            return Err(LmError::EmptyContext);
        }
        let live: Vec<usize> = (0..reqs.len())
            .filter(|&i| !reqs[i].continuation.is_empty())
            .collect();
        if live.is_empty() {
            return Ok(None);
        }
        let rows: Vec<Vec<u32>> = live.iter().map(|&i| reqs[i].input()).collect();
        let input = LlamaInput::padded(&rows, 0);
        Ok(Some(BatchPass { live, input }))
    }
}

/// The two forward passes of [`LanguageModel::score_shared`]: the shared token prefix (batch 1, run
/// with a KV cache), then the remainders as one padded batch against that cache repeated per row.
#[derive(Clone, Debug)]
pub struct SharedPass {
    shared: usize,
    rows: Vec<usize>,
    /// The shared prefix, batch 1.
    pub prefix: LlamaInput,
    /// The remainders (`None` when every input is the prefix itself), masked over the cached
    /// prefix positions too; its first position is [`SharedPass::shared_len`].
    pub rest: Option<LlamaInput>,
}

impl SharedPass {
    /// Length of the shared token prefix.
    pub fn shared_len(&self) -> usize {
        self.shared
    }
}

fn read_f32<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, LmError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| LmError::ReadBack(format!("{e:?}")))
}

/// Flat indices `base + p` of the positions that predict `r`'s continuation, and those targets.
fn scored_positions(r: &TokenRequest, base: usize) -> impl Iterator<Item = (usize, u32)> + '_ {
    let start = r.context.len() - 1;
    r.continuation
        .iter()
        .enumerate()
        .map(move |(i, &t)| (base + start + i, t))
}

impl LanguageModel for LlamaLm<'_> {
    fn max_length(&self) -> usize {
        self.max_length
    }
    fn prefix_token(&self) -> u32 {
        self.prefix
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        self.encoding.encode(self.tokenizer, text)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        self.tokenizer.decode(ids)
    }

    fn score_batch(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        let Some(pass) = BatchPass::new(reqs)? else {
            return Ok(Self::sums(reqs.len(), &[], &[]));
        };
        let h = self.hidden(&pass.input, None)?;
        self.score_batch_hidden(reqs, &pass, h)
    }

    fn score_shared(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        let Some(pass) = self.shared_pass(reqs) else {
            return self.score_batch(reqs);
        };
        let mut cache = KvCache::for_plan(self.plan);
        let hp = self.hidden(&pass.prefix, Some(&mut cache))?;
        let hr = match &pass.rest {
            Some(rest) => Some(self.model.hidden_states_after(
                self.plan,
                &cache,
                rest,
                ExecOptions::default(),
            )?),
            None => None,
        };
        self.score_shared_hidden(reqs, &pass, hp, hr)
    }

    /// The groups run at once on rayon's threads: each is a batch-1 prefix plus a few short
    /// continuations, too small to keep 2 cores busy alone.
    fn score_shared_many(&self, groups: &[Vec<TokenRequest>]) -> Vec<Result<Vec<Scored>, LmError>> {
        if self.model.batch_parts(groups.len()) <= 1 {
            return groups.iter().map(|g| self.score_shared(g)).collect();
        }
        groups.par_iter().map(|g| self.score_shared(g)).collect()
    }

    fn generate(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        stop: &mut dyn FnMut(&[u32]) -> bool,
    ) -> Result<Vec<u32>, LmError> {
        if max_new_tokens == 0 {
            return Ok(Vec::new());
        }
        let opts = GenerateOptions {
            max_new_tokens,
            sampling: Sampling::Greedy,
            eos_ids: self.model.config().eos_token_ids.clone(),
            keep_logits: false,
            ..Default::default()
        };
        let mut g = generate(self.model, self.plan, prompt, &opts, |ids| stop(ids))?;
        if g.new_ids.last().is_some_and(|t| opts.eos_ids.contains(t)) {
            g.new_ids.pop();
        }
        Ok(g.new_ids)
    }
}
