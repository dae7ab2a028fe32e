//! Heads on top of the encoder: the MLM head (`BertForMaskedLM`), the tanh pooler and the
//! sequence-classification / regression head (`BertForSequenceClassification`).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;
use burn::tensor::activation::gelu;
use burn::tensor::module::linear;

/// HF `BertPredictionHeadTransform` plus the decoder bias. The decoder weight is the word
/// embedding matrix (tied), passed in at call time so that fine-tuning updates one tensor.
#[derive(Module, Debug)]
pub struct MlmHead {
    /// `cls.predictions.transform.dense`
    pub dense: Linear,
    /// `cls.predictions.transform.LayerNorm`
    pub layer_norm: LayerNorm,
    /// `cls.predictions.bias`, `[vocab]`
    pub bias: Param<Tensor<1>>,
}

impl MlmHead {
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]`, `word_embeddings`: `[vocab, hidden]`
    /// - output: `[batch, seq, vocab]`
    pub fn forward(&self, hidden: Tensor<3>, word_embeddings: Tensor<2>) -> Tensor<3> {
        let h = self.layer_norm.forward(gelu(self.dense.forward(hidden)));
        linear(h, word_embeddings.transpose(), Some(self.bias.val()))
    }
}

/// HF `BertPooler`: tanh(dense(hidden state of the first token)).
#[derive(Module, Debug)]
pub struct BertPooler {
    /// `pooler.dense`
    pub dense: Linear,
}

impl BertPooler {
    /// # Shapes
    /// - `hidden`: `[batch, seq, hidden]` → `[batch, hidden]`
    pub fn forward(&self, hidden: Tensor<3>) -> Tensor<2> {
        let [b, _, d] = hidden.dims();
        let first = hidden.narrow(1, 0, 1).reshape([b, d]);
        self.dense.forward(first).tanh()
    }
}
