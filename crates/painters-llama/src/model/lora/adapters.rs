//! Adapters as trainable tensors ([`Adapters`], a burn module) and their layout.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use super::active::{ActiveAdapters, ActiveSite};
use super::error::LoraError;
use super::target::LoraTarget;
use crate::config::DecoderConfig;
use crate::model::DecoderModel;

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
    /// [`AdaptedModel::untied`](super::AdaptedModel::untied)), on `device`.
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
    pub(super) fn active(&self, blocks_at: (usize, usize)) -> ActiveAdapters {
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
