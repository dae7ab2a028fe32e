//! The whole encoder as a [`painters::Transformer`]: embeddings → a plan over the layers → head.

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use painters::{KvCache, KvMode, LayerSchedule, Observer, Plan, Transformer};

use crate::config::BertConfig;
use crate::dropout::DropoutRng;
use crate::embeddings::BertEmbeddings;
use crate::error::BertError;
use crate::heads::{BertPooler, MlmHead};
use crate::input::BertInput;
use crate::layer::{BertContext, BertLayer};

/// A BERT encoder (HF `BertModel`), with the MLM head when the checkpoint has one.
///
/// As a [`Transformer`], its head is the MLM head (logits `[batch, seq, vocab]`) when present and
/// the identity (the last hidden state) otherwise.
#[derive(Module, Debug)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    /// `encoder.layer.{i}`, in checkpoint order.
    pub layers: Vec<BertLayer>,
    pub pooler: Option<BertPooler>,
    pub mlm: Option<MlmHead>,
    #[module(skip)]
    config: BertConfig,
}

impl BertModel {
    pub(crate) fn from_parts(
        config: BertConfig,
        embeddings: BertEmbeddings,
        layers: Vec<BertLayer>,
        pooler: Option<BertPooler>,
        mlm: Option<MlmHead>,
    ) -> Self {
        BertModel {
            embeddings,
            layers,
            pooler,
            mlm,
            config,
        }
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.embeddings.word_embeddings.weight.val().device()
    }

    /// Compile `schedule` against this model's layers. Encoders keep no KV cache, so the KV mode is
    /// irrelevant and always [`KvMode::Exact`].
    pub fn plan(&self, schedule: &LayerSchedule) -> Result<Plan, BertError> {
        Ok(Plan::compile(schedule, self.layers.len(), KvMode::Exact)?)
    }

    /// The embedding output and the layers' context, with dropout drawn from `dropout` when given
    /// (training).
    pub fn embed_with(
        &self,
        input: &BertInput,
        dropout: Option<Arc<DropoutRng>>,
    ) -> Result<(Tensor<3>, BertContext), BertError> {
        input.validate(&self.config)?;
        let ctx = BertContext {
            mask: input.additive_mask(&self.device()),
            dropout,
        };
        Ok((self.embeddings.forward(input, &ctx), ctx))
    }

    /// The last hidden state after running `plan` over the layers, `[batch, seq, hidden]`.
    /// Pad positions hold values too (pad queries are computed, pad keys are masked), as in HF.
    pub fn encode(
        &self,
        plan: &Plan,
        input: &BertInput,
        observer: &mut dyn Observer,
    ) -> Result<Tensor<3>, BertError> {
        self.encode_with(plan, input, None, observer)
    }

    /// [`encode`](Self::encode) with training-time dropout.
    pub fn encode_with(
        &self,
        plan: &Plan,
        input: &BertInput,
        dropout: Option<Arc<DropoutRng>>,
        observer: &mut dyn Observer,
    ) -> Result<Tensor<3>, BertError> {
        let (h, ctx) = self.embed_with(input, dropout)?;
        observer.observe(painters::ObservePoint::Embedding, &h);
        Ok(painters::exec::run(
            plan,
            &self.layers,
            h,
            &ctx,
            None,
            observer,
        )?)
    }

    /// MLM logits `[batch, seq, vocab]` from a last hidden state; None without an MLM head.
    pub fn mlm_logits(&self, hidden: Tensor<3>) -> Option<Tensor<3>> {
        let w = self.embeddings.word_embeddings.weight.val();
        self.mlm.as_ref().map(|m| m.forward(hidden, w))
    }

    /// The tanh pooler's output `[batch, hidden]`; None when the checkpoint has no pooler.
    pub fn pooled(&self, hidden: Tensor<3>) -> Option<Tensor<2>> {
        self.pooler.as_ref().map(|p| p.forward(hidden))
    }
}

impl Transformer for BertModel {
    type Block = BertLayer;
    type Input = BertInput;
    type Error = BertError;

    fn blocks(&self) -> &[BertLayer] {
        &self.layers
    }

    fn embed(
        &self,
        input: &BertInput,
        past_len: usize,
    ) -> Result<(Tensor<3>, BertContext), BertError> {
        if past_len != 0 {
            return Err(BertError::Unsupported(
                "BERT is a bidirectional encoder: it has no incremental (cached) forward".into(),
            ));
        }
        self.embed_with(input, None)
    }

    fn head(&self, hidden: Tensor<3>, _observer: &mut dyn Observer) -> Tensor<3> {
        match &self.mlm {
            Some(m) => m.forward(hidden, self.embeddings.word_embeddings.weight.val()),
            None => hidden,
        }
    }

    /// Like the provided method, but a cache is refused up front rather than silently unused.
    fn forward(
        &self,
        plan: &Plan,
        input: &BertInput,
        cache: Option<&mut KvCache>,
        observer: &mut dyn Observer,
    ) -> Result<Tensor<3>, BertError> {
        if cache.is_some() {
            return Err(BertError::Unsupported(
                "BERT is a bidirectional encoder: it keeps no KV cache".into(),
            ));
        }
        let h = self.encode(plan, input, observer)?;
        Ok(self.head(h, observer))
    }
}
