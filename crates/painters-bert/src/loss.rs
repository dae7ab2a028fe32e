//! The training loss of a sequence-classification head: cross-entropy over classes, or MSE for a
//! single regression output (as HF's `BertForSequenceClassification` decides from `num_labels`),
//! and the label contract behind it.

use burn::tensor::Tensor;

use crate::classify::BertForSequenceClassification;
use crate::error::{BertError, InputError};

impl BertForSequenceClassification {
    /// The training loss of `logits` (`[batch, num_labels]`): cross-entropy for classification,
    /// MSE for regression.
    pub fn loss(&self, logits: Tensor<2>, labels: &[f32]) -> Result<Tensor<1>, BertError> {
        let [b, _] = logits.dims();
        if labels.len() != b {
            return Err(InputError::Labels {
                batch: b,
                found: labels.len(),
            }
            .into());
        }
        for (i, &l) in labels.iter().enumerate() {
            check_label(i, l, self.num_labels)?;
        }
        Ok(match self.is_regression() {
            true => mse(logits, labels),
            false => cross_entropy(logits, labels),
        })
    }
}

/// A head with one output takes any finite value (regression); with more, a class index.
pub fn check_label(example: usize, label: f32, num_labels: usize) -> Result<(), InputError> {
    let ok = match num_labels {
        1 => label.is_finite(),
        n => label >= 0.0 && label.fract() == 0.0 && (label as usize) < n,
    };
    match ok {
        true => Ok(()),
        false => Err(InputError::Label {
            example,
            value: label.to_string(),
            num_labels,
        }),
    }
}

/// Mean cross-entropy of `logits` `[batch, classes]` against class indices.
fn cross_entropy(logits: Tensor<2>, labels: &[f32]) -> Tensor<1> {
    let [b, c] = logits.dims();
    let mut one_hot = vec![0.0f32; b * c];
    for (i, &l) in labels.iter().enumerate() {
        one_hot[i * c + l as usize] = 1.0;
    }
    let targets = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(one_hot, [b, c]),
        &logits.device(),
    );
    let logp = burn::tensor::activation::log_softmax(logits, 1);
    (logp * targets).sum().neg().div_scalar(b as f64)
}

/// Mean squared error of `[batch, 1]` predictions against values.
fn mse(pred: Tensor<2>, labels: &[f32]) -> Tensor<1> {
    let [b, _] = pred.dims();
    let y = Tensor::<1>::from_data(
        burn::tensor::TensorData::new(labels.to_vec(), [b]),
        &pred.device(),
    );
    (pred.reshape([b]) - y).powi_scalar(2).mean()
}
