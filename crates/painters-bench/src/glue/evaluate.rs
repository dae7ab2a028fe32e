//! A fine-tuned classifier's predictions on a GLUE split, and their GLUE metrics.

use painters::Plan;
use painters_bert::{BertError, BertForSequenceClassification, to_host};

use crate::glue::dataset::Dataset;
use crate::glue::metrics::GlueMetrics;
use crate::glue::task::GlueTask;

/// Predictions of `model` under `plan` (argmax class as a float, or the regression output), the
/// labels, and the mean loss, without dropout.
pub fn predict(
    model: &BertForSequenceClassification,
    plan: &Plan,
    data: &Dataset,
    batch_size: usize,
) -> Result<(Vec<f64>, Vec<f64>, f64), BertError> {
    data.check_labels(model.num_labels)?;
    let (mut preds, mut labels, mut loss_sum) = (Vec::new(), Vec::new(), 0.0);
    let rows: Vec<usize> = (0..data.len()).collect();
    for chunk in rows.chunks(batch_size.max(1)) {
        let (input, y) = data.batch(chunk)?;
        let logits = model.forward(plan, &input, None, &mut ())?;
        let loss = to_host(model.loss(logits.clone(), &y)?)?;
        loss_sum += loss.first().copied().unwrap_or(f32::NAN) as f64 * chunk.len() as f64;
        for row in to_host(logits)?.chunks(model.num_labels.max(1)) {
            preds.push(match model.is_regression() {
                true => row.first().copied().unwrap_or(f32::NAN) as f64,
                false => argmax(row) as f64,
            });
        }
        labels.extend(y.iter().map(|&v| v as f64));
    }
    let loss = loss_sum / labels.len().max(1) as f64;
    Ok((preds, labels, loss))
}

/// [`predict`] then [`GlueMetrics::compute`].
pub fn evaluate_glue(
    model: &BertForSequenceClassification,
    plan: &Plan,
    data: &Dataset,
    task: GlueTask,
    batch_size: usize,
) -> Result<GlueMetrics, BertError> {
    let (preds, labels, loss) = predict(model, plan, data, batch_size)?;
    Ok(GlueMetrics::compute(task, &preds, &labels, loss))
}

fn argmax(v: &[f32]) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &x) in v.iter().enumerate() {
        if x > best.1 {
            best = (i, x);
        }
    }
    best.0
}
