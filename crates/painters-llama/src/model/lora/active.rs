//! The adapters of one forward call, as the blocks read them.

use burn::tensor::Tensor;

use super::target::LoraTarget;
use crate::model::linear::project;

/// One site's tensors during a forward call: a LoRA pair (`a: [in, r]`, `b: [r, out]`, scaled) or
/// a full-rank delta (`a: [in, out]`, no `b`, scale 1).
#[derive(Clone, Debug)]
pub(crate) struct ActiveSite {
    pub(super) a: Tensor<2>,
    pub(super) b: Option<Tensor<2>>,
    pub(super) scale: f64,
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
    pub(super) fn matrix(&self) -> Tensor<2> {
        match &self.b {
            Some(b) => self.a.clone().matmul(b.clone()).mul_scalar(self.scale),
            None => self.a.clone(),
        }
    }
}

/// The adapters of one forward call, by block (an index into the block slice at `blocks_at`).
#[derive(Debug)]
pub(crate) struct ActiveAdapters {
    pub(super) blocks_at: (usize, usize),
    pub(super) sites: Vec<[Option<ActiveSite>; 7]>,
}

impl ActiveAdapters {
    /// The adapter of `block`'s `target`, if `block` lies in the slice these adapters index.
    fn site<B>(&self, block: &B, target: LoraTarget) -> Option<&ActiveSite> {
        let size = std::mem::size_of::<B>();
        let (start, len) = self.blocks_at;
        let at = (block as *const B as usize).checked_sub(start)?;
        if size == 0 || at % size != 0 || at / size >= len {
            return None;
        }
        self.sites.get(at / size)?[target.index()].as_ref()
    }
}

/// `y` plus the adapter term of `block`'s `target` for input `x`, when the call carries one.
/// `x` is only evaluated (a cheap clone) when there is an adapter.
pub(crate) fn adapted<B>(
    adapters: Option<&ActiveAdapters>,
    block: &B,
    target: LoraTarget,
    x: impl FnOnce() -> Tensor<3>,
    y: Tensor<3>,
) -> Tensor<3> {
    match adapters.and_then(|a| a.site(block, target)) {
        Some(site) => y + site.delta(x()),
        None => y,
    }
}
