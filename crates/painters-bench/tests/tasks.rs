//! Every task's document processing and metrics on small hand-checked examples, the real data
//! files, and bad data. No model runs here.
//!
//! Expected values marked "Python" were computed with CPython 3.11 (`re`, `random`) on the same
//! inputs, because those are the semantics lm-eval inherits.

use std::path::{Path, PathBuf};

use painters::rng::PythonRandom;
use painters_bench::batching::BatchOptions;
use painters_bench::eval::{EvalOptions, evaluate_task, samples_jsonl};
use painters_bench::lm::{LanguageModel, LmError, Scored, TextEncoding, TokenRequest, Tokenize};
use painters_bench::requests::{Request, Response};
use painters_bench::score::{Item, SCORING_VERSION};
use painters_bench::tasks::{self, DataError, Gold, Task, gsm8k, hellaswag, lambada, wikitext};
use sha2::{Digest, Sha256};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

/// A fresh folder with `files` (relative path, contents).
fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("painters-tasks-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn ll(x: f64) -> Response {
    Response::Loglikelihood(Scored {
        logprob: x,
        greedy: x > -1.0,
    })
}

fn load(name: &str, dir: &Path, limit: Option<usize>) -> Result<tasks::Loaded, DataError> {
    tasks::by_name(name).unwrap().load(dir, limit)
}

#[test]
fn every_task_reads_its_real_data() {
    let want = [
        ("lambada_openai", 5153),
        ("arc_easy", 2376),
        ("arc_challenge", 1172),
        ("hellaswag", 10042),
        ("winogrande", 1267),
        ("gsm8k", 1319),
        ("gsm8k_ll", 1319),
        ("wikitext", 62),
    ];
    assert_eq!(want.len(), tasks::NAMES.len());
    for (name, total) in want {
        let l = load(name, &data_dir(), Some(3)).unwrap();
        assert_eq!((l.total, l.docs.len()), (total, 3), "{name}");
        assert!(l.docs.iter().all(|d| !d.requests.is_empty()), "{name}");
    }
}

#[test]
fn arc_prompt_choices_gold_and_metrics() {
    let dir = scratch(
        "arc",
        &[(
            "arc_easy/test.jsonl",
            concat!(
                r#"{"id":"q1","question":"What is 2+2?","choices":{"label":["1","2","3"],"text":["3","four","5"]},"answerKey":"2"}"#,
                "\n"
            ),
        )],
    );
    let l = load("arc_easy", &dir, None).unwrap();
    let d = &l.docs[0];
    assert_eq!(
        d.requests[1],
        Request::Loglikelihood {
            context: "Question: What is 2+2?\nAnswer:".into(),
            continuation: " four".into()
        }
    );
    // Numeric labels: answerKey "2" is index 1. acc_norm divides by len("four") = 4, not 5.
    assert_eq!(
        d.gold,
        Gold::Choice {
            index: 1,
            lengths: vec![1, 4, 1]
        }
    );
    let arc = tasks::by_name("arc_easy").unwrap();
    // Raw: -2 wins (choice 0). Per char: -2/1, -4/4 = -1, -3/1 → choice 1.
    let o = arc.process(d, &[ll(-2.0), ll(-4.0), ll(-3.0)]);
    assert_eq!(o.metrics[0], ("none", "acc", Item::new(0.0)));
    assert_eq!(o.metrics[1], ("none", "acc_norm", Item::new(1.0)));
}

#[test]
fn hellaswag_preprocessing_both_schemas() {
    assert_eq!(
        hellaswag::preprocess("  How to tie [title] Knots [step] Loop it.  Pull  "),
        "How to tie. Knots Loop it. Pull"
    );
    assert_eq!(hellaswag::capitalize("the MAN"), "The man");
    let dir = scratch(
        "hellaswag",
        &[(
            "hellaswag/validation.jsonl",
            concat!(
                r#"{"activity_label":"Roof shingle removal","ctx_a":"A man is sitting on a roof.","ctx_b":"he","endings":["is using wrap [step] to wrap.","starts pulling up roofing."],"label":"1"}"#,
                "\n",
                r#"{"query":"Roof: A man is on a roof. he","endings":["a  b","c"],"label":0}"#,
                "\n"
            ),
        )],
    );
    let l = load("hellaswag", &dir, None).unwrap();
    assert_eq!(
        l.docs[0].requests[0],
        Request::Loglikelihood {
            context: "Roof shingle removal: A man is sitting on a roof. He".into(),
            continuation: " is using wrap to wrap.".into()
        }
    );
    assert!(matches!(l.docs[0].gold, Gold::Choice { index: 1, .. }));
    // Normalized rows are taken as they are (no second preprocessing pass).
    assert_eq!(
        l.docs[1].requests[0],
        Request::Loglikelihood {
            context: "Roof: A man is on a roof. he".into(),
            continuation: " a  b".into()
        }
    );
}

#[test]
fn winogrande_partial_evaluation() {
    let dir = scratch(
        "winogrande",
        &[(
            "winogrande/dev.jsonl",
            concat!(
                r#"{"sentence":"Sarah was better than Maria so _ got the easy cases.","option1":"Sarah","option2":"Maria","answer":"2"}"#,
                "\n",
                r#"{"context_options":["A so A","A so B"],"continuation":"won.","answer":"1"}"#,
                "\n"
            ),
        )],
    );
    let l = load("winogrande", &dir, None).unwrap();
    let want = |c: &str| Request::Loglikelihood {
        context: c.into(),
        continuation: " got the easy cases.".into(),
    };
    assert_eq!(
        l.docs[0].requests,
        vec![
            want("Sarah was better than Maria so Sarah"),
            want("Sarah was better than Maria so Maria")
        ]
    );
    assert!(matches!(l.docs[0].gold, Gold::Choice { index: 1, .. }));
    assert!(matches!(l.docs[1].gold, Gold::Choice { index: 0, .. }));
    let o = tasks::by_name("winogrande")
        .unwrap()
        .process(&l.docs[0], &[ll(-5.0), ll(-3.0)]);
    assert_eq!(o.metrics, vec![("none", "acc", Item::new(1.0))]);
}

#[test]
fn lambada_splits_on_the_last_space() {
    assert_eq!(
        lambada::split("he said \"hi\"\n\nto Shane"),
        ("he said \"hi\"\n\nto".into(), " Shane".into())
    );
    assert_eq!(lambada::split("word"), (String::new(), " word".into()));
    let t = lambada::Lambada;
    let d = &load("lambada_openai", &data_dir(), Some(1)).unwrap().docs[0];
    let o = t.process(d, &[ll(-0.5)]);
    assert_eq!(o.metrics[0], ("none", "perplexity", Item::new(-0.5)));
    assert_eq!(o.metrics[1], ("none", "acc", Item::new(1.0)));
}

#[test]
fn gsm8k_fewshot_draws_match_cpython() {
    // Python: r = random.Random(1234); [r.sample(range(7473), 5) for _ in range(3)]
    let mut r = PythonRandom::new(1234);
    let draws: Vec<Vec<usize>> = (0..3)
        .map(|_| gsm8k::python_sample(&mut r, 7473, 5))
        .collect();
    assert_eq!(
        draws,
        vec![
            vec![6374, 3610, 957, 61, 742],
            vec![7462, 6610, 4769, 286, 5501],
            vec![5677, 687, 806, 6279, 2905]
        ]
    );
    // Python: r = random.Random(1234); r.sample(range(10), 5), r.sample(range(30), 7) (pool branch)
    let mut r = PythonRandom::new(1234);
    assert_eq!(gsm8k::python_sample(&mut r, 10, 5), vec![7, 1, 0, 9, 4]);
    assert_eq!(
        gsm8k::python_sample(&mut r, 30, 7),
        vec![1, 21, 22, 2, 3, 24, 11]
    );
}

#[test]
fn gsm8k_prompt_is_five_shot_from_train() {
    let l = load("gsm8k", &data_dir(), Some(2)).unwrap();
    let Request::GenerateUntil {
        context,
        until,
        max_gen_toks,
    } = &l.docs[0].requests[0]
    else {
        panic!("gsm8k generates")
    };
    assert_eq!(until, &["Question:", "</s>", "<|im_end|>"]);
    assert_eq!(*max_gen_toks, 256);
    assert_eq!(context.matches("Question: ").count(), 6);
    assert!(
        context.ends_with("the farmers' market?\nAnswer:"),
        "{context}"
    );
    // Train line 6375 (index 6374) is the first exemplar, followed by its full answer.
    let train = std::fs::read_to_string(data_dir().join("gsm8k/train.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(train.lines().nth(6374).unwrap()).unwrap();
    let shot = format!(
        "Question: {}\nAnswer: {}\n\n",
        first["question"].as_str().unwrap(),
        first["answer"].as_str().unwrap()
    );
    assert!(context.starts_with(&shot), "{context}");
}

#[test]
fn gsm8k_filters_and_exact_match_follow_python_re() {
    // (generation, strict-match, flexible-extract), from Python's re.findall.
    let cases = [
        ("So she makes $18 every day.\n#### 18", "18", "18"),
        ("The answer is 1,000.", "[invalid]", "1,000."),
        ("He has 5 apples and 3 pears", "[invalid]", "3"),
        ("no digits here", "[invalid]", "[invalid]"),
        ("#### -3.5\n#### 7", "-3.5", "7"),
        ("costs $2.50, total $12.", "[invalid]", "$12."),
    ];
    for (g, s, f) in cases {
        assert_eq!(gsm8k::extract(g), (s.to_string(), f.to_string()), "{g:?}");
    }
    let answer = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n#### 1,018";
    assert!(gsm8k::is_correct("1018", answer));
    assert!(gsm8k::is_correct("$1,018.", answer));
    assert!(!gsm8k::is_correct("[invalid]", answer));
    let t = gsm8k::Gsm8k::default();
    let mut d = load("gsm8k", &data_dir(), Some(1)).unwrap().docs.remove(0);
    d.gold = Gold::Answer("#### 12".into());
    let o = t.process(&d, &[Response::Generated(" 5 + 7 = 12 eggs.".into())]);
    assert_eq!(
        o.metrics,
        vec![
            ("strict-match", "exact_match", Item::new(0.0)),
            ("flexible-extract", "exact_match", Item::new(1.0))
        ]
    );
}

#[test]
fn wikitext_articles_detokenizer_and_counts() {
    assert!(wikitext::is_article_heading(" = Robert Boulter = \n"));
    assert!(!wikitext::is_article_heading(" = = Career = = \n"));
    assert!(!wikitext::is_article_heading(
        " = Qualified for the next round \n"
    ));
    // Python: the lm-eval detokenizer's steps applied to the same string.
    let s = " = = Career = = \n He said \" hello \" ( 1 @,@ 000 km ) , and [ 2 ] ; it 's 5 @.@ 5 \u{b0} C . N was the cats ' toys \n";
    assert_eq!(
        wikitext::detokenize(s),
        " == Career ==\nHe said \"hello\" (1,000 km), and [2]; it's 5.5\u{b0}C. 1 was the cats' toys\n"
    );
    // Python: len(re.split(r"\s+", ...)) counts the empty ends.
    assert_eq!(
        wikitext::word_count(" = Robert = \n Hello world , it 's\n"),
        10
    );
    let l = load("wikitext", &data_dir(), None).unwrap();
    assert_eq!(l.docs.len(), 62);
    assert_eq!(
        l.docs[0].gold,
        Gold::Counts {
            words: 1093,
            bytes: 5634
        }
    );
    // (bytes: Python len(page.encode("utf-8")).)
    // Python: sha256 of every article detokenized and concatenated.
    let mut h = Sha256::new();
    for d in &l.docs {
        let Request::LoglikelihoodRolling { text } = &d.requests[0] else {
            panic!()
        };
        h.update(text.as_bytes());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "fe674718429a40e5a24ea3e461829b0325448e444fa0a065e99e613e1cd502ce"
    );
}

#[test]
fn bad_data_names_file_and_line() {
    let bad = |name: &str, rel: &str, text: &str| {
        let dir = scratch(name, &[(rel, text)]);
        let task = rel.split('/').next().unwrap();
        match load(task, &dir, None) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{name} loaded"),
        }
    };
    let ok = r#"{"question":"q","choices":{"label":["A"],"text":["a"]},"answerKey":"A"}"#;
    let e = bad(
        "json",
        "arc_easy/test.jsonl",
        &format!("{ok}\n{{not json\n"),
    );
    assert!(e.contains("test.jsonl:2: not valid JSON"), "{e}");
    let e = bad(
        "field",
        "arc_easy/test.jsonl",
        r#"{"choices":{"text":["a"]},"gold":0}"#,
    );
    assert!(
        e.contains("test.jsonl:1: field `question` is missing"),
        "{e}"
    );
    let e = bad(
        "empty",
        "arc_easy/test.jsonl",
        r#"{"question":"q","choices":{"label":[],"text":[]},"gold":0}"#,
    );
    assert!(e.contains(":1: `choices.text` has no choices"), "{e}");
    let e = bad(
        "key",
        "arc_easy/test.jsonl",
        r#"{"question":"q","choices":{"label":["A"],"text":["a"]},"answerKey":"E"}"#,
    );
    assert!(e.contains("answerKey \"E\""), "{e}");
    let e = bad(
        "label",
        "hellaswag/validation.jsonl",
        r#"{"query":"q","endings":["a","b"],"label":7}"#,
    );
    assert!(e.contains(":1: label 7 but only 2 endings"), "{e}");
    let e = bad(
        "wino",
        "winogrande/dev.jsonl",
        r#"{"sentence":"no blank","option1":"a","option2":"b","answer":"1"}"#,
    );
    assert!(e.contains("has no blank"), "{e}");
    let e = bad("blank", "arc_easy/test.jsonl", "\n\n");
    assert!(e.contains("holds no documents"), "{e}");
    let e = load("arc_easy", Path::new("/nonexistent"), None)
        .err()
        .unwrap();
    assert!(e.to_string().contains("no data for task `arc_easy`"), "{e}");
}

#[test]
fn gsm8k_ll_scores_the_gold_solution_and_its_final_number() {
    let generate = load("gsm8k", &data_dir(), Some(3)).unwrap();
    let l = load("gsm8k_ll", &data_dir(), Some(3)).unwrap();
    assert_eq!(l.total, generate.total);
    for (g, d) in generate.docs.iter().zip(&l.docs) {
        let Request::GenerateUntil { context, .. } = &g.requests[0] else {
            panic!("gsm8k generates")
        };
        let answer = d.fields["answer"].as_str().unwrap();
        let [
            Request::Loglikelihood {
                context: c1,
                continuation: solution,
            },
            Request::Loglikelihood {
                context: c2,
                continuation: number,
            },
        ] = &d.requests[..]
        else {
            panic!("two loglikelihood requests: {:?}", d.requests)
        };
        assert_eq!(c1, context, "the same prompt and exemplars as gsm8k");
        assert_eq!(solution, &format!(" {answer}"));
        assert!(c2.starts_with(&format!("{context} ")) && c2.ends_with("#### "));
        assert_eq!(format!("{}{number}", &c2[context.len() + 1..]), answer);
    }
    // Every test answer ends in "#### N".
    assert_eq!(
        load("gsm8k_ll", &data_dir(), None).unwrap().docs.len(),
        1319
    );
    // Test line 1: Janet's ducks, "#### 18".
    assert_eq!(l.docs[0].fields["target"], "18");
    let Gold::Counts { words, .. } = l.docs[0].gold else {
        panic!("word counts")
    };
    let task = tasks::by_name("gsm8k_ll").unwrap();
    let o = task.process(&l.docs[0], &[ll(-30.0), ll(-0.5)]);
    assert_eq!(o.metrics[0], ("none", "acc", Item::new(1.0)));
    assert_eq!(
        o.metrics[1],
        (
            "none",
            "word_perplexity",
            Item::weighted(-30.0, words as f64)
        )
    );
    let o = task.process(&l.docs[0], &[ll(-30.0), ll(-2.0)]);
    assert_eq!(o.metrics[0].2, Item::new(0.0), "not greedy: wrong number");
    // An answer without "#### N" is an error naming its line.
    let ok = r#"{"question":"q","answer":"2 + 2 = 4\n#### 4"}"#;
    let dir = scratch(
        "gsm8k-ll",
        &[
            ("gsm8k/train.jsonl", &format!("{ok}\n{ok}\n")),
            (
                "gsm8k/test.jsonl",
                &format!("{ok}\n{}\n", r#"{"question":"q","answer":"4"}"#),
            ),
        ],
    );
    let e = load("gsm8k_ll", &dir, None).err().unwrap().to_string();
    assert!(e.contains("test.jsonl:2:") && e.contains("#### N"), "{e}");
    assert_eq!(
        gsm8k::split_answer("a\n#### 1,200"),
        Some(("a\n#### ", "1,200"))
    );
    assert_eq!(gsm8k::split_answer("a\n#### "), None);
}

/// Bytes as tokens, with a BOS (id 256) that [`Tokenize::encode_special`] adds, as Gemma's does.
struct BytesWithBos;

const STAND_IN_BOS: u32 = 256;

impl Tokenize for BytesWithBos {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        Ok(text.bytes().map(u32::from).collect())
    }
    fn encode_special(&self, text: &str) -> Result<Vec<u32>, LmError> {
        let mut ids = vec![STAND_IN_BOS];
        ids.extend(text.bytes().map(u32::from));
        Ok(ids)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        let bytes: Vec<u8> = ids.iter().filter_map(|&i| u8::try_from(i).ok()).collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
    fn prefix_token(&self) -> Option<u32> {
        Some(STAND_IN_BOS)
    }
}

/// A deterministic stand-in for a model: every score is a fixed function of the tokens and their
/// positions, generation emits a fixed answer. Only the harness's own code (prompts, tokenization
/// rules, windows, batching, metrics) decides what comes out of a task run on it.
struct StandIn {
    encoding: TextEncoding,
}

impl LanguageModel for StandIn {
    fn max_length(&self) -> usize {
        512
    }
    fn prefix_token(&self) -> u32 {
        STAND_IN_BOS
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        self.encoding.encode(&BytesWithBos, text)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        BytesWithBos.decode(ids)
    }
    fn score_batch(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        Ok(reqs
            .iter()
            .map(|r| {
                let mut logprob = 0.0;
                let mut check = 0u64;
                for (i, &t) in r.continuation.iter().enumerate() {
                    let pos = (r.context.len() + i) as u64;
                    let h = (u64::from(t) * 2_654_435_761 + pos * 40_503) % 1000;
                    logprob -= h as f64 / 250.0;
                    check += h;
                }
                Scored {
                    logprob,
                    greedy: check.is_multiple_of(5),
                }
            })
            .collect())
    }
    fn generate(
        &self,
        prompt: &[u32],
        max_new_tokens: usize,
        stop: &mut dyn FnMut(&[u32]) -> bool,
    ) -> Result<Vec<u32>, LmError> {
        let text = format!(
            " The answer is {}.\n#### {}\n\nQuestion: more",
            prompt.len() % 97,
            prompt.len() % 13
        );
        let mut out = Vec::new();
        for b in text.bytes().take(max_new_tokens) {
            out.push(u32::from(b));
            if stop(&out) {
                break;
            }
        }
        Ok(out)
    }
}

/// The digest of every task's metrics and per-document records on the scoring fixture, scored by
/// the stand-in with request texts encoded plainly (`special_tokens: false`, SmolLM2 and every
/// non-Gemma model) and with the tokenizer's BOS (`true`, Gemma).
fn scoring_digest(special_tokens: bool) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scoring");
    let lm = StandIn {
        encoding: TextEncoding { special_tokens },
    };
    let opts = EvalOptions {
        limit: None,
        batch: BatchOptions::default(),
        log_samples: true,
        progress: false,
    };
    let mut h = Sha256::new();
    for name in tasks::NAMES {
        let task = tasks::by_name(name).unwrap();
        let r = evaluate_task(&lm, task.as_ref(), &dir, &opts).unwrap();
        h.update(format!("{name} {} {}\n", r.n_original, r.n_effective));
        for m in &r.metrics {
            h.update(format!(
                "{} {} {:016x} {:?}\n",
                m.filter,
                m.metric,
                m.value.to_bits(),
                m.stderr.map(f64::to_bits)
            ));
        }
        h.update(samples_jsonl(&r.samples));
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The model families whose request texts are encoded with the tokenizer's special tokens
/// ([`TextEncoding::for_family`]), by HF `model_type`.
fn families_with_special_tokens() -> String {
    painters_llama::Family::MODEL_TYPES
        .iter()
        .filter(|t| {
            painters_llama::Family::from_model_type(t)
                .is_some_and(|f| TextEncoding::for_family(f).special_tokens)
        })
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}

/// `(SCORING_VERSION, digest without special tokens, digest with BOS, the families encoded with
/// special tokens)`: what each version of the scoring code computes on the fixture, and for which
/// models. A change that moves any of them is a change of scores: bump `SCORING_VERSION`
/// (src/score.rs) and add its line here, so that results computed by the old code are never
/// reused as if they were the new code's.
///
/// Version 2 encodes Gemma's request texts with BOS, as lm-eval does; every other model scores as
/// in version 1 (the digests without and with special tokens did not move).
const SCORING_DIGESTS: &[(u32, &str, &str, &str)] = &[
    (
        1,
        "73cc5cabff90205c0424cd32bc86ebfd726d4b373d3f89a25ddc0a0939e4bbb5",
        "16b075a4c20827e58c3f131af9d72e202eb5d6a1400c884a783b156e42a4e860",
        "",
    ),
    (
        2,
        "73cc5cabff90205c0424cd32bc86ebfd726d4b373d3f89a25ddc0a0939e4bbb5",
        "16b075a4c20827e58c3f131af9d72e202eb5d6a1400c884a783b156e42a4e860",
        "gemma2,gemma3_text",
    ),
];

#[test]
fn scoring_output_changes_only_with_the_scoring_version() {
    let now = (
        scoring_digest(false),
        scoring_digest(true),
        families_with_special_tokens(),
    );
    let known = SCORING_DIGESTS
        .iter()
        .find(|(v, ..)| *v == SCORING_VERSION)
        .map(|(_, plain, bos, families)| {
            (plain.to_string(), bos.to_string(), families.to_string())
        });
    assert_eq!(
        known.as_ref(),
        Some(&now),
        "the scoring output of version {SCORING_VERSION} changed; if the scoring code changed on \
         purpose, bump SCORING_VERSION in src/score.rs and add ({}, {:?}, {:?}, {:?}) to \
         SCORING_DIGESTS",
        SCORING_VERSION + u32::from(known.is_some()),
        now.0,
        now.1,
        now.2
    );
    let last = SCORING_DIGESTS.iter().map(|(v, ..)| *v).max();
    assert_eq!(
        last,
        Some(SCORING_VERSION),
        "SCORING_VERSION is not the newest entry"
    );
}
