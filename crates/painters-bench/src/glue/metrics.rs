//! The GLUE metrics, computed as scikit-learn / SciPy compute them (which is what HF `evaluate`'s
//! `glue` metric calls): accuracy, binary F1 of the positive class 1, Matthews correlation,
//! Pearson's r, and Spearman's ρ with tied values given their average rank.
//!
//! Undefined cases follow scikit-learn where it returns a number (F1 and MCC are 0 when their
//! denominator is 0); a correlation of a constant series has no value and is `None` (SciPy: NaN).
//!
//! [`GlueMetrics::compute`] picks the ones a task reports.

use serde::Serialize;

use crate::glue::task::GlueTask;

/// Fraction of positions where `pred == label`; 0 for empty input.
pub fn accuracy<T: PartialEq>(preds: &[T], labels: &[T]) -> f64 {
    let n = preds.len().min(labels.len());
    if n == 0 {
        return 0.0;
    }
    let hits = preds.iter().zip(labels).filter(|(p, l)| p == l).count();
    hits as f64 / n as f64
}

/// The binary confusion counts `(tp, fp, fn, tn)` with class 1 as positive.
fn confusion(preds: &[usize], labels: &[usize]) -> (f64, f64, f64, f64) {
    let (mut tp, mut fp, mut fn_, mut tn) = (0.0, 0.0, 0.0, 0.0);
    for (&p, &l) in preds.iter().zip(labels) {
        match (p == 1, l == 1) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            (false, false) => tn += 1.0,
        }
    }
    (tp, fp, fn_, tn)
}

/// F1 of the positive class 1 (scikit-learn's `f1_score(average="binary")`): `2tp / (2tp+fp+fn)`,
/// 0 when there are no positives predicted nor present.
pub fn f1_binary(preds: &[usize], labels: &[usize]) -> f64 {
    let (tp, fp, fn_, _) = confusion(preds, labels);
    let denom = 2.0 * tp + fp + fn_;
    if denom == 0.0 { 0.0 } else { 2.0 * tp / denom }
}

/// Matthews correlation coefficient of two binary labelings (CoLA's metric); 0 when a row or
/// column of the confusion matrix is empty, as scikit-learn returns.
pub fn matthews_corrcoef(preds: &[usize], labels: &[usize]) -> f64 {
    let (tp, fp, fn_, tn) = confusion(preds, labels);
    let denom = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (tp * tn - fp * fn_) / denom
    }
}

/// Pearson's r; `None` for fewer than two pairs or a constant series.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let (x, y) = (&x[..n], &y[..n]);
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// 1-based ranks, tied values sharing the average of the ranks they span (SciPy's
/// `rankdata(method="average")`). NaNs sort last.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && x[order[j]] == x[order[i]] {
            j += 1;
        }
        // Positions i..j (0-based) hold ranks i+1..=j; their mean is (i + 1 + j) / 2.
        let rank = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = rank;
        }
        i = j;
    }
    ranks
}

/// Spearman's ρ: Pearson's r of the average ranks; `None` where that is undefined.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    pearson(&average_ranks(&x[..n]), &average_ranks(&y[..n]))
}

/// The GLUE metrics of one task; the ones that do not apply are `None`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GlueMetrics {
    pub examples: usize,
    /// Mean loss (cross-entropy, or MSE for STS-B).
    pub loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matthews_correlation: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pearson: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spearmanr: Option<f64>,
}

impl GlueMetrics {
    /// The metrics of `task` from predictions (class index, or the regression value) and labels.
    pub fn compute(task: GlueTask, preds: &[f64], labels: &[f64], loss: f64) -> Self {
        let mut m = GlueMetrics {
            examples: labels.len(),
            loss,
            ..Default::default()
        };
        if task == GlueTask::Stsb {
            m.pearson = pearson(preds, labels);
            m.spearmanr = spearman(preds, labels);
            return m;
        }
        let p: Vec<usize> = preds.iter().map(|&x| x.max(0.0) as usize).collect();
        let l: Vec<usize> = labels.iter().map(|&x| x.max(0.0) as usize).collect();
        m.accuracy = Some(accuracy(&p, &l));
        match task {
            GlueTask::Cola => {
                m.matthews_correlation = Some(matthews_corrcoef(&p, &l));
            }
            GlueTask::Mrpc | GlueTask::Qqp => m.f1 = Some(f1_binary(&p, &l)),
            _ => {}
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glue::task::PAPER_TASKS;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn accuracy_counts_matches() {
        assert!(close(accuracy(&[1, 0, 1, 1], &[1, 1, 1, 0]), 0.5));
        assert!(close(accuracy::<usize>(&[], &[]), 0.0));
    }

    #[test]
    fn f1_by_hand() {
        // tp = 2 (pos 0, 2), fp = 1 (pos 3), fn = 1 (pos 1): F1 = 4 / (4 + 1 + 1) = 2/3.
        assert!(close(
            f1_binary(&[1, 0, 1, 1, 0], &[1, 1, 1, 0, 0]),
            2.0 / 3.0
        ));
        assert!(close(f1_binary(&[1, 1], &[1, 1]), 1.0));
        // No positive anywhere: scikit-learn returns 0 (with a warning).
        assert!(close(f1_binary(&[0, 0], &[0, 0]), 0.0));
    }

    #[test]
    fn matthews_by_hand() {
        // tp=2, fp=1, fn=1, tn=1: (2 - 1) / sqrt(3 * 3 * 2 * 2) = 1/6.
        assert!(close(
            matthews_corrcoef(&[1, 0, 1, 1, 0], &[1, 1, 1, 0, 0]),
            1.0 / 6.0
        ));
        assert!(close(matthews_corrcoef(&[1, 0, 1, 0], &[1, 0, 1, 0]), 1.0));
        assert!(close(matthews_corrcoef(&[0, 1, 0, 1], &[1, 0, 1, 0]), -1.0));
        // A constant prediction: an empty confusion row, MCC 0 as in scikit-learn.
        assert!(close(matthews_corrcoef(&[1, 1, 1], &[1, 0, 1]), 0.0));
    }

    #[test]
    fn pearson_by_hand() {
        // x = 1,2,3; y = 2,4,7: mean 2 and 13/3; sxy = 5, sxx = 2, syy = 38/3 → 5 / sqrt(76/3).
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]).unwrap();
        assert!(close(r, 5.0 / (76.0f64 / 3.0).sqrt()));
        assert!(close(pearson(&[1.0, 2.0], &[5.0, 3.0]).unwrap(), -1.0));
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0], &[1.0]), None);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 30.0, 20.0, 20.0]),
            vec![1.5, 4.0, 1.5, 6.0, 4.0, 4.0]
        );
        assert_eq!(average_ranks(&[3.0, 1.0, 2.0]), vec![3.0, 1.0, 2.0]);
    }

    #[test]
    fn spearman_with_ties_by_hand() {
        // Monotone but not linear: ρ = 1 while r < 1.
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [1.0, 4.0, 9.0, 100.0];
        assert!(close(spearman(&x, &y).unwrap(), 1.0));
        assert!(pearson(&x, &y).unwrap() < 0.99);
        // x = 1,2,2,3 → ranks 1, 2.5, 2.5, 4; y = 1,3,2,4 → ranks 1,3,2,4.
        // Centered: x' = -1.5, 0, 0, 1.5; y' = -1.5, .5, -.5, 1.5; sxy = 4.5, sxx = 4.5, syy = 5.
        let rho = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!(close(rho, 4.5 / (4.5f64 * 5.0).sqrt()));
    }

    #[test]
    fn metrics_per_task() {
        let preds = [1.0, 0.0, 1.0, 1.0, 0.0];
        let labels = [1.0, 1.0, 1.0, 0.0, 0.0];
        let cola = GlueMetrics::compute(GlueTask::Cola, &preds, &labels, 0.0);
        assert!((cola.matthews_correlation.unwrap() - 1.0 / 6.0).abs() < 1e-12);
        let mrpc = GlueMetrics::compute(GlueTask::Mrpc, &preds, &labels, 0.0);
        assert!((mrpc.accuracy.unwrap() - 0.6).abs() < 1e-12);
        assert!((mrpc.f1.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        let rte = GlueMetrics::compute(GlueTask::Rte, &preds, &labels, 0.0);
        assert_eq!((rte.f1, rte.matthews_correlation), (None, None));
        let sts = GlueMetrics::compute(GlueTask::Stsb, &[1.0, 2.0, 3.0], &[1.0, 4.0, 9.0], 0.0);
        assert!((sts.spearmanr.unwrap() - 1.0).abs() < 1e-12);
        assert!(sts.accuracy.is_none());
        for t in PAPER_TASKS {
            assert!(t.jsonl_fields().is_ok());
            assert_eq!(GlueTask::from_name(t.name()), Some(t));
        }
    }
}
