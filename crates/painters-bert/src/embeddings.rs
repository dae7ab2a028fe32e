//! HF `BertEmbeddings`: word + absolute position + token type, then LayerNorm (and dropout when
//! training).

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::{Int, Tensor};

use crate::input::BertInput;
use crate::layer::BertContext;

#[derive(Module, Debug)]
pub struct BertEmbeddings {
    pub word_embeddings: Embedding,
    pub position_embeddings: Embedding,
    pub token_type_embeddings: Embedding,
    /// `embeddings.LayerNorm`
    pub layer_norm: LayerNorm,
    pub dropout: f64,
}

impl BertEmbeddings {
    /// Positions are `0..seq` for every row, as HF's default `position_ids` (right padding keeps
    /// real tokens at the positions they would have alone).
    ///
    /// Crate-private because the input must have been validated against the model's config first
    /// (an out-of-range id would be an out-of-bounds gather); [`BertModel::embed_with`] does that.
    ///
    /// [`BertModel::embed_with`]: crate::BertModel::embed_with
    ///
    /// # Shapes
    /// - output: `[batch, seq, hidden]`
    pub(crate) fn forward(&self, input: &BertInput, ctx: &BertContext) -> Tensor<3> {
        let device = self.word_embeddings.weight.val().device();
        let words = self.word_embeddings.forward(input.ids_tensor(&device));
        let types = self
            .token_type_embeddings
            .forward(input.types_tensor(&device));
        let positions = Tensor::<1, Int>::arange(0..input.seq() as i64, &device).unsqueeze::<2>();
        let positions = self.position_embeddings.forward(positions);
        let h = self.layer_norm.forward(words + types + positions);
        ctx.drop(h, self.dropout)
    }
}
