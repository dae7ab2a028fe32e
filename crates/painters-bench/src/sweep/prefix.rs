//! Shared-prefix reuse: schedules that begin with the same steps compute those steps once.
//!
//! All of the paper's variants at start layer N begin with blocks `0..=N`, and the full model begins
//! with every variant's first part. A [`PrefixGroup`] holds several schedules (its *members*) as a
//! trie of their top-level steps: every edge is the plan of the steps between two branch points.
//! Each forward pass that one member's evaluation asks for (a padded scoring batch, or the two passes
//! of a shared-question batch) is run once through the trie, depth first: the embedding, then every
//! edge once, each member scored where its schedule ends. The scores of the members that are still to
//! be evaluated are kept (a few numbers per request) and handed out when their evaluation issues the
//! same call, so the group's members are evaluated one after the other, each by the unchanged
//! [`evaluate_task`](crate::eval::evaluate_task), and every one of them sees exactly the numbers of a
//! run on its own: the same ops on the same inputs in the same order.
//!
//! Memory is the trie's live hidden states (one per open branch point of the depth-first walk) plus
//! the kept scores; no hidden state outlives the call that made it. Keys of kept scores are the
//! sha256 of the call's kind and token rows, so an answer is only ever reused for the identical call
//! (a call that finds nothing computes it: a miss costs time, never a wrong score).
//!
//! Greedy generation (gsm8k) is not shared: each member generates with its own plan.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use burn::tensor::Tensor;
use painters::exec::{Transformer, run};
use painters::{KvCache, KvMode, LayerSchedule, Plan};
use painters_llama::LlamaModel;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::SweepError;
use crate::lm::{
    BatchPass, LanguageModel, LlamaLm, LmError, Scored, SharedPass, TokenRequest, Tokenize,
};

/// Block applications done versus what running every schedule from scratch would have needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReuseStats {
    /// Forward passes run through a group's trie: one per scoring call (two for a shared-question
    /// call), each serving every member still to be evaluated.
    pub passes: u64,
    /// Block applications run, one per block per pass.
    pub block_applications: u64,
    /// Block applications the same passes would have needed with every member run on its own.
    pub block_applications_scratch: u64,
    /// The same, weighted by the pass's padded token count (rows × positions): compute, roughly.
    pub token_block_applications: u64,
    pub token_block_applications_scratch: u64,
}

impl ReuseStats {
    pub fn add(&mut self, o: &ReuseStats) {
        self.passes += o.passes;
        self.block_applications += o.block_applications;
        self.block_applications_scratch += o.block_applications_scratch;
        self.token_block_applications += o.token_block_applications;
        self.token_block_applications_scratch += o.token_block_applications_scratch;
    }
    /// Block applications saved.
    pub fn saved(&self) -> u64 {
        self.block_applications_scratch
            .saturating_sub(self.block_applications)
    }
    /// Saved fraction of the token-weighted block applications (0 when nothing ran).
    pub fn saved_fraction(&self) -> f64 {
        if self.token_block_applications_scratch == 0 {
            return 0.0;
        }
        1.0 - self.token_block_applications as f64 / self.token_block_applications_scratch as f64
    }
}

/// sha256 of a call's kind and tokens.
type CallKey = [u8; 32];
/// Per member, the kept answers of one call (in the order the calls were made).
type MemberQueues = Vec<VecDeque<Vec<Scored>>>;

/// One node of the trie: reached by running `edge` from the parent's hidden state.
struct Node {
    /// `None` at the root (the embedding output).
    edge: Option<Plan>,
    /// Block applications of `edge`.
    apps: u64,
    /// Members whose schedule ends here.
    ends: Vec<usize>,
    children: Vec<usize>,
    /// Members whose schedule ends here or below.
    below: Vec<usize>,
}

/// Several schedules of one model evaluated together with their common prefixes computed once.
pub struct PrefixGroup<'a> {
    model: &'a LlamaModel,
    tokenizer: &'a dyn Tokenize,
    plans: Vec<Plan>,
    nodes: Vec<Node>,
    kept: RefCell<HashMap<CallKey, MemberQueues>>,
    stats: RefCell<ReuseStats>,
}

/// The uncompressed trie, one step per node.
struct RawNode {
    step: Option<LayerSchedule>,
    children: Vec<usize>,
    ends: Vec<usize>,
}

impl<'a> PrefixGroup<'a> {
    /// A group of `schedules` (exact KV mode) on `model`.
    pub fn new(
        model: &'a LlamaModel,
        tokenizer: &'a dyn Tokenize,
        schedules: &[LayerSchedule],
    ) -> Result<Self, SweepError> {
        let layers = model.num_blocks();
        let plans = schedules
            .iter()
            .map(|s| Plan::compile(s, layers, KvMode::Exact))
            .collect::<Result<Vec<_>, _>>()?;
        let mut raw = vec![RawNode {
            step: None,
            children: Vec::new(),
            ends: Vec::new(),
        }];
        for (m, s) in schedules.iter().enumerate() {
            let mut at = 0;
            for step in s.steps() {
                let found = raw[at]
                    .children
                    .iter()
                    .copied()
                    .find(|&c| raw[c].step.as_ref() == Some(step));
                at = match found {
                    Some(c) => c,
                    None => {
                        raw.push(RawNode {
                            step: Some(step.clone()),
                            children: Vec::new(),
                            ends: Vec::new(),
                        });
                        let c = raw.len() - 1;
                        raw[at].children.push(c);
                        c
                    }
                };
            }
            raw[at].ends.push(m);
        }
        let mut group = PrefixGroup {
            model,
            tokenizer,
            plans,
            nodes: vec![Node {
                edge: None,
                apps: 0,
                ends: raw[0].ends.clone(),
                children: Vec::new(),
                below: Vec::new(),
            }],
            kept: RefCell::new(HashMap::new()),
            stats: RefCell::new(ReuseStats::default()),
        };
        group.compress(&raw, 0, 0, layers)?;
        group.fill_below(0);
        Ok(group)
    }

    /// Turn the raw node `r`'s subtree into compressed nodes under `into`: every chain of steps
    /// without a branch or a member's end becomes one edge.
    fn compress(
        &mut self,
        raw: &[RawNode],
        r: usize,
        into: usize,
        layers: usize,
    ) -> Result<(), SweepError> {
        for &c in &raw[r].children {
            let mut steps = Vec::new();
            let mut at = c;
            loop {
                steps.extend(raw[at].step.clone());
                if raw[at].children.len() == 1 && raw[at].ends.is_empty() {
                    at = raw[at].children[0];
                } else {
                    break;
                }
            }
            let plan = Plan::compile(&LayerSchedule::seq(steps), layers, KvMode::Exact)?;
            self.nodes.push(Node {
                apps: plan.stats().block_applications as u64,
                edge: Some(plan),
                ends: raw[at].ends.clone(),
                children: Vec::new(),
                below: Vec::new(),
            });
            let id = self.nodes.len() - 1;
            self.nodes[into].children.push(id);
            self.compress(raw, at, id, layers)?;
        }
        Ok(())
    }

    fn fill_below(&mut self, n: usize) -> Vec<usize> {
        let mut below = self.nodes[n].ends.clone();
        for c in self.nodes[n].children.clone() {
            below.extend(self.fill_below(c));
        }
        self.nodes[n].below = below.clone();
        below
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.plans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// Block applications of one pass for every member: through the trie, and from scratch.
    pub fn pass_cost(&self) -> (u64, u64) {
        let trie = self.nodes.iter().map(|n| n.apps).sum();
        let scratch = self
            .plans
            .iter()
            .map(|p| p.stats().block_applications as u64)
            .sum();
        (trie, scratch)
    }

    /// The reuse counted so far.
    pub fn stats(&self) -> ReuseStats {
        *self.stats.borrow()
    }

    /// The language model of member `index`. Evaluate members in index order: a member's calls
    /// compute the answers of every later member too.
    pub fn member(&self, index: usize) -> MemberLm<'_> {
        MemberLm {
            group: self,
            index,
            lm: LlamaLm::new(self.model, &self.plans[index], self.tokenizer),
        }
    }

    /// Members `from..` that end at or below node `n`.
    fn wanted(&self, n: usize, from: usize) -> bool {
        self.nodes[n].below.iter().any(|&m| m >= from)
    }

    /// Count one pass of `tokens` padded positions for members `from..`, walking only the edges
    /// that lead to them.
    fn count(&self, tokens: u64, from: usize) {
        let done: u64 = (0..self.nodes.len())
            .filter(|&n| self.wanted(n, from))
            .map(|n| self.nodes[n].apps)
            .sum();
        let scratch: u64 = self.plans[from..]
            .iter()
            .map(|p| p.stats().block_applications as u64)
            .sum();
        let mut s = self.stats.borrow_mut();
        s.passes += 1;
        s.block_applications += done;
        s.block_applications_scratch += scratch;
        s.token_block_applications += done * tokens;
        s.token_block_applications_scratch += scratch * tokens;
    }

    /// Take the kept answer of `member` for the call `key`.
    fn take(&self, key: &CallKey, member: usize) -> Option<Vec<Scored>> {
        let mut kept = self.kept.borrow_mut();
        let queues = kept.get_mut(key)?;
        let got = queues.get_mut(member)?.pop_front();
        if queues.iter().all(VecDeque::is_empty) {
            kept.remove(key);
        }
        got
    }

    /// Keep `answers` (member → scores) of the members after `from`, return `from`'s.
    fn keep(
        &self,
        key: CallKey,
        from: usize,
        answers: Vec<(usize, Vec<Scored>)>,
    ) -> Option<Vec<Scored>> {
        let mut own = None;
        let mut kept = self.kept.borrow_mut();
        let queues = kept
            .entry(key)
            .or_insert_with(|| vec![VecDeque::new(); self.plans.len()]);
        for (m, scores) in answers {
            if m == from {
                own = Some(scores);
            } else {
                queues[m].push_back(scores);
            }
        }
        if queues.iter().all(VecDeque::is_empty) {
            kept.remove(&key);
        }
        own
    }

    /// One padded batch through the trie for members `from..`.
    fn batch(
        &self,
        scorer: &LlamaLm,
        reqs: &[TokenRequest],
        pass: &BatchPass,
        from: usize,
    ) -> Result<Vec<(usize, Vec<Scored>)>, LmError> {
        let (h, ctx) = self.model.embed(&pass.input, 0)?;
        self.count((pass.input.batch * pass.input.seq) as u64, from);
        // Depth first; a node's edge runs when the node is taken off the stack, so only the
        // inputs of pending siblings (their parent's output) stay alive.
        let mut out = Vec::new();
        let mut stack = vec![(0usize, h)];
        while let Some((n, h)) = stack.pop() {
            let node = &self.nodes[n];
            let h = match &node.edge {
                Some(plan) => run(plan, self.model.blocks(), h, &ctx, None, &mut ())?,
                None => h,
            };
            let ends: Vec<usize> = node.ends.iter().copied().filter(|&m| m >= from).collect();
            if !ends.is_empty() {
                let scores = scorer.score_batch_hidden(reqs, pass, h.clone())?;
                out.extend(ends.into_iter().map(|m| (m, scores.clone())));
            }
            for &c in node.children.iter().rev() {
                if self.wanted(c, from) {
                    stack.push((c, h.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The two passes of a shared-question batch through the trie for members `from..`: every edge
    /// runs the prefix with its own KV cache, then the remainders against that cache repeated.
    fn shared(
        &self,
        scorer: &LlamaLm,
        reqs: &[TokenRequest],
        pass: &SharedPass,
        from: usize,
    ) -> Result<Vec<(usize, Vec<Scored>)>, LmError> {
        let (hp, ctx_p) = self.model.embed(&pass.prefix, 0)?;
        self.count((pass.prefix.batch * pass.prefix.seq) as u64, from);
        let rest = match &pass.rest {
            Some(r) => {
                let (hr, ctx_r) = self.model.embed(r, pass.shared_len())?;
                self.count((r.batch * r.seq) as u64, from);
                Some((r.batch, hr, ctx_r))
            }
            None => None,
        };
        let mut out = Vec::new();
        let mut stack = vec![(0usize, hp, rest.as_ref().map(|r| r.1.clone()))];
        while let Some((n, hp, hr)) = stack.pop() {
            let node = &self.nodes[n];
            let (hp, hr) = match &node.edge {
                Some(plan) => {
                    let blocks = self.model.blocks();
                    let mut cache = KvCache::for_plan(plan);
                    let hp = run(plan, blocks, hp, &ctx_p, Some(&mut cache), &mut ())?;
                    let hr: Option<Tensor<3>> = match (&rest, hr) {
                        (Some((rows, _, ctx_r)), Some(hr)) => {
                            let mut rc = cache.repeat_batch(*rows);
                            Some(run(plan, blocks, hr, ctx_r, Some(&mut rc), &mut ())?)
                        }
                        _ => None,
                    };
                    (hp, hr)
                }
                None => (hp, hr),
            };
            let ends: Vec<usize> = node.ends.iter().copied().filter(|&m| m >= from).collect();
            if !ends.is_empty() {
                let scores = scorer.score_shared_hidden(reqs, pass, hp.clone(), hr.clone())?;
                out.extend(ends.into_iter().map(|m| (m, scores.clone())));
            }
            for &c in node.children.iter().rev() {
                if self.wanted(c, from) {
                    stack.push((c, hp.clone(), hr.clone()));
                }
            }
        }
        Ok(out)
    }
}

/// The key of one call: its kind and every token of its requests.
fn call_key(kind: u8, reqs: &[TokenRequest]) -> CallKey {
    let mut h = Sha256::new();
    h.update([kind]);
    h.update((reqs.len() as u64).to_le_bytes());
    for r in reqs {
        for part in [&r.context, &r.continuation] {
            h.update((part.len() as u64).to_le_bytes());
            for t in part {
                h.update(t.to_le_bytes());
            }
        }
    }
    h.finalize().into()
}

/// One member of a [`PrefixGroup`] as a [`LanguageModel`].
pub struct MemberLm<'g> {
    group: &'g PrefixGroup<'g>,
    index: usize,
    lm: LlamaLm<'g>,
}

impl LanguageModel for MemberLm<'_> {
    fn max_length(&self) -> usize {
        self.lm.max_length()
    }
    fn prefix_token(&self) -> u32 {
        self.lm.prefix_token()
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        self.lm.encode(text)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        self.lm.decode(ids)
    }

    fn score_batch(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        let key = call_key(0, reqs);
        if let Some(s) = self.group.take(&key, self.index) {
            return Ok(s);
        }
        let Some(pass) = BatchPass::new(reqs)? else {
            return self.lm.score_batch(reqs);
        };
        let answers = self.group.batch(&self.lm, reqs, &pass, self.index)?;
        match self.group.keep(key, self.index, answers) {
            Some(s) => Ok(s),
            // Every member ends at a node the walk reaches; should that ever fail, score alone.
            None => self.lm.score_batch(reqs),
        }
    }

    fn score_shared(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        let key = call_key(1, reqs);
        if let Some(s) = self.group.take(&key, self.index) {
            return Ok(s);
        }
        let Some(pass) = self.lm.shared_pass(reqs) else {
            return self.score_batch(reqs);
        };
        let answers = self.group.shared(&self.lm, reqs, &pass, self.index)?;
        match self.group.keep(key, self.index, answers) {
            Some(s) => Ok(s),
            None => self.lm.score_shared(reqs),
        }
    }

    fn generate(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        stop: &mut dyn FnMut(&[u32]) -> bool,
    ) -> Result<Vec<u32>, LmError> {
        self.lm.generate(prompt, max_new_tokens, stop)
    }
}
