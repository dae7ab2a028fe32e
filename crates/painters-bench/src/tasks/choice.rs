//! lm-eval's `multiple_choice` output type: one log-likelihood request per choice, the prediction is
//! the choice with the highest log-likelihood (`acc`) or the highest log-likelihood per character
//! of the choice text (`acc_norm`).

use serde_json::json;

use super::{Gold, MetricSpec, Outcome};
use crate::requests::{Request, Response};
use crate::score::{Aggregation, Item, argmax};

/// lm-eval's `target_delimiter`: what goes between the context and each choice.
pub const TARGET_DELIMITER: &str = " ";

pub const ACC: MetricSpec = MetricSpec::new("acc", Aggregation::Mean, true);
pub const ACC_NORM: MetricSpec = MetricSpec::new("acc_norm", Aggregation::Mean, true);

/// One request per choice: `(context, " " + choice)`.
pub fn requests(context: &str, choices: &[String]) -> Vec<Request> {
    choices
        .iter()
        .map(|c| Request::Loglikelihood {
            context: context.to_string(),
            continuation: format!("{TARGET_DELIMITER}{c}"),
        })
        .collect()
}

/// One request per context, all with the same continuation (winogrande's partial evaluation).
pub fn requests_per_context(contexts: &[String], continuation: &str) -> Vec<Request> {
    contexts
        .iter()
        .map(|c| Request::Loglikelihood {
            context: c.clone(),
            continuation: format!("{TARGET_DELIMITER}{continuation}"),
        })
        .collect()
}

/// The gold of a multiple-choice document. acc_norm divides by the length of the choice *text* in
/// characters (Python `len`, code points), without the delimiter, as lm-eval does.
pub fn gold(index: usize, choices: &[String]) -> Gold {
    Gold::Choice {
        index,
        lengths: choices.iter().map(|c| c.chars().count()).collect(),
    }
}

/// acc (and acc_norm when asked) of one document.
pub fn outcome(gold: &Gold, responses: &[Response], with_norm: bool) -> Outcome {
    let scored: Vec<(f64, bool)> = responses
        .iter()
        .map(|r| match r {
            Response::Loglikelihood(s) => (s.logprob, s.greedy),
            _ => (f64::NEG_INFINITY, false),
        })
        .collect();
    let lls: Vec<f64> = scored.iter().map(|s| s.0).collect();
    let (index, lengths) = match gold {
        Gold::Choice { index, lengths } => (Some(*index), lengths.as_slice()),
        _ => (None, &[][..]),
    };
    let hit = |pred: Option<usize>| f64::from(u8::from(pred.is_some() && pred == index));
    let mut metrics = vec![("none", "acc", Item::new(hit(argmax(&lls))))];
    if with_norm {
        let normed: Vec<f64> = lls
            .iter()
            .zip(lengths)
            .map(|(ll, &n)| ll / n.max(1) as f64)
            .collect();
        metrics.push(("none", "acc_norm", Item::new(hit(argmax(&normed)))));
    }
    Outcome {
        metrics,
        filtered: json!(scored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Scored;

    fn ll(x: f64) -> Response {
        Response::Loglikelihood(Scored {
            logprob: x,
            greedy: false,
        })
    }

    #[test]
    fn acc_norm_divides_by_choice_characters() {
        // Raw: choice 0 wins (-4 > -6). Per character: -4/2 = -2 vs -6/6 = -1, choice 1 wins.
        let choices = vec!["ab".to_string(), "abcdéf".to_string()];
        let g = gold(1, &choices);
        assert_eq!(
            g,
            Gold::Choice {
                index: 1,
                lengths: vec![2, 6]
            }
        );
        let o = outcome(&g, &[ll(-4.0), ll(-6.0)], true);
        assert_eq!(o.metrics[0], ("none", "acc", Item::new(0.0)));
        assert_eq!(o.metrics[1], ("none", "acc_norm", Item::new(1.0)));
    }

    #[test]
    fn ties_go_to_the_first_choice() {
        let g = gold(1, &["x".into(), "y".into()]);
        let o = outcome(&g, &[ll(-1.0), ll(-1.0)], false);
        assert_eq!(o.metrics, vec![("none", "acc", Item::new(0.0))]);
    }

    #[test]
    fn continuations_get_the_delimiter() {
        let r = requests("Q:", &["yes".into()]);
        assert_eq!(
            r,
            vec![Request::Loglikelihood {
                context: "Q:".into(),
                continuation: " yes".into()
            }]
        );
    }
}
