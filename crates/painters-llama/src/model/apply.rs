//! [`painters::Block`] for [`DecoderBlock`]: a block reads its own RoPE table and window from the
//! forward call's context; a parallel step of plain Llama blocks may run batched.

use burn::tensor::Tensor;
use painters::KvState;
use painters::exec::{Block, BlockOutput};

use super::batched;
use super::block::DecoderBlock;
use super::context::DecoderContext;

impl Block for DecoderBlock {
    type Context = DecoderContext;

    fn forward(
        &self,
        x: Tensor<3>,
        ctx: &DecoderContext,
        past: Option<&KvState>,
        want_kv: bool,
    ) -> BlockOutput {
        self.run(x, &ctx.call(&self.spec), past, want_kv)
    }

    /// One batched computation for all members (stacked weights cached on the model); see the
    /// `batched` module. Plain Llama blocks with the same window and RoPE table only.
    fn forward_group(
        blocks: &[Self],
        members: &[usize],
        hidden: &Tensor<3>,
        ctx: &DecoderContext,
        pasts: &[Option<&KvState>],
        want_kv: bool,
    ) -> Option<Vec<BlockOutput>> {
        if ctx.adapters.is_some() {
            // The stacked weights carry no adapters: run the members one by one.
            return None;
        }
        batched::forward_group(blocks, members, hidden, ctx, pasts, want_kv)
    }
}
