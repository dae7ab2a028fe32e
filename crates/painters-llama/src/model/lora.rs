//! Adapters on a decoder's projections: LoRA (`y = x·W + (x·A)·B·s`) and full-rank deltas
//! (`y = x·W + x·Δ`), run *beside* a loaded model rather than written into it.
//!
//! The base [`DecoderModel`] is borrowed, never changed: an [`AdaptedModel`] implements
//! [`Transformer`] over the base's blocks and hands the adapters to them through the forward call's
//! [`DecoderContext`], so the base weights stay bit-identical whatever is trained, and a block that a
//! schedule runs twice meets the same adapter twice (weights tied, as the block's own weights are).
//! [`AdaptedModel::untied`] gives every occurrence of a block in a sequential schedule its own copy
//! and adapter instead.
//!
//! Training needs the computation to stay inside burn's autodiff graph: when the adapters are
//! autodiff tensors ([`Module::train`]), every CPU fast path that reads tensors out to host buffers
//! (host SwiGLU, split projections, the head in slices) is off for the call, and a model whose
//! matrices are host-packed ([`WeightMode`](super::WeightMode) other than f32) is refused, since a
//! packed product would cut the graph. Inference adapters run on any weight mode.
//!
//! Shapes follow the model's `x · W` layout: `A: [in, r]`, `B: [r, out]`, `Δ: [in, out]`
//! (PEFT stores `lora_A.weight: [r, in]` and `lora_B.weight: [out, r]`; see [`super::peft`]).

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use painters::KvCache;
use painters::Plan;
use painters::exec::{ExecOptions, Observer, Transformer, forward_whole};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use super::linear::project;
use super::weight::Weight;
use super::{DecoderBlock, DecoderContext, DecoderError, DecoderInput, DecoderModel, Table};
use crate::config::DecoderConfig;

/// A projection of a decoder block an adapter can sit on, named as PEFT's `target_modules` names
/// it for Llama-style checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoraTarget {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl LoraTarget {
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::Q,
        LoraTarget::K,
        LoraTarget::V,
        LoraTarget::O,
        LoraTarget::Gate,
        LoraTarget::Up,
        LoraTarget::Down,
    ];

    /// `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`.
    pub fn name(self) -> &'static str {
        match self {
            LoraTarget::Q => "q_proj",
            LoraTarget::K => "k_proj",
            LoraTarget::V => "v_proj",
            LoraTarget::O => "o_proj",
            LoraTarget::Gate => "gate_proj",
            LoraTarget::Up => "up_proj",
            LoraTarget::Down => "down_proj",
        }
    }

    /// The target a PEFT module name names.
    pub fn from_name(name: &str) -> Result<Self, LoraError> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| LoraError::UnknownTarget(name.to_string()))
    }

    fn index(self) -> usize {
        self as usize
    }

    /// `(in, out)` features of this projection in a model of `config`; None where the model has
    /// no such projection (no gate in a plain MLP).
    pub fn dims(self, c: &DecoderConfig) -> Option<(usize, usize)> {
        let (d, hd, ffn) = (c.hidden_size, c.head_dim, c.intermediate_size);
        Some(match self {
            LoraTarget::Q => (d, c.num_attention_heads * hd),
            LoraTarget::K | LoraTarget::V => (d, c.num_key_value_heads * hd),
            LoraTarget::O => (c.num_attention_heads * hd, d),
            LoraTarget::Gate if !c.arch.gated_mlp => return None,
            LoraTarget::Gate | LoraTarget::Up => (d, ffn),
            LoraTarget::Down => (ffn, d),
        })
    }
}

/// Why adapters could not be made, attached, read or written.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    #[error(
        "unknown target module `{0}` (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj)"
    )]
    UnknownTarget(String),
    #[error("LoRA rank must be at least 1, got {0}")]
    BadRank(usize),
    #[error("LoRA alpha must be a finite positive number, got {0}")]
    BadAlpha(f64),
    #[error("block {block} does not exist: adapters here cover {blocks} blocks")]
    BadBlock { block: usize, blocks: usize },
    #[error("this model has no `{0}` projection (its MLP is not gated)")]
    NoSuchTarget(&'static str),
    #[error("no adapter to train: choose target modules and blocks")]
    Empty,
    #[error(
        "training adapters needs f32 weights on the device; this model's matrices are stored as `{0}` (load it with --weights f32)"
    )]
    PackedWeights(String),
    #[error("the adapters cover {adapters} blocks; the model runs {model}")]
    BlockCount { adapters: usize, model: usize },
    #[error("{0}")]
    Untie(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{path}: {message}")]
    File {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    Weights(#[from] painters::weights::WeightError),
}

/// Where an adapter sits: a block (of the adapted model's block list) and a projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Site {
    pub block: usize,
    pub target: LoraTarget,
}

/// What to adapt, and how LoRA is scaled.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraSpec {
    pub rank: usize,
    pub alpha: f64,
    /// rsLoRA: scale `alpha / √rank` instead of `alpha / rank`.
    pub rslora: bool,
    /// Projections that get a LoRA adapter.
    pub targets: Vec<LoraTarget>,
    /// Blocks that get LoRA adapters (None: every block).
    pub blocks: Option<Vec<usize>>,
    /// Blocks fine-tuned in full instead: every projection gets a full-rank delta (norms stay).
    pub full_blocks: Vec<usize>,
    /// Seeds the `A` matrices (PEFT's init: `A ~ U(−1/√in, 1/√in)`, `B = 0`).
    pub seed: u64,
}

impl Default for LoraSpec {
    /// Rank 8, alpha 16, on q/k/v/o and the MLP of every block.
    fn default() -> Self {
        LoraSpec {
            rank: 8,
            alpha: 16.0,
            rslora: false,
            targets: LoraTarget::ALL.to_vec(),
            blocks: None,
            full_blocks: Vec::new(),
            seed: 0,
        }
    }
}

/// The shape of a set of adapters (what is not trained).
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterLayout {
    pub rank: usize,
    pub alpha: f64,
    pub rslora: bool,
    /// Blocks the site indices refer to (the model's, or an untied list's).
    pub blocks: usize,
    /// Sites of the LoRA pairs, in the order of [`Adapters::lora`].
    pub lora: Vec<Site>,
    /// Sites of the full-rank deltas, in the order of [`Adapters::full`].
    pub full: Vec<Site>,
}

impl AdapterLayout {
    /// LoRA's scale `s`: `alpha / rank` (rsLoRA: `alpha / √rank`).
    pub fn scale(&self) -> f64 {
        if self.rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }
}

/// One LoRA pair. `a: [in, r]`, `b: [r, out]`.
#[derive(Module, Debug)]
pub struct LoraPair {
    pub a: Param<Tensor<2>>,
    pub b: Param<Tensor<2>>,
}

/// A model's adapters: the trainable tensors as a burn [`Module`] (give it to an optimizer; call
/// [`Module::train`] to put it on the autodiff device), and their layout.
#[derive(Module, Debug)]
pub struct Adapters {
    pub lora: Vec<LoraPair>,
    /// Full-rank deltas `[in, out]`.
    pub full: Vec<Param<Tensor<2>>>,
    #[module(skip)]
    pub layout: AdapterLayout,
}

impl Adapters {
    /// Fresh adapters for `model`'s blocks: every `A` drawn from the seed, every `B` and delta 0,
    /// so the adapted model starts equal to the base.
    pub fn new(model: &DecoderModel, spec: &LoraSpec) -> Result<Self, LoraError> {
        Self::for_blocks(model.config(), model.num_blocks(), spec, model.device())
    }

    /// Fresh adapters for a list of `blocks` blocks shaped as `config`'s (an untied list, see
    /// [`AdaptedModel::untied`]), on `device`.
    pub fn for_blocks(
        config: &DecoderConfig,
        blocks: usize,
        spec: &LoraSpec,
        device: &Device,
    ) -> Result<Self, LoraError> {
        let layout = layout(config, blocks, spec)?;
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let r = spec.rank;
        let lora = layout
            .lora
            .iter()
            .map(|s| {
                let (i, o) = dims(config, s.target)?;
                let bound = 1.0 / (i as f64).sqrt();
                let a: Vec<f32> = (0..i * r)
                    .map(|_| ((unit(&mut rng) * 2.0 - 1.0) * bound) as f32)
                    .collect();
                Ok(LoraPair {
                    a: Param::from_tensor(Tensor::from_data(TensorData::new(a, [i, r]), device)),
                    b: Param::from_tensor(Tensor::zeros([r, o], device)),
                })
            })
            .collect::<Result<_, LoraError>>()?;
        let full = layout
            .full
            .iter()
            .map(|s| {
                let (i, o) = dims(config, s.target)?;
                Ok(Param::from_tensor(Tensor::zeros([i, o], device)))
            })
            .collect::<Result<_, LoraError>>()?;
        Ok(Adapters { lora, full, layout })
    }

    /// Adapters from given matrices (`A: [in, r]`, `B: [r, out]` per LoRA site, `Δ: [in, out]` per
    /// full site), each shape checked against `config`.
    pub fn from_tensors(
        config: &DecoderConfig,
        layout: AdapterLayout,
        lora: Vec<(Tensor<2>, Tensor<2>)>,
        full: Vec<Tensor<2>>,
    ) -> Result<Self, LoraError> {
        if lora.len() != layout.lora.len() || full.len() != layout.full.len() {
            return Err(LoraError::Unsupported(format!(
                "{} LoRA pairs and {} deltas for a layout of {} and {}",
                lora.len(),
                full.len(),
                layout.lora.len(),
                layout.full.len()
            )));
        }
        let r = layout.rank;
        for (s, (a, b)) in layout.lora.iter().zip(&lora) {
            let (i, o) = dims(config, s.target)?;
            if a.dims() != [i, r] || b.dims() != [r, o] {
                return Err(LoraError::Unsupported(format!(
                    "block {} {}: A {:?} and B {:?}, expected [{i}, {r}] and [{r}, {o}]",
                    s.block,
                    s.target.name(),
                    a.dims(),
                    b.dims()
                )));
            }
        }
        for (s, d) in layout.full.iter().zip(&full) {
            let (i, o) = dims(config, s.target)?;
            if d.dims() != [i, o] {
                return Err(LoraError::Unsupported(format!(
                    "block {} {}: delta {:?}, expected [{i}, {o}]",
                    s.block,
                    s.target.name(),
                    d.dims()
                )));
            }
        }
        Ok(Adapters {
            lora: lora
                .into_iter()
                .map(|(a, b)| LoraPair {
                    a: Param::from_tensor(a),
                    b: Param::from_tensor(b),
                })
                .collect(),
            full: full.into_iter().map(Param::from_tensor).collect(),
            layout,
        })
    }

    /// Trainable parameters.
    pub fn num_params(&self) -> usize {
        let n = |p: &Param<Tensor<2>>| p.dims().iter().product::<usize>();
        self.lora.iter().map(|p| n(&p.a) + n(&p.b)).sum::<usize>()
            + self.full.iter().map(n).sum::<usize>()
    }

    /// Whether the tensors are on an autodiff device (training).
    pub fn is_training(&self) -> bool {
        let first = self
            .lora
            .first()
            .map(|p| p.a.val())
            .or_else(|| self.full.first().map(|d| d.val()));
        first.is_some_and(|t| t.is_autodiff())
    }

    /// The tensors the blocks read during one forward call.
    fn active(&self, blocks_at: (usize, usize)) -> ActiveAdapters {
        let mut sites: Vec<[Option<ActiveSite>; 7]> = vec![Default::default(); self.layout.blocks];
        let scale = self.layout.scale();
        for (s, p) in self.layout.lora.iter().zip(&self.lora) {
            sites[s.block][s.target.index()] = Some(ActiveSite {
                a: p.a.val(),
                b: Some(p.b.val()),
                scale,
            });
        }
        for (s, d) in self.layout.full.iter().zip(&self.full) {
            // A full delta and a LoRA pair on one site: the layout never makes both.
            sites[s.block][s.target.index()] = Some(ActiveSite {
                a: d.val(),
                b: None,
                scale: 1.0,
            });
        }
        ActiveAdapters { blocks_at, sites }
    }
}

/// A uniform draw in [0, 1) from the top 53 bits.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn dims(c: &DecoderConfig, t: LoraTarget) -> Result<(usize, usize), LoraError> {
    t.dims(c).ok_or(LoraError::NoSuchTarget(t.name()))
}

/// The sites `spec` names on a list of `blocks` blocks shaped as `c`'s, checked.
fn layout(c: &DecoderConfig, blocks: usize, spec: &LoraSpec) -> Result<AdapterLayout, LoraError> {
    if spec.rank == 0 {
        return Err(LoraError::BadRank(spec.rank));
    }
    if !(spec.alpha.is_finite() && spec.alpha > 0.0) {
        return Err(LoraError::BadAlpha(spec.alpha));
    }
    let check = |b: usize| {
        if b < blocks {
            Ok(b)
        } else {
            Err(LoraError::BadBlock { block: b, blocks })
        }
    };
    let mut full_blocks: Vec<usize> = spec
        .full_blocks
        .iter()
        .map(|&b| check(b))
        .collect::<Result<_, _>>()?;
    full_blocks.sort_unstable();
    full_blocks.dedup();
    let mut lora_blocks: Vec<usize> = match &spec.blocks {
        Some(bs) => bs.iter().map(|&b| check(b)).collect::<Result<_, _>>()?,
        None => (0..blocks).collect(),
    };
    lora_blocks.sort_unstable();
    lora_blocks.dedup();
    lora_blocks.retain(|b| !full_blocks.contains(b));
    let mut targets = spec.targets.clone();
    targets.sort_unstable();
    targets.dedup();
    for &t in &targets {
        dims(c, t)?;
    }
    let lora: Vec<Site> = lora_blocks
        .iter()
        .flat_map(|&block| targets.iter().map(move |&target| Site { block, target }))
        .collect();
    let full: Vec<Site> = full_blocks
        .iter()
        .flat_map(|&block| {
            LoraTarget::ALL
                .into_iter()
                .filter(|&t| t.dims(c).is_some())
                .map(move |target| Site { block, target })
        })
        .collect();
    if lora.is_empty() && full.is_empty() {
        return Err(LoraError::Empty);
    }
    Ok(AdapterLayout {
        rank: spec.rank,
        alpha: spec.alpha,
        rslora: spec.rslora,
        blocks,
        lora,
        full,
    })
}

/// One site's tensors during a forward call: a LoRA pair (`a: [in, r]`, `b: [r, out]`, scaled) or
/// a full-rank delta (`a: [in, out]`, no `b`, scale 1).
#[derive(Clone, Debug)]
pub(crate) struct ActiveSite {
    a: Tensor<2>,
    b: Option<Tensor<2>>,
    scale: f64,
}

impl ActiveSite {
    /// The adapter's term for input `x: [b, s, in]` → `[b, s, out]`.
    fn delta(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.b {
            Some(b) => project(project(x, &self.a), b).mul_scalar(self.scale),
            None => project(x, &self.a),
        }
    }

    /// The `[in, out]` matrix the site adds to the weight.
    fn matrix(&self) -> Tensor<2> {
        match &self.b {
            Some(b) => self.a.clone().matmul(b.clone()).mul_scalar(self.scale),
            None => self.a.clone(),
        }
    }
}

/// The adapters of one forward call, by block (an index into the block slice at `blocks_at`).
#[derive(Debug)]
pub(crate) struct ActiveAdapters {
    blocks_at: (usize, usize),
    sites: Vec<[Option<ActiveSite>; 7]>,
}

impl ActiveAdapters {
    /// The adapter of `block`'s `target`, if `block` lies in the slice these adapters index.
    fn site(&self, block: &DecoderBlock, target: LoraTarget) -> Option<&ActiveSite> {
        let size = std::mem::size_of::<DecoderBlock>();
        let (start, len) = self.blocks_at;
        let at = (block as *const DecoderBlock as usize).checked_sub(start)?;
        if size == 0 || at % size != 0 || at / size >= len {
            return None;
        }
        self.sites.get(at / size)?[target.index()].as_ref()
    }
}

/// `y` plus the adapter term of `block`'s `target` for input `x`, when the call carries one.
/// `x` is only evaluated (a cheap clone) when there is an adapter.
pub(crate) fn adapted(
    ctx: &DecoderContext,
    block: &DecoderBlock,
    target: LoraTarget,
    x: impl FnOnce() -> Tensor<3>,
    y: Tensor<3>,
) -> Tensor<3> {
    match ctx.adapters.as_ref().and_then(|a| a.site(block, target)) {
        Some(site) => y + site.delta(x()),
        None => y,
    }
}

/// A model with adapters: the base's embedding, blocks (or untied copies of them) and head, the
/// adapters applied in the blocks' projections. The base is borrowed and never changed.
pub struct AdaptedModel<'m> {
    base: &'m DecoderModel,
    /// Untied copies of the base's blocks; None: the base's own blocks.
    untied: Option<Vec<DecoderBlock>>,
    adapters: Adapters,
    training: bool,
}

impl<'m> AdaptedModel<'m> {
    /// `adapters` (made for `base`'s blocks) on `base`.
    pub fn new(base: &'m DecoderModel, adapters: Adapters) -> Result<Self, LoraError> {
        Self::build(base, None, adapters)
    }

    /// `adapters` on copies of `base`'s blocks in the order `order` (block `i` of the adapted model
    /// is a copy of base block `order[i]`): every occurrence of a block in a schedule gets its own
    /// adapter when the schedule runs the copies `0..order.len()` in sequence
    /// ([`untie_order`] gives `order` for a sequential plan).
    pub fn untied(
        base: &'m DecoderModel,
        order: &[usize],
        adapters: Adapters,
    ) -> Result<Self, LoraError> {
        let blocks = base.blocks.as_slice();
        let copies = order
            .iter()
            .map(|&b| {
                blocks.get(b).cloned().ok_or(LoraError::BadBlock {
                    block: b,
                    blocks: blocks.len(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::build(base, Some(copies), adapters)
    }

    fn build(
        base: &'m DecoderModel,
        untied: Option<Vec<DecoderBlock>>,
        adapters: Adapters,
    ) -> Result<Self, LoraError> {
        let model = untied.as_ref().map_or(base.blocks.len(), Vec::len);
        if adapters.layout.blocks != model {
            return Err(LoraError::BlockCount {
                adapters: adapters.layout.blocks,
                model,
            });
        }
        let training = adapters.is_training();
        if training && base.weight_mode() != super::WeightMode::F32 {
            return Err(LoraError::PackedWeights(base.weight_mode().to_string()));
        }
        Ok(AdaptedModel {
            base,
            untied,
            adapters,
            training,
        })
    }

    /// The base model.
    pub fn base(&self) -> &'m DecoderModel {
        self.base
    }

    /// The adapters.
    pub fn adapters(&self) -> &Adapters {
        &self.adapters
    }

    /// Take the adapters back.
    pub fn into_adapters(self) -> Adapters {
        self.adapters
    }

    /// Logits `[b, s, vocab]` of `input` under `plan` (no cache).
    pub fn logits(&self, plan: &Plan, input: &DecoderInput) -> Result<Tensor<3>, DecoderError> {
        forward_whole(self, plan, input, None, &mut (), ExecOptions::sequential())
    }

    /// The base with the adapters added into its f32 weights (`W + s·A·B`, `W + Δ`): a new model
    /// that runs without adapters (results equal the adapted model's up to float rounding). Tied
    /// adapters only; the base must hold f32 weights.
    pub fn merged(&self) -> Result<DecoderModel, LoraError> {
        if self.untied.is_some() {
            return Err(LoraError::Unsupported(
                "untied adapters cannot be merged into the base model's blocks (each block has several)"
                    .into(),
            ));
        }
        let mut model = self.base.clone();
        let active = self.adapters.valid().active((0, 0));
        for (i, block) in model.blocks.iter_mut().enumerate() {
            for t in LoraTarget::ALL {
                let Some(site) = &active.sites[i][t.index()] else {
                    continue;
                };
                add_columns(block, t, site.matrix())?;
            }
        }
        // Stacked weights of batched parallel steps were built from the old weights.
        model.stacked = Default::default();
        model
            .stacked
            .set_budget(model.settings.stacked_weight_budget);
        Ok(model)
    }
}

/// `W += delta` on the columns of `block`'s fused projection that `t` owns.
fn add_columns(block: &mut DecoderBlock, t: LoraTarget, delta: Tensor<2>) -> Result<(), LoraError> {
    let spec = block.spec;
    let (q, kv) = (spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim);
    let (linear, start) = match t {
        LoraTarget::Q => (&mut block.qkv, 0),
        LoraTarget::K => (&mut block.qkv, q),
        LoraTarget::V => (&mut block.qkv, q + kv),
        LoraTarget::O => (&mut block.o, 0),
        LoraTarget::Gate => (&mut block.up, 0),
        LoraTarget::Up if spec.gated => (&mut block.up, spec.ffn),
        LoraTarget::Up => (&mut block.up, 0),
        LoraTarget::Down => (&mut block.down, 0),
    };
    let Weight::Dense(w) = &mut linear.w else {
        return Err(LoraError::PackedWeights("packed".into()));
    };
    let [i, o] = w.dims();
    let len = delta.dims()[1];
    let mut parts = Vec::new();
    if start > 0 {
        parts.push(w.clone().narrow(1, 0, start));
    }
    parts.push(w.clone().narrow(1, start, len) + delta);
    if start + len < o {
        parts.push(w.clone().narrow(1, start + len, o - start - len));
    }
    let merged = Tensor::cat(parts, 1);
    debug_assert_eq!(merged.dims(), [i, o]);
    **w = merged;
    Ok(())
}

/// The base blocks in the order a sequential plan applies them (one entry per application), for
/// [`AdaptedModel::untied`]; an error for plans with parallel steps.
pub fn untie_order(plan: &Plan) -> Result<Vec<usize>, LoraError> {
    use painters::Op;
    let mut order = Vec::new();
    for op in plan.ops() {
        match op {
            Op::Apply { block, .. } => order.push(*block),
            Op::EndStep { .. } => {}
            _ => {
                return Err(LoraError::Untie(
                    "untying adapters needs a schedule without parallel steps (each block application in sequence)"
                        .into(),
                ));
            }
        }
    }
    Ok(order)
}

impl Transformer for AdaptedModel<'_> {
    type Block = DecoderBlock;
    type Input = DecoderInput;
    type Error = DecoderError;

    fn blocks(&self) -> &[DecoderBlock] {
        self.untied.as_deref().unwrap_or(&self.base.blocks)
    }

    fn embed(
        &self,
        input: &DecoderInput,
        past_len: usize,
    ) -> Result<(Tensor<3>, DecoderContext), DecoderError> {
        let (h, mut ctx) = self.base.embed(input, past_len)?;
        let blocks = self.blocks();
        ctx.blocks_at = (blocks.as_ptr() as usize, blocks.len());
        ctx.adapters = Some(Arc::new(
            self.adapters
                .active((blocks.as_ptr() as usize, blocks.len())),
        ));
        if self.training {
            // Host-buffer fast paths would cut the autodiff graph.
            ctx.split_projections = false;
            ctx.host_swiglu = false;
        }
        Ok((h, ctx))
    }

    fn head(&self, hidden: Tensor<3>, observer: &mut dyn Observer) -> Tensor<3> {
        let normed = self.base.final_norm(hidden);
        observer.observe(painters::exec::ObservePoint::FinalNorm, &normed);
        self.base.logits_with(
            normed,
            self.base.settings.projection_split && !self.training,
        )
    }

    fn forward_with(
        &self,
        plan: &Plan,
        input: &DecoderInput,
        cache: Option<&mut KvCache>,
        observer: &mut dyn Observer,
        options: ExecOptions,
    ) -> Result<Tensor<3>, DecoderError> {
        forward_whole(self, plan, input, cache, observer, options)
    }
}

impl DecoderModel {
    /// A fingerprint of every weight the model holds (embedding, blocks, norms, head), to check
    /// that nothing changed them: equal fingerprints mean bit-identical weights (up to hash
    /// collisions). Reads every tensor back to the host.
    pub fn weight_fingerprint(&self) -> u64 {
        use std::hash::Hasher;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match &self.embed {
            Table::Dense(t) => hash_tensor(&mut h, t),
            Table::Packed(q) => h.write(q.bytes()),
        }
        if let Some(w) = &self.head {
            hash_weight(&mut h, w);
        }
        hash_norm(&mut h, &self.norm);
        for b in &self.blocks {
            for l in [&b.qkv, &b.o, &b.up, &b.down] {
                hash_weight(&mut h, &l.w);
                if let Some(bias) = &l.b {
                    hash_tensor(&mut h, bias);
                }
            }
            for n in [
                Some(&b.attn_norm),
                b.q_norm.as_ref(),
                b.k_norm.as_ref(),
                b.post_attn_norm.as_ref(),
                Some(&b.mlp_norm),
                b.post_mlp_norm.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                hash_norm(&mut h, n);
            }
        }
        h.finish()
    }
}

fn hash_tensor<const D: usize>(h: &mut impl std::hash::Hasher, t: &Tensor<D>) {
    h.write(t.clone().into_data().as_bytes());
}

fn hash_weight(h: &mut impl std::hash::Hasher, w: &Weight) {
    match w {
        Weight::Dense(t) => hash_tensor(h, &**t),
        Weight::Packed(parts) => parts.iter().for_each(|p| h.write(p.bytes())),
    }
}

fn hash_norm(h: &mut impl std::hash::Hasher, n: &super::norm::Norm) {
    hash_tensor(h, &n.w);
    if let Some(b) = &n.layer_norm_bias {
        hash_tensor(h, b);
    }
}
