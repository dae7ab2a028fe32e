//! HF `BertForSequenceClassification`: encoder → tanh pooler → dropout → linear. One output is
//! regression (MSE), several are classes (cross-entropy), as HF decides from `num_labels`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use painters::weights::{SafetensorsCheckpoint, TensorSource};
use painters::{Observer, Plan};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::config::BertConfig;
use crate::dropout::{DropoutRng, normal_vec};
use crate::error::BertError;
use crate::heads::BertPooler;
use crate::input::BertInput;
use crate::load::{Loader, encoder_prefix};
use crate::model::BertModel;
use crate::save::{HfTensors, write_config};

/// A BERT encoder with a pooler and a sequence-level head.
#[derive(Module, Debug)]
pub struct BertForSequenceClassification {
    pub bert: BertModel,
    /// `bert.pooler`: always present here (created fresh when the encoder had none).
    pub pooler: BertPooler,
    /// `classifier`, `[hidden] → [num_labels]`.
    pub classifier: Linear,
    pub num_labels: usize,
    pub dropout: f64,
}

/// A `[d_out, d_in]`-initialised dense layer as HF's `_init_weights` does it: weights from
/// N(0, initializer_range²), bias 0; drawn on the host so the result depends only on `rng`.
fn fresh_linear(
    rng: &mut ChaCha8Rng,
    d_in: usize,
    d_out: usize,
    std: f64,
    device: &Device,
) -> Linear {
    let w = normal_vec(rng, d_in * d_out, std);
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device)),
        bias: Some(Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

impl BertForSequenceClassification {
    /// A new head with `num_labels` outputs (1 = regression) on a pretrained encoder. A missing
    /// pooler (MLM checkpoints often have none) is created too. The new weights are a function of
    /// `seed` only. The encoder's MLM head, if any, is dropped.
    pub fn new(bert: BertModel, num_labels: usize, seed: u64) -> Result<Self, BertError> {
        if num_labels == 0 {
            return Err(BertError::Unsupported(
                "a head needs at least one label".into(),
            ));
        }
        let mut bert = bert;
        let device = bert.device();
        let cfg = bert.config().clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = cfg.hidden_size;
        let pooler = match bert.pooler.take() {
            Some(p) => p,
            None => BertPooler {
                dense: fresh_linear(&mut rng, d, d, cfg.initializer_range, &device),
            },
        };
        let classifier = fresh_linear(&mut rng, d, num_labels, cfg.initializer_range, &device);
        bert.mlm = None;
        Ok(BertForSequenceClassification {
            bert,
            pooler,
            classifier,
            num_labels,
            dropout: cfg.classifier_dropout_prob(),
        })
    }

    /// Load a saved `BertForSequenceClassification` (`bert.*`, `bert.pooler.*`, `classifier.*`).
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self, BertError> {
        let dir = dir.as_ref();
        let config = BertConfig::from_file(dir.join("config.json"))?;
        let ckpt = SafetensorsCheckpoint::open(dir)?;
        Self::from_source(&ckpt, config, device)
    }

    pub fn from_source(
        src: &dyn TensorSource,
        config: BertConfig,
        device: &Device,
    ) -> Result<Self, BertError> {
        let p = encoder_prefix(src)?;
        let d = config.hidden_size;
        let num_labels = src
            .shape("classifier.weight")
            .and_then(|s| s.first().copied())
            .ok_or_else(|| painters::weights::WeightError::Missing {
                path: src.path().to_path_buf(),
                tensor: "classifier.weight".into(),
                hint: " (not a sequence-classification checkpoint; use BertForSequenceClassification::new for a fresh head)".into(),
            })?;
        let ld = Loader {
            src,
            device,
            eps: config.layer_norm_eps,
        };
        let mut specs = Vec::new();
        for (name, out, inp) in [
            (format!("{p}pooler.dense"), d, d),
            ("classifier".to_string(), num_labels, d),
        ] {
            specs.push((format!("{name}.weight"), vec![out, inp]));
            specs.push((format!("{name}.bias"), vec![out]));
        }
        ld.check(&specs)?;
        let dropout = config.classifier_dropout_prob();
        let pooler = BertPooler {
            dense: ld.linear(&format!("{p}pooler.dense"), d, d)?,
        };
        let classifier = ld.linear("classifier", d, num_labels)?;
        let mut bert = BertModel::from_source(src, config, device)?;
        bert.pooler = None;
        Ok(BertForSequenceClassification {
            bert,
            pooler,
            classifier,
            num_labels,
            dropout,
        })
    }

    /// Whether the head is a regression head (one output, MSE loss).
    pub fn is_regression(&self) -> bool {
        self.num_labels == 1
    }

    /// Logits (or the regression value) `[batch, num_labels]` under `plan`; with `dropout`, the
    /// training-time dropout of every layer and of the head.
    pub fn forward(
        &self,
        plan: &Plan,
        input: &BertInput,
        dropout: Option<Arc<DropoutRng>>,
        observer: &mut dyn Observer,
    ) -> Result<Tensor<2>, BertError> {
        let h = self
            .bert
            .encode_with(plan, input, dropout.clone(), observer)?;
        let pooled = self.pooler.forward(h);
        let pooled = match &dropout {
            Some(rng) => rng.apply(pooled, self.dropout),
            None => pooled,
        };
        Ok(self.classifier.forward(pooled))
    }

    /// The head alone (pooler + classifier) under HF names, e.g. for a frozen-encoder run.
    pub fn head_tensors(&self, out: &mut HfTensors) -> Result<(), BertError> {
        out.linear("bert.pooler.dense", &self.pooler.dense)?;
        out.linear("classifier", &self.classifier)
    }

    /// Save the head alone as one safetensors file.
    pub fn save_head(&self, path: impl AsRef<Path>) -> Result<(), BertError> {
        let mut t = HfTensors::default();
        self.head_tensors(&mut t)?;
        t.write(path.as_ref())
    }

    /// Save as a HF `BertForSequenceClassification` directory.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), BertError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| BertError::Save {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut t = HfTensors::default();
        self.bert.hf_tensors("bert.", &mut t)?;
        self.head_tensors(&mut t)?;
        t.write(&dir.join("model.safetensors"))?;
        let mut config = self.bert.config().clone();
        config.architectures = vec!["BertForSequenceClassification".into()];
        let labels = config
            .id2label
            .take()
            .filter(|m| m.len() == self.num_labels);
        config.id2label = Some(labels.unwrap_or_else(|| {
            (0..self.num_labels)
                .map(|i| (i.to_string(), format!("LABEL_{i}")))
                .collect::<BTreeMap<_, _>>()
        }));
        config.problem_type = Some(
            match self.is_regression() {
                true => "regression",
                false => "single_label_classification",
            }
            .into(),
        );
        write_config(dir, &config)
    }
}
