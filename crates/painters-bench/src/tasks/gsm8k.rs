//! `gsm8k` (lm-eval `gsm8k.yaml`, version 3.0): 5-shot from the train split,
//! `"Question: {question}\nAnswer:"`, greedy generation until `"Question:"`, `"</s>"` or
//! `"<|im_end|>"` (at most 256 tokens), scored by exact match of the extracted number under two
//! filters: `strict-match` (`#### N`) and `flexible-extract` (the last number in the output).
//!
//! Few-shot exemplars: lm-eval draws them with `random.Random(1234).sample(train, 5)`, one draw
//! per test document in document order, from one generator shared by the whole run. We replay
//! CPython's Mersenne Twister and `sample` exactly, so document i gets the same five exemplars
//! (in the same order) as in lm-eval with its default `--fewshot_random_seed`, with or without
//! `--limit`.

use std::path::Path;
use std::sync::LazyLock;

use painters::rng::PythonRandom;
use regex::Regex;
use serde_json::json;

use super::data::{Row, find_file, read_jsonl};
use super::{DataError, Doc, Gold, Loaded, MetricSpec, Outcome, Task, TaskInfo, take};
use crate::requests::{Request, Response};
use crate::score::{Aggregation, Item, exact_match, regex_extract};

pub const STOP: [&str; 3] = ["Question:", "</s>", "<|im_end|>"];
pub const MAX_GEN_TOKS: usize = 256;
pub const FEWSHOT_SEED: i128 = 1234;

fn re(pattern: &str) -> Regex {
    // infallible: only called with this file's constant patterns, each compiled by the task tests.
    Regex::new(pattern).expect("constant regex")
}

static STRICT: LazyLock<Regex> = LazyLock::new(|| re(r"#### (\-?[0-9\.\,]+)"));
static FLEXIBLE: LazyLock<Regex> = LazyLock::new(|| re(r"(-?[$0-9.,]{2,})|(-?[0-9]+)"));
/// `regexes_to_ignore` of the exact_match metric, applied in this order.
static IGNORE: LazyLock<Vec<Regex>> =
    LazyLock::new(|| [",", r"\$", r"(?s).*#### ", r"\.$"].map(re).to_vec());

pub struct Gsm8k {
    pub num_fewshot: usize,
}

impl Default for Gsm8k {
    fn default() -> Self {
        Gsm8k { num_fewshot: 5 }
    }
}

/// CPython's `random.sample(range(n), k)` (3.11+): the pool algorithm for small populations, the
/// rejection set otherwise.
pub fn python_sample(rng: &mut PythonRandom, n: usize, k: usize) -> Vec<usize> {
    let k = k.min(n);
    let mut setsize = 21usize;
    if k > 5 {
        // 4 ** ceil(log(3k, 4))
        setsize += 4usize.pow((3.0 * k as f64).log(4.0).ceil() as u32);
    }
    let below = |rng: &mut PythonRandom, m: usize| rng.randbelow(m as u32) as usize;
    if n <= setsize {
        let mut pool: Vec<usize> = (0..n).collect();
        (0..k)
            .map(|i| {
                let j = below(rng, n - i);
                let picked = pool[j];
                pool[j] = pool[n - i - 1];
                picked
            })
            .collect()
    } else {
        let mut out: Vec<usize> = Vec::with_capacity(k);
        for _ in 0..k {
            let mut j = below(rng, n);
            while out.contains(&j) {
                j = below(rng, n);
            }
            out.push(j);
        }
        out
    }
}

/// lm-eval's `doc_to_text`.
pub fn question(q: &str) -> String {
    format!("Question: {q}\nAnswer:")
}

/// The few-shot prompt: each exemplar as `question + " " + answer + "\n\n"`, then the question.
pub fn prompt(exemplars: &[(&str, &str)], q: &str) -> String {
    let mut s = String::new();
    for (eq, ea) in exemplars {
        s.push_str(&question(eq));
        s.push(' ');
        s.push_str(ea);
        s.push_str("\n\n");
    }
    s.push_str(&question(q));
    s
}

/// `(strict-match, flexible-extract)` answers extracted from a generation.
pub fn extract(generation: &str) -> (String, String) {
    (
        regex_extract(&STRICT, generation, 0),
        regex_extract(&FLEXIBLE, generation, -1),
    )
}

/// lm-eval's exact_match for gsm8k: the regexes to ignore, then case-insensitive equality. The
/// reference is the full answer; `(?s).*#### ` reduces it to the final number.
pub fn is_correct(extracted: &str, answer: &str) -> bool {
    exact_match(extracted, answer, &IGNORE, true)
}

fn qa(row: &Row) -> Result<(String, String), DataError> {
    Ok((
        row.str("question")?.to_string(),
        row.str("answer")?.to_string(),
    ))
}

/// The prompt settings every task built on GSM8K shares (lm-eval's gsm8k.yaml), then `config`'s
/// own entries, in that order.
fn with_prompt_config(config: serde_json::Value) -> serde_json::Value {
    let mut merged = json!({
        "doc_to_text": "Question: {{question}}\\nAnswer:",
        "doc_to_target": "{{answer}}",
        "fewshot_split": "train",
        "fewshot_config": {"sampler": "default", "seed": FEWSHOT_SEED},
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
    });
    if let (Some(map), serde_json::Value::Object(own)) = (merged.as_object_mut(), config) {
        map.extend(own);
    }
    merged
}

/// The test documents with their few-shot prompts (the same exemplars for every task built on
/// GSM8K): `doc(row, id, prompt, question, answer)` makes each document.
fn load_docs(
    data_dir: &Path,
    limit: Option<usize>,
    num_fewshot: usize,
    doc: impl Fn(&Row, usize, String, &str, &str) -> Result<Doc, DataError>,
) -> Result<Loaded, DataError> {
    let test_path = find_file(
        "gsm8k",
        data_dir,
        &["gsm8k/test.jsonl", "gsm8k/test.jsonl.gz"],
    )?;
    let train_path = find_file(
        "gsm8k",
        data_dir,
        &["gsm8k/train.jsonl", "gsm8k/train.jsonl.gz"],
    )?;
    let train = read_jsonl(&train_path)?
        .iter()
        .map(qa)
        .collect::<Result<Vec<_>, _>>()?;
    let rows = read_jsonl(&test_path)?;
    let total = rows.len();
    let mut rng = PythonRandom::new(FEWSHOT_SEED);
    let mut docs = Vec::new();
    for (id, row) in take(rows, limit).iter().enumerate() {
        let (q, answer) = qa(row)?;
        let shots: Vec<(&str, &str)> = python_sample(&mut rng, train.len(), num_fewshot)
            .into_iter()
            .map(|i| (train[i].0.as_str(), train[i].1.as_str()))
            .collect();
        docs.push(doc(row, id, prompt(&shots, &q), &q, &answer)?);
    }
    Ok(Loaded {
        path: test_path,
        total,
        docs,
    })
}

impl Task for Gsm8k {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "gsm8k",
            version: 3.0,
            output_type: "generate_until",
            num_fewshot: self.num_fewshot,
            filters: vec!["strict-match", "flexible-extract"],
            metrics: vec![MetricSpec::new("exact_match", Aggregation::Mean, true)],
            config: with_prompt_config(json!({
                "generation_kwargs": {"until": STOP, "do_sample": false, "max_gen_toks": MAX_GEN_TOKS},
                "filter_list": [
                    {"name": "strict-match", "regex_pattern": STRICT.as_str(), "group_select": 0},
                    {"name": "flexible-extract", "regex_pattern": FLEXIBLE.as_str(), "group_select": -1},
                ],
                "metric_kwargs": {"ignore_case": true, "regexes_to_ignore": [",", "\\$", "(?s).*#### ", "\\.$"]},
                "test_split": "test",
            })),
        }
    }

    fn load(&self, data_dir: &Path, limit: Option<usize>) -> Result<Loaded, DataError> {
        load_docs(
            data_dir,
            limit,
            self.num_fewshot,
            |row, id, context, q, answer| {
                Ok(Doc {
                    id,
                    line: row.line,
                    requests: vec![Request::GenerateUntil {
                        context,
                        until: STOP.map(String::from).to_vec(),
                        max_gen_toks: MAX_GEN_TOKS,
                    }],
                    gold: Gold::Answer(answer.to_string()),
                    fields: json!({"question": q, "answer": answer}),
                })
            },
        )
    }

    fn process(&self, doc: &Doc, responses: &[Response]) -> Outcome {
        let generated = match responses.first() {
            Some(Response::Generated(s)) => s.as_str(),
            _ => "",
        };
        let answer = match &doc.gold {
            Gold::Answer(a) => a.as_str(),
            _ => "",
        };
        let (strict, flexible) = extract(generated);
        let score = |x: &str| Item::new(f64::from(u8::from(is_correct(x, answer))));
        Outcome {
            metrics: vec![
                ("strict-match", "exact_match", score(&strict)),
                ("flexible-extract", "exact_match", score(&flexible)),
            ],
            filtered: json!({"strict-match": strict, "flexible-extract": flexible}),
        }
    }
}

/// `gsm8k_ll`: GSM8K scored by log-likelihood, for models too small to solve it by generation
/// (SmolLM2-135M's `gsm8k` exact match is 0.00–0.01, so no schedule can be seen to lose anything
/// there). Not an lm-eval task; painters' own. Same documents and 5-shot prompts as `gsm8k`. Two
/// requests per document:
///
/// * the gold solution after the prompt (`" " + answer`): `word_perplexity` of it, per
///   whitespace-separated word of the solution, how well the schedule still follows worked
///   arithmetic;
/// * the final number after the prompt and the gold reasoning up to `"#### "`: `acc` is whether
///   greedy decoding gives exactly that number, i.e. whether the schedule still carries the
///   reasoning's result to the answer.
pub struct Gsm8kLl {
    pub num_fewshot: usize,
}

impl Default for Gsm8kLl {
    fn default() -> Self {
        Gsm8kLl { num_fewshot: 5 }
    }
}

/// The gold answer cut before its final number: `("reasoning…\n#### ", "72")`. None when the
/// answer has no `"#### "` marker or nothing after it.
pub fn split_answer(answer: &str) -> Option<(&str, &str)> {
    let at = answer.rfind("#### ")? + "#### ".len();
    let (reasoning, number) = answer.split_at(at);
    (!number.trim().is_empty()).then_some((reasoning, number))
}

impl Task for Gsm8kLl {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "gsm8k_ll",
            version: 1.0,
            output_type: "loglikelihood",
            num_fewshot: self.num_fewshot,
            filters: vec!["none"],
            metrics: vec![
                MetricSpec::new("acc", Aggregation::Mean, true),
                MetricSpec::new("word_perplexity", Aggregation::WeightedPerplexity, false),
            ],
            config: with_prompt_config(json!({
                "requests": [
                    "loglikelihood(prompt, ' ' + answer): word_perplexity",
                    "loglikelihood(prompt + ' ' + answer up to '#### ', final number): acc (greedy)",
                ],
                "test_split": "test",
            })),
        }
    }

    fn load(&self, data_dir: &Path, limit: Option<usize>) -> Result<Loaded, DataError> {
        load_docs(
            data_dir,
            limit,
            self.num_fewshot,
            |row, id, context, q, answer| {
                let (reasoning, number) =
                    split_answer(answer).ok_or_else(|| DataError::Invalid {
                        path: row.path.to_path_buf(),
                        line: row.line,
                        message:
                            "field `answer` has no final \"#### N\" (gsm8k_ll scores that number)"
                                .into(),
                    })?;
                Ok(Doc {
                    id,
                    line: row.line,
                    requests: vec![
                        Request::Loglikelihood {
                            context: context.clone(),
                            continuation: format!(" {answer}"),
                        },
                        Request::Loglikelihood {
                            context: format!("{context} {reasoning}"),
                            continuation: number.to_string(),
                        },
                    ],
                    gold: Gold::Counts {
                        words: answer.split_whitespace().count(),
                        bytes: answer.len() + 1,
                    },
                    fields: json!({"question": q, "answer": answer, "target": number}),
                })
            },
        )
    }

    fn process(&self, doc: &Doc, responses: &[Response]) -> Outcome {
        let scored = |i: usize| match responses.get(i) {
            Some(Response::Loglikelihood(s)) => (s.logprob, s.greedy),
            _ => (f64::NEG_INFINITY, false),
        };
        let ((solution, _), (number, greedy)) = (scored(0), scored(1));
        let words = match doc.gold {
            Gold::Counts { words, .. } => words.max(1) as f64,
            _ => 1.0,
        };
        Outcome {
            metrics: vec![
                ("none", "acc", Item::new(f64::from(u8::from(greedy)))),
                ("none", "word_perplexity", Item::weighted(solution, words)),
            ],
            filtered: json!([[solution, false], [number, greedy]]),
        }
    }
}
