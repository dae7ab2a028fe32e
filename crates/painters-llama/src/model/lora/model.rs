//! A model with adapters beside a borrowed base.

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Tensor;
use painters::KvCache;
use painters::Plan;
use painters::exec::{ExecOptions, Observer, Transformer, forward_whole};

use super::adapters::Adapters;
use super::error::LoraError;
use super::target::LoraTarget;
use crate::model::weight::Weight;
use crate::model::{DecoderBlock, DecoderContext, DecoderError, DecoderInput, DecoderModel};

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
        if training && base.weight_mode() != crate::model::WeightMode::F32 {
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
    let delta = if delta.dtype() == w.dtype() {
        delta
    } else {
        delta.cast(w.dtype())
    };
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
