//! The executor: runs a [`Plan`] over a model's blocks.
//!
//! The executor knows nothing about Llama or BERT. An adapter implements [`Block`] for its layer type
//! (and [`Transformer`] for the whole model), and the executor threads the hidden state, the parallel
//! steps' inputs and outputs, the KV-cache slots and the observers through the plan's ops. Blocks are
//! borrowed by index from one slice, so a block that runs many times is one set of weights.

use burn::tensor::Tensor;

use crate::cache::{KvCache, KvState};
use crate::plan::{BlockGroup, KvMode, KvWrite, Op, Plan};
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

    /// Apply the blocks `members` (indices into `blocks`) to the same input as one computation: a
    /// parallel step whose branches are single blocks. Returns one output per member, in order, each
    /// equal (within float tolerance) to `blocks[members[i]].forward(hidden, ctx, pasts[i], want_kv)`,
    /// or `None` when the group cannot be batched, in which case the executor runs the members one
    /// after the other. `pasts` has one entry per member.
    ///
    /// `blocks` is the slice the plan runs over, so an implementation may cache per-group data (the
    /// members' stacked weights) keyed by `members`. The default batches nothing.
    fn forward_group(
        blocks: &[Self],
        members: &[usize],
        hidden: &Tensor<3>,
        ctx: &Self::Context,
        pasts: &[Option<&KvState>],
        want_kv: bool,
    ) -> Option<Vec<BlockOutput>>
    where
        Self: Sized,
    {
        let _ = (blocks, members, hidden, ctx, pasts, want_kv);
        None
    }
}

/// How [`run_with`] executes a plan. Every setting gives the same numbers within float tolerance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecOptions {
    /// Run each parallel step whose branches are single blocks ([`Plan::block_groups`]) as one
    /// batched computation ([`Block::forward_group`]) when the block type supports it. When false,
    /// or when the block type declines, the members run one after the other (the sequential form).
    pub batched_parallel: bool,
}

/// Sequential by default: on the CPU the batched form measured no faster (burn's batched matmul runs
/// one GEMM per member; docs/performance.md) while its stacked weights add the members' size in
/// memory, which would break the promise that looped schedules cost no extra memory. Ask for
/// [`ExecOptions::batched`] on a GPU, where one batched kernel replaces k launches.
impl Default for ExecOptions {
    fn default() -> Self {
        Self::sequential()
    }
}

impl ExecOptions {
    /// Qualifying parallel steps run as one batched computation.
    pub fn batched() -> Self {
        ExecOptions {
            batched_parallel: true,
        }
    }

    /// Every parallel step runs its branches one after the other.
    pub fn sequential() -> Self {
        ExecOptions {
            batched_parallel: false,
        }
    }
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

    /// Whether this observer looks at the states at all. A model may run the rows of a batch as
    /// separate computations on several threads only when nobody observes the whole-batch states.
    fn observes(&self) -> bool {
        true
    }
}

/// The observer that ignores everything.
impl Observer for () {
    fn observe(&mut self, _: ObservePoint, _: &Tensor<3>) {}

    fn observes(&self) -> bool {
        false
    }
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

/// Run `plan` over `blocks`, starting from the hidden state `hidden`, with the default
/// [`ExecOptions`] (parallel steps run member by member; see [`run_with`] for the batched form).
///
/// With a `cache`, each block reads its slot's past keys/values and the new ones are appended, and the
/// cache's length advances by the number of positions in `hidden`. The observer sees the state after
/// every top-level step.
pub fn run<B: Block>(
    plan: &Plan,
    blocks: &[B],
    hidden: Tensor<3>,
    ctx: &B::Context,
    cache: Option<&mut KvCache>,
    observer: &mut dyn Observer,
) -> Result<Tensor<3>, ExecError> {
    run_with(
        plan,
        blocks,
        hidden,
        ctx,
        cache,
        observer,
        ExecOptions::default(),
    )
}

/// [`run`] with explicit [`ExecOptions`].
pub fn run_with<B: Block>(
    plan: &Plan,
    blocks: &[B],
    hidden: Tensor<3>,
    ctx: &B::Context,
    mut cache: Option<&mut KvCache>,
    observer: &mut dyn Observer,
    options: ExecOptions,
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
    let ops = plan.ops();
    let mut h = hidden;
    let mut stack: Vec<Frame> = Vec::new();
    let mut pc = 0;
    while let Some(op) = ops.get(pc) {
        if options.batched_parallel
            && let Some(group) = plan.block_group_at(pc)
            && let Some(out) =
                run_group(ops, group, blocks, &h, ctx, cache.as_deref_mut(), want_kv)?
        {
            h = out;
            pc = group.join() + 1;
            continue;
        }
        pc += 1;
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
                h = merged(sum, &f.input, branches, merge);
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

/// The merge of a parallel step from the sum of its `branches` branch outputs.
fn merged(sum: Tensor<3>, input: &Tensor<3>, branches: usize, merge: Merge) -> Tensor<3> {
    match merge {
        Merge::Mean => sum.div_scalar(branches as f32),
        // h + Σ(b_i − h) = Σ b_i − (k − 1)·h
        Merge::ResidualSum => sum - input.clone().mul_scalar((branches - 1) as f32),
    }
}

/// Runs the block group `group` (ops `group.fork ..= group.join()`) as one batched computation.
/// `Ok(None)` when the block type declines; nothing has been changed then.
fn run_group<B: Block>(
    ops: &[Op],
    group: &BlockGroup,
    blocks: &[B],
    h: &Tensor<3>,
    ctx: &B::Context,
    mut cache: Option<&mut KvCache>,
    want_kv: bool,
) -> Result<Option<Tensor<3>>, ExecError> {
    let k = group.blocks.len();
    let mut targets = Vec::with_capacity(k);
    for j in 0..k {
        match ops.get(group.fork + 1 + 2 * j) {
            Some(&Op::Apply { block, slot, write }) if block < blocks.len() => {
                targets.push((slot, write))
            }
            _ => return Err(ExecError::MalformedPlan("block group without its applies")),
        }
    }
    let Some(&Op::Join {
        branches,
        merge,
        pooled,
    }) = ops.get(group.join())
    else {
        return Err(ExecError::MalformedPlan("block group without its join"));
    };
    let outs = {
        let pasts: Vec<Option<&KvState>> = targets
            .iter()
            .map(|&(slot, _)| cache.as_deref().and_then(|c| c.slot(slot)))
            .collect();
        match B::forward_group(blocks, &group.blocks, h, ctx, &pasts, want_kv) {
            Some(outs) if outs.len() == k => outs,
            _ => return Ok(None),
        }
    };
    let mut sum: Option<Tensor<3>> = None;
    let mut pooled_kv = Vec::new();
    for (out, &(slot, write)) in outs.into_iter().zip(&targets) {
        sum = Some(match sum {
            Some(s) => s + out.hidden,
            None => out.hidden,
        });
        if let (Some(c), Some(kv)) = (cache.as_deref_mut(), out.kv) {
            match write {
                KvWrite::Own => c.append(slot, kv),
                KvWrite::Pooled => pooled_kv.push(kv),
            }
        }
    }
    let sum = sum.ok_or(ExecError::MalformedPlan("empty block group"))?;
    if let (Some(slot), Some(c)) = (pooled, cache)
        && let Some(mean) = KvState::mean(pooled_kv)
    {
        c.append(slot, mean);
    }
    Ok(Some(merged(sum, h, branches, merge)))
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
        self.forward_with(plan, input, cache, observer, ExecOptions::default())
    }

    /// [`Transformer::forward`] with explicit [`ExecOptions`].
    fn forward_with(
        &self,
        plan: &Plan,
        input: &Self::Input,
        cache: Option<&mut KvCache>,
        observer: &mut dyn Observer,
        options: ExecOptions,
    ) -> Result<Tensor<3>, Self::Error> {
        forward_whole(self, plan, input, cache, observer, options)
    }
}

/// Embedding, plan, head, as one computation over the whole batch: [`Transformer::forward_with`]'s
/// default, for adapters that override it (to split a batch across threads, say) and fall back to it.
pub fn forward_whole<T: Transformer + ?Sized>(
    model: &T,
    plan: &Plan,
    input: &T::Input,
    cache: Option<&mut KvCache>,
    observer: &mut dyn Observer,
    options: ExecOptions,
) -> Result<Tensor<3>, T::Error> {
    let h = hidden_whole(model, plan, input, cache, observer, options)?;
    Ok(model.head(h, observer))
}

/// [`forward_whole`] without the head: the last hidden state, for callers that send only some
/// positions through the head.
pub fn hidden_whole<T: Transformer + ?Sized>(
    model: &T,
    plan: &Plan,
    input: &T::Input,
    cache: Option<&mut KvCache>,
    observer: &mut dyn Observer,
    options: ExecOptions,
) -> Result<Tensor<3>, T::Error> {
    let past_len = cache.as_deref().map_or(0, KvCache::len);
    let (h, ctx) = model.embed(input, past_len)?;
    observer.observe(ObservePoint::Embedding, &h);
    Ok(run_with(
        plan,
        model.blocks(),
        h,
        &ctx,
        cache,
        observer,
        options,
    )?)
}
