//! `wikitext` (lm-eval `wikitext.yaml`, version 2.0): WikiText-2 raw test, one document per article,
//! each detokenized and scored whole with rolling log-likelihood. word_perplexity, byte_perplexity and
//! bits_per_byte count words and bytes of the *original* article text, as lm-eval does.
//!
//! lm-eval reads HF `EleutherAI/wikitext_document_level`, which cuts the raw file into articles at
//! lines that are top-level headings (`= Title =`, after folding `= =` into `==`). We cut our
//! `test.txt` by the same rule. Our file lacks the raw file's blank lines (see data/wikitext2/README.md),
//! so articles hold fewer newlines than lm-eval's, which shifts byte counts and scores slightly.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use super::data::{DataError, find_file, read_text};
use super::{Doc, Gold, Loaded, MetricSpec, Outcome, Task, TaskInfo, take};
use crate::requests::{Request, Response};
use crate::score::{Aggregation, Item};

pub struct Wikitext;

fn re(pattern: &str) -> Regex {
    // infallible: only called with this file's constant patterns, each compiled by the task tests.
    Regex::new(pattern).expect("constant regex")
}

static WORD_SPLIT: LazyLock<Regex> = LazyLock::new(|| re(r"\s+"));

/// Whether a raw line starts a new article (the document-level dataset's rule).
pub fn is_article_heading(line: &str) -> bool {
    let folded = line.replace("= = =", "===").replace("= =", "==");
    let t = folded.trim();
    t.starts_with("= ") && t.ends_with(" =")
}

/// The raw text cut into articles: `(first line number, text)`, each text running from its heading
/// line up to the next heading, newlines included. Text before the first heading (none in
/// WikiText) is an article of its own if it is not blank.
pub fn articles(raw: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut current = (1, String::new());
    for (i, line) in raw.split_inclusive('\n').enumerate() {
        if is_article_heading(line) && !current.1.is_empty() {
            let done = std::mem::replace(&mut current, (i + 1, String::new()));
            if !done.1.trim().is_empty() {
                out.push(done);
            }
        }
        current.1.push_str(line);
    }
    if !current.1.trim().is_empty() {
        out.push(current);
    }
    out
}

/// lm-eval's `wikitext_detokenizer`, step by step in its order.
pub fn detokenize(page: &str) -> String {
    static STEPS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            // The quirky pattern is lm-eval's own: it only ever matches literal slashes.
            (r"/' [0-9]/", "/'[0-9]/"),
            (r"\(\s*([^\)]*?)\s*\)", "(${1})"),
            (r"\[\s*([^\]]*?)\s*\]", "[${1}]"),
            (r"\{\s*([^}]*?)\s*\}", "{${1}}"),
            (r#""\s*([^"]*?)\s*""#, "\"${1}\""),
            (r"'\s*([^']*?)\s*'", "'${1}'"),
        ]
        .into_iter()
        .map(|(p, r)| (re(p), r))
        .collect()
    });
    let sub = |s: String, k: usize| STEPS[k].0.replace_all(&s, STEPS[k].1).into_owned();
    let mut s = page.replace("s '", "s'");
    s = sub(s, 0);
    for (from, to) in [
        (" @-@ ", "-"),
        (" @,@ ", ","),
        (" @.@ ", "."),
        (" : ", ": "),
        (" ; ", "; "),
        (" . ", ". "),
        (" ! ", "! "),
        (" ? ", "? "),
        (" , ", ", "),
    ] {
        s = s.replace(from, to);
    }
    for k in 1..=5 {
        s = sub(s, k);
    }
    for (from, to) in [
        ("= = = =", "===="),
        ("= = =", "==="),
        ("= =", "=="),
        (" \u{b0} ", "\u{b0}"),
        (" \n", "\n"),
        ("\n ", "\n"),
        (" N ", " 1 "),
        (" 's", "'s"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// Words as lm-eval counts them: `len(re.split(r"\s+", page))`, empty ends included.
pub fn word_count(page: &str) -> usize {
    WORD_SPLIT.split(page).count()
}

impl Task for Wikitext {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "wikitext",
            version: 2.0,
            output_type: "loglikelihood_rolling",
            num_fewshot: 0,
            filters: vec!["none"],
            metrics: vec![
                MetricSpec::new("word_perplexity", Aggregation::WeightedPerplexity, false),
                MetricSpec::new("byte_perplexity", Aggregation::WeightedPerplexity, false),
                MetricSpec::new("bits_per_byte", Aggregation::BitsPerByte, false),
            ],
            config: json!({
                "dataset": "wikitext-2-raw-v1 test, cut into articles at top-level headings",
                "doc_to_target": "wikitext_detokenizer(page)",
                "test_split": "test",
            }),
        }
    }

    fn load(&self, data_dir: &Path, limit: Option<usize>) -> Result<Loaded, DataError> {
        let path = find_file(
            "wikitext",
            data_dir,
            &[
                "wikitext2/test.txt",
                "wikitext/test.txt",
                "wikitext2/wiki.test.raw",
            ],
        )?;
        let pages = articles(&read_text(&path)?);
        if pages.is_empty() {
            return Err(DataError::Empty { path });
        }
        let total = pages.len();
        let docs = take(pages, limit)
            .into_iter()
            .enumerate()
            .map(|(id, (line, page))| Doc {
                id,
                line,
                requests: vec![Request::LoglikelihoodRolling {
                    text: detokenize(&page),
                }],
                gold: Gold::Counts {
                    words: word_count(&page),
                    bytes: page.len(),
                },
                fields: json!({"page": page}),
            })
            .collect();
        Ok(Loaded { path, total, docs })
    }

    fn process(&self, doc: &Doc, responses: &[Response]) -> Outcome {
        let ll = match responses.first() {
            Some(Response::Rolling(x)) => *x,
            _ => f64::NEG_INFINITY,
        };
        let (words, bytes) = match doc.gold {
            Gold::Counts { words, bytes } => (words as f64, bytes as f64),
            _ => (1.0, 1.0),
        };
        Outcome {
            metrics: vec![
                ("none", "word_perplexity", Item::weighted(ll, words)),
                ("none", "byte_perplexity", Item::weighted(ll, bytes)),
                ("none", "bits_per_byte", Item::weighted(ll, bytes)),
            ],
            filtered: json!(ll),
        }
    }
}
