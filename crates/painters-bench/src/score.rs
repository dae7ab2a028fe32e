//! Metrics and their aggregation over documents, with the standard errors lm-eval reports.
//!
//! lm-eval's standard errors come in three kinds, and we follow each:
//! * means (acc, acc_norm, exact_match): the sample standard deviation (n − 1) over √n;
//! * `perplexity` (lambada): lm-eval bootstraps it (100 000 resamples). We use the delta method
//!   instead, `ppl · se(mean log-likelihood)`: deterministic, instant, and for n in the thousands
//!   within a few percent of the bootstrap (docs/evaluation.md);
//! * corpus-level ratios (word/byte perplexity, bits per byte): lm-eval reports no standard error
//!   (`"N/A"`), and neither do we.
//!
//! With fewer than two documents no standard error is defined; lm-eval writes `"N/A"` then too.

use regex::Regex;

/// The version of everything that turns a model's outputs into a task's scores: the tasks'
/// prompts and documents, lm-eval's tokenization rules ([`crate::requests`], [`crate::lm`]),
/// batching, metrics and their aggregation, and GLUE's fine-tuning loop and metrics. It is part of every stored result's key and every
/// checkpoint's, so a result computed by other scoring code is never reused.
///
/// **Bump it with any change that can change a score**; `tests/tasks.rs`
/// (`scoring_output_changes_only_with_the_scoring_version`) pins the digest of the scores of a
/// fixed stand-in model on fixed documents per version, and fails when they change while this
/// number does not.
///
/// | version | change |
/// |---|---|
/// | 1 | the harness as first keyed (every result before this constant existed) |
/// | 2 | Gemma 2/3: request texts encoded with BOS, as lm-eval's `HFLM` does for Gemma models |
pub const SCORING_VERSION: u32 = 2;

/// How per-document values become one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// Arithmetic mean.
    Mean,
    /// `exp(−mean(ll))` over per-document log-likelihoods.
    Perplexity,
    /// `exp(−Σ ll / Σ weight)`: per word or per byte.
    WeightedPerplexity,
    /// `−Σ ll / Σ bytes / ln 2`.
    BitsPerByte,
}

impl Aggregation {
    /// lm-eval's name for it (`configs.*.metric_list[].aggregation`).
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Mean => "mean",
            Aggregation::Perplexity => "perplexity",
            Aggregation::WeightedPerplexity => "weighted_perplexity",
            Aggregation::BitsPerByte => "bits_per_byte",
        }
    }
}

/// One document's value of one metric; `weight` is the word or byte count for weighted metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Item {
    pub value: f64,
    pub weight: f64,
}

impl Item {
    pub fn new(value: f64) -> Self {
        Item { value, weight: 1.0 }
    }
    pub fn weighted(value: f64, weight: f64) -> Self {
        Item { value, weight }
    }
}

/// An aggregated metric; `stderr` is None where lm-eval writes `"N/A"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aggregate {
    pub value: f64,
    pub stderr: Option<f64>,
}

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (divides by n − 1), as lm-eval's `sample_stddev`.
pub fn sample_stddev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() as f64 - 1.0)).sqrt()
}

/// Standard error of the mean, as lm-eval's `mean_stderr`; None below two values.
pub fn mean_stderr(xs: &[f64]) -> Option<f64> {
    (xs.len() > 1).then(|| sample_stddev(xs) / (xs.len() as f64).sqrt())
}

/// Aggregate one metric over documents.
pub fn aggregate(how: Aggregation, items: &[Item]) -> Aggregate {
    let values: Vec<f64> = items.iter().map(|i| i.value).collect();
    let total_weight: f64 = items.iter().map(|i| i.weight).sum();
    match how {
        Aggregation::Mean => Aggregate {
            value: mean(&values),
            stderr: mean_stderr(&values),
        },
        Aggregation::Perplexity => {
            let ppl = (-mean(&values)).exp();
            Aggregate {
                value: ppl,
                stderr: mean_stderr(&values).map(|se| ppl * se),
            }
        }
        Aggregation::WeightedPerplexity => Aggregate {
            value: (-values.iter().sum::<f64>() / total_weight).exp(),
            stderr: None,
        },
        Aggregation::BitsPerByte => Aggregate {
            value: -values.iter().sum::<f64>() / total_weight / std::f64::consts::LN_2,
            stderr: None,
        },
    }
}

/// Index of the largest value, the first on ties (numpy's `argmax`); None for an empty slice.
pub fn argmax(xs: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &x) in xs.iter().enumerate() {
        if best.is_none_or(|b| x > xs[b]) {
            best = Some(i);
        }
    }
    best
}

/// lm-eval's `exact_match` (HF evaluate's): delete every match of each regex in turn from both
/// strings, optionally lower-case both, then compare.
pub fn exact_match(prediction: &str, reference: &str, ignore: &[Regex], ignore_case: bool) -> bool {
    let clean = |s: &str| {
        let mut s = s.to_string();
        for re in ignore {
            s = re.replace_all(&s, "").into_owned();
        }
        if ignore_case { s.to_lowercase() } else { s }
    };
    clean(prediction) == clean(reference)
}

/// lm-eval's regex filter: all matches of `re`, the one at `group_select` (negative counts from the
/// end); of a match with several groups, the first non-empty group; stripped. `"[invalid]"` when
/// nothing matches.
pub fn regex_extract(re: &Regex, text: &str, group_select: isize) -> String {
    const FALLBACK: &str = "[invalid]";
    let matches: Vec<regex::Captures> = re.captures_iter(text).collect();
    let n = matches.len() as isize;
    let at = if group_select < 0 {
        n + group_select
    } else {
        group_select
    };
    let Some(caps) = usize::try_from(at).ok().and_then(|i| matches.get(i)) else {
        return FALLBACK.to_string();
    };
    // Python's findall: the whole match without groups, the group's text (maybe empty) with one,
    // a tuple with several.
    let picked = if caps.len() <= 2 {
        Some(caps.get(caps.len() - 1).map_or("", |m| m.as_str()))
    } else {
        (1..caps.len())
            .filter_map(|g| caps.get(g))
            .map(|m| m.as_str())
            .find(|s| !s.is_empty())
    };
    picked.map_or(FALLBACK.to_string(), |s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12 * (1.0 + b.abs())
    }

    #[test]
    fn means_and_their_standard_errors() {
        // Python: statistics.stdev([1, 0, 1, 1]) / 2 = 0.25
        let items: Vec<Item> = [1.0, 0.0, 1.0, 1.0].map(Item::new).to_vec();
        let a = aggregate(Aggregation::Mean, &items);
        assert!(
            close(a.value, 0.75) && close(a.stderr.unwrap(), 0.25),
            "{a:?}"
        );
        let one = aggregate(Aggregation::Mean, &[Item::new(1.0)]);
        assert_eq!(one.stderr, None, "lm-eval writes N/A below two documents");
    }

    #[test]
    fn perplexities_and_bits_per_byte() {
        // exp(-mean(-1, -3)) = e²; se(mean) = stdev(-1, -3)/√2 = 1, so the delta-method se is e².
        let a = aggregate(Aggregation::Perplexity, &[Item::new(-1.0), Item::new(-3.0)]);
        let e2 = 2f64.exp();
        assert!(close(a.value, e2) && close(a.stderr.unwrap(), e2), "{a:?}");
        let w = [Item::weighted(-10.0, 4.0), Item::weighted(-20.0, 6.0)];
        let p = aggregate(Aggregation::WeightedPerplexity, &w);
        assert!(close(p.value, 3f64.exp()) && p.stderr.is_none());
        let b = aggregate(Aggregation::BitsPerByte, &w);
        assert!(close(b.value, 3.0 / std::f64::consts::LN_2) && b.stderr.is_none());
    }

    #[test]
    fn argmax_and_regex_extraction_follow_numpy_and_python() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), Some(1));
        assert_eq!(argmax(&[]), None);
        // One group that matched empty: Python's findall gives "" (not the fallback).
        let re = Regex::new(r"a(b*)").unwrap();
        assert_eq!(regex_extract(&re, "xa", 0), "");
        assert_eq!(regex_extract(&re, "ab abb", -1), "bb");
        assert_eq!(regex_extract(&re, "zzz", 0), "[invalid]");
        let ignore = [Regex::new(",").unwrap()];
        assert!(exact_match("1,000", "1000", &ignore, false));
        assert!(exact_match("ABC", "abc", &[], true) && !exact_match("ABC", "abc", &[], false));
    }
}
