//! The executor: runs a [`Plan`] over a model's blocks.
//!
//! The executor knows nothing about Llama or BERT. An adapter implements [`Block`] for its layer type
//! (and [`Transformer`] for the whole model), and the executor threads the hidden state, the parallel
//! steps' inputs and outputs, the KV-cache slots and the observers through the plan's ops. Blocks are
//! borrowed by index from one slice, so a block that runs many times is one set of weights.

use burn::tensor::Tensor;

use crate::cache::{KvCache, KvState};
use crate::plan::{KvMode, KvWrite, Op, Plan};
use crate::schedule::Merge;

/// One layer of a model, as the executor sees it.
///
/// The output must include the residual (as HF layers return it: `h + attn(…) + mlp(…)` for pre-LN
/// decoders, `LayerNorm(…)` for post-LN encoders), so that a parallel step's mean is a plain mean of
/// block outputs for both.
pub trait Block {
    /// Per-forward data the block needs beyond the hidden state (positions, masks, RoPE tables), built
    /// once per call by the model and shared by every block application.
    type Context;

    /// Apply the block to `hidden` (`[batch, seq, d_model]`).
    ///
    /// `past` holds keys/values of earlier positions (incremental decoding); `want_kv` asks the block
    /// to return the keys/values of the positions in `hidden` so that the executor can cache them.
    fn forward(
        &self,
        hidden: Tensor<3>,
        ctx: &Self::Context,
        past: Option<&KvState>,
        want_kv: bool,
    ) -> BlockOutput;
}

/// What a block returns: the new hidden state and, when asked, the new positions' keys/values.
pub struct BlockOutput {
    pub hidden: Tensor<3>,
    pub kv: Option<KvState>,
}

/// A point in the forward pass where an [`Observer`] sees the hidden state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObservePoint {
    /// The embedding output, before any block.
    Embedding,
    /// The residual stream after top-level schedule step `j`.
    Step(usize),
    /// The final norm's output (models that have one), the head's input.
    FinalNorm,
}

/// Sees the hidden state at every [`ObservePoint`]; used by tests, layer analysis and the logit lens.
pub trait Observer {
    fn observe(&mut self, at: ObservePoint, hidden: &Tensor<3>);
}

/// The observer that ignores everything.
impl Observer for () {
    fn observe(&mut self, _: ObservePoint, _: &Tensor<3>) {}
}

/// An observer that keeps every state it sees, in order.
#[derive(Default, Debug)]
pub struct HiddenStates {
    pub states: Vec<(ObservePoint, Tensor<3>)>,
}

impl HiddenStates {
    /// The state recorded at `at`, if any.
    pub fn get(&self, at: ObservePoint) -> Option<&Tensor<3>> {
        self.states.iter().find(|(p, _)| *p == at).map(|(_, t)| t)
    }
}

impl Observer for HiddenStates {
    fn observe(&mut self, at: ObservePoint, hidden: &Tensor<3>) {
        self.states.push((at, hidden.clone()));
    }
}

/// Why a plan could not run on the given blocks or cache.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExecError {
    #[error(
        "the plan was compiled for {plan} blocks but the model has {model}; compile it against this model"
    )]
    BlockCount { plan: usize, model: usize },
    #[error(
        "the KV cache has {cache} slots ({cache_mode:?}) but the plan needs {plan} ({plan_mode:?}); make the cache with KvCache::for_plan(&plan)"
    )]
    CacheMismatch {
        cache: usize,
        plan: usize,
        cache_mode: KvMode,
        plan_mode: KvMode,
    },
    #[error("malformed plan: {0}")]
    MalformedPlan(&'static str),
}

/// State of one open parallel step.
struct Frame {
    input: Tensor<3>,
    sum: Option<Tensor<3>>,
    pooled: Vec<KvState>,
}

/// Run `plan` over `blocks`, starting from the hidden state `hidden`.
///
/// With a `cache`, each block reads its slot's past keys/values and the new ones are appended, and the
/// cache's length advances by the number of positions in `hidden`. The observer sees the state after
/// every top-level step.
pub fn run<B: Block>(
    plan: &Plan,
    blocks: &[B],
    hidden: Tensor<3>,
    ctx: &B::Context,
    mut cache: Option<&mut KvCache>,
    observer: &mut dyn Observer,
) -> Result<Tensor<3>, ExecError> {
    if plan.num_blocks() != blocks.len() {
        return Err(ExecError::BlockCount {
            plan: plan.num_blocks(),
            model: blocks.len(),
        });
    }
    if let Some(c) = cache.as_deref()
        && (c.num_slots() != plan.stats().cache_slots || c.mode() != plan.kv_mode())
    {
        return Err(ExecError::CacheMismatch {
            cache: c.num_slots(),
            plan: plan.stats().cache_slots,
            cache_mode: c.mode(),
            plan_mode: plan.kv_mode(),
        });
    }
    let positions = hidden.dims()[1];
    let want_kv = cache.is_some();
    let mut h = hidden;
    let mut stack: Vec<Frame> = Vec::new();
    for op in plan.ops() {
        match *op {
            Op::Apply { block, slot, write } => {
                let past = cache.as_deref().and_then(|c| c.slot(slot));
                let out = blocks[block].forward(h, ctx, past, want_kv);
                h = out.hidden;
                if let (Some(c), Some(kv)) = (cache.as_deref_mut(), out.kv) {
                    match write {
                        KvWrite::Own => c.append(slot, kv),
                        KvWrite::Pooled => stack
                            .last_mut()
                            .ok_or(ExecError::MalformedPlan(
                                "pooled write outside a parallel step",
                            ))?
                            .pooled
                            .push(kv),
                    }
                }
            }
            Op::Fork { .. } => stack.push(Frame {
                input: h.clone(),
                sum: None,
                pooled: Vec::new(),
            }),
            Op::NextBranch => {
                let f = stack.last_mut().ok_or(ExecError::MalformedPlan(
                    "next branch outside a parallel step",
                ))?;
                let out = std::mem::replace(&mut h, f.input.clone());
                f.sum = Some(match f.sum.take() {
                    Some(s) => s + out,
                    None => out,
                });
            }
            Op::Join {
                branches,
                merge,
                pooled,
            } => {
                let f = stack
                    .pop()
                    .ok_or(ExecError::MalformedPlan("join outside a parallel step"))?;
                let sum = match f.sum {
                    Some(s) => s + h,
                    None => h,
                };
                h = match merge {
                    Merge::Mean => sum.div_scalar(branches as f32),
                    // h + Σ(b_i − h) = Σ b_i − (k − 1)·h
                    Merge::ResidualSum => sum - f.input.mul_scalar((branches - 1) as f32),
                };
                if let (Some(slot), Some(c)) = (pooled, cache.as_deref_mut())
                    && let Some(mean) = KvState::mean(f.pooled)
                {
                    c.append(slot, mean);
                }
            }
            Op::EndStep { step } => observer.observe(ObservePoint::Step(step), &h),
        }
    }
    if !stack.is_empty() {
        return Err(ExecError::MalformedPlan("unclosed parallel step"));
    }
    if let Some(c) = cache {
        c.advance(positions);
    }
    Ok(h)
}

/// A whole model: embedding → a plan over its blocks → head. Adapters implement this; the harness and
/// the conformance runner call [`Transformer::forward`] and never match on an architecture.
pub trait Transformer {
    type Block: Block;
    /// What one forward call consumes (token ids, masks, token types …).
    type Input;
    /// The adapter's error type; it must be able to carry the executor's.
    type Error: From<ExecError>;

    /// The model's blocks, in checkpoint order.
    fn blocks(&self) -> &[Self::Block];

    /// The embedding output for `input`, whose first position is `past_len`, and the blocks' context.
    fn embed(
        &self,
        input: &Self::Input,
        past_len: usize,
    ) -> Result<(Tensor<3>, <Self::Block as Block>::Context), Self::Error>;

    /// From the last hidden state to the output (final norm and LM head, MLM head, …). Models with a
    /// final norm report it to the observer as [`ObservePoint::FinalNorm`].
    fn head(&self, hidden: Tensor<3>, observer: &mut dyn Observer) -> Tensor<3>;

    /// Embedding, plan, head. With a cache, `input` continues the cached positions.
    fn forward(
        &self,
        plan: &Plan,
        input: &Self::Input,
        cache: Option<&mut KvCache>,
        observer: &mut dyn Observer,
    ) -> Result<Tensor<3>, Self::Error> {
        let past_len = cache.as_deref().map_or(0, KvCache::len);
        let (h, ctx) = self.embed(input, past_len)?;
        observer.observe(ObservePoint::Embedding, &h);
        let h = run(plan, self.blocks(), h, &ctx, cache, observer)?;
        Ok(self.head(h, observer))
    }
}
