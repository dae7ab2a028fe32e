//! The server in-process on an ephemeral port, on the tiny fixture Llama (vocab 256, 128
//! positions, one token per byte) under a schedule that skips, repeats and averages blocks.
//!
//! References: painters' own scoring and generation (`LlamaLm`, `painters_llama::generate`,
//! themselves checked against transformers by the conformance tests) on a second copy of the model;
//! lm-eval's parsing of a `local-completions` answer (`sum(token_logprobs[ctxlen:-1])`, greedy when
//! every token's log-probability equals its top entry's) is redone here as lm-eval 0.4.9 writes it.

use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::Device;
use painters::{KvMode, LayerSchedule, Plan};
use painters_bench::lm::{
    ByteTokenizer, LanguageModel, LlamaLm, TextEncoding, TokenRequest, Tokenize,
};
use painters_llama::LlamaModel;
use painters_llama::generate::{GenerateOptions, Sampling, generate};
use painters_serve::chat::ChatTemplate;
use painters_serve::{Running, ServedModel, WorkerOptions};
use serde_json::{Value, json};

const SCHEDULE: &str = "0..=1, par(2, 3)x2, 4, 4, 5";
const ID: &str = "tiny@test";
const TEMPLATE: &str = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";

fn tiny() -> LlamaModel {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama");
    LlamaModel::load(dir, &Device::flex()).unwrap()
}

fn plan() -> Plan {
    let s: LayerSchedule = SCHEDULE.parse().unwrap();
    Plan::compile(&s, 6, KvMode::Exact).unwrap()
}

fn server(chat: bool) -> Running {
    let served = ServedModel {
        model: tiny(),
        plan: plan(),
        tokenizer: Arc::new(ByteTokenizer),
        encoding: TextEncoding::default(),
        id: ID.into(),
        schedule: SCHEDULE.into(),
        chat: chat.then(|| ChatTemplate::new(TEMPLATE, "", "").unwrap()),
    };
    let options = WorkerOptions {
        queue: 64,
        batch_tokens: 512,
    };
    Running::start(served, "127.0.0.1:0", options).unwrap()
}

/// POSTs `body` (raw text), returns the status and the JSON answer.
fn post(s: &Running, path: &str, body: &str) -> (u16, Value) {
    let url = format!("http://{}{path}", s.addr);
    answer(
        path,
        ureq::post(&url)
            .set("Content-Type", "application/json")
            .send_string(body),
    )
}

fn get(s: &Running, path: &str) -> (u16, Value) {
    answer(path, ureq::get(&format!("http://{}{path}", s.addr)).call())
}

/// The status and JSON body of a response, error statuses included.
fn answer(path: &str, r: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let r = match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    };
    let status = r.status();
    (
        status,
        serde_json::from_str(&r.into_string().unwrap()).unwrap(),
    )
}

fn bytes(s: &str) -> Vec<u32> {
    s.bytes().map(u32::from).collect()
}

/// lm-eval 0.4.9's `LocalCompletionsAPI.parse_logprobs` for one choice.
fn lm_eval_parse(choice: &Value, ctxlen: usize) -> (f64, bool) {
    let lps = choice["logprobs"]["token_logprobs"].as_array().unwrap();
    let tops = choice["logprobs"]["top_logprobs"].as_array().unwrap();
    let end = lps.len() - 1;
    let sum = lps[ctxlen..end].iter().map(|v| v.as_f64().unwrap()).sum();
    let greedy = lps[ctxlen..end]
        .iter()
        .zip(&tops[ctxlen..end])
        .all(|(t, top)| {
            let best = top
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .fold(f64::NEG_INFINITY, f64::max);
            t.as_f64().unwrap() == best
        });
    (sum, greedy)
}

#[test]
fn echo_logprobs_are_the_models_loglikelihoods_as_lm_eval_reads_them() {
    let s = server(false);
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let pairs = [
        ("The quick brown", " fox"),
        ("ab", "cdefgh"),
        ("Question: 2+2=", " 4"),
    ];
    let reqs: Vec<TokenRequest> = pairs
        .iter()
        .map(|(c, x)| TokenRequest {
            context: bytes(c),
            continuation: bytes(x),
        })
        .collect();
    let want = lm.score_batch(&reqs).unwrap();
    // As lm-eval sends them: token ids, echo, max_tokens 1, logprobs 1, temperature 0.
    let prompts: Vec<Vec<u32>> = reqs
        .iter()
        .map(|r| [r.context.clone(), r.continuation.clone()].concat())
        .collect();
    let body = json!({"model": ID, "prompt": prompts, "max_tokens": 1, "echo": true,
                      "logprobs": 1, "temperature": 0, "seed": 1234});
    let (status, v) = post(&s, "/v1/completions", &body.to_string());
    assert_eq!(status, 200, "{v}");
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, (r, w)) in reqs.iter().zip(&want).enumerate() {
        let c = &choices[i];
        assert_eq!(c["index"], i);
        let (sum, greedy) = lm_eval_parse(c, r.context.len());
        assert!(
            (sum - w.logprob).abs() < 1e-4,
            "request {i}: served {sum}, painters {}",
            w.logprob
        );
        assert_eq!(greedy, w.greedy, "request {i}");
        let lp = c["logprobs"]["token_logprobs"].as_array().unwrap();
        assert_eq!(
            lp.len(),
            prompts[i].len() + 1,
            "prompt tokens and the new one"
        );
        assert!(lp[0].is_null() && c["logprobs"]["top_logprobs"][0].is_null());
        let text = c["text"].as_str().unwrap();
        assert!(text.starts_with(&format!("{}{}", pairs[i].0, pairs[i].1)));
    }
    assert_eq!(
        v["usage"]["prompt_tokens"],
        prompts.iter().map(Vec::len).sum::<usize>()
    );
}

#[test]
fn max_tokens_zero_with_echo_scores_the_prompt_only_and_lists_top_tokens() {
    let s = server(false);
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let text = "hello world";
    let body = json!({"model": ID, "prompt": text, "max_tokens": 0, "echo": true,
                      "logprobs": 3, "temperature": 0});
    let (status, v) = post(&s, "/v1/completions", &body.to_string());
    assert_eq!(status, 200, "{v}");
    let c = &v["choices"][0];
    assert_eq!(c["text"], text);
    let lp = c["logprobs"]["token_logprobs"].as_array().unwrap();
    assert_eq!(lp.len(), text.len());
    // Each token's log-probability is that of a one-token continuation.
    for p in 1..text.len() {
        let r = TokenRequest {
            context: bytes(&text[..p]),
            continuation: bytes(&text[p..=p]),
        };
        let w = lm.score_batch(&[r]).unwrap()[0].logprob;
        assert!((lp[p].as_f64().unwrap() - w).abs() < 1e-4, "position {p}");
        let top = c["logprobs"]["top_logprobs"][p].as_object().unwrap();
        // Three tokens, fewer when two decode to the same text (bytes ≥ 128 alone all decode
        // to U+FFFD here): the map is keyed by text, as OpenAI's.
        assert!((1..=3).contains(&top.len()), "{top:?}");
        let vals: Vec<f64> = top.values().map(|v| v.as_f64().unwrap()).collect();
        assert!(vals.windows(2).all(|w| w[0] >= w[1]), "most likely first");
        assert!(vals[0] >= lp[p].as_f64().unwrap());
    }
    let offsets: Vec<u64> = c["logprobs"]["text_offset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(offsets, (0..text.len() as u64).collect::<Vec<_>>());
    assert_eq!(c["logprobs"]["tokens"][1], "e");
}

#[test]
fn greedy_and_seeded_generation_equal_painters_generation() {
    let s = server(false);
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let prompt = "Once upon a time";
    let want = lm.generate(&bytes(prompt), 20, &mut |_| false).unwrap();
    let want_text = ByteTokenizer.decode(&want).unwrap();
    let body = json!({"model": ID, "prompt": prompt, "max_tokens": 20, "temperature": 0});
    let (status, v) = post(&s, "/v1/completions", &body.to_string());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["text"], want_text.as_str());
    let finish = if want.len() < 20 { "stop" } else { "length" };
    assert_eq!(v["choices"][0]["finish_reason"], finish);
    // An EOS token counts as generated (and is listed in logprobs) but is no part of the text.
    assert_eq!(
        v["usage"]["completion_tokens"],
        want.len() + usize::from(want.len() < 20)
    );

    // A stop sequence from the middle of that text cuts it there.
    if want_text.len() >= 6 {
        let stop = &want_text[3..5];
        let cut = &want_text[..want_text.find(stop).unwrap()];
        let body = json!({"model": ID, "prompt": prompt, "max_tokens": 20, "temperature": 0,
                          "stop": [stop]});
        let (_, v) = post(&s, "/v1/completions", &body.to_string());
        assert_eq!(v["choices"][0]["text"], cut);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }

    // Seeded sampling: painters' sampler with the same seed, and the same text twice.
    let opts = GenerateOptions {
        max_new_tokens: 12,
        sampling: Sampling::Sample {
            temperature: 0.8,
            top_k: None,
            top_p: None,
            seed: 7,
        },
        eos_ids: model.config().eos_token_ids.clone(),
        ..Default::default()
    };
    let mut g = generate(&model, &plan, &bytes(prompt), &opts, |_| false)
        .unwrap()
        .new_ids;
    if g.last() == Some(&2) {
        g.pop();
    }
    let sampled = ByteTokenizer.decode(&g).unwrap();
    let body = json!({"model": ID, "prompt": prompt, "max_tokens": 12, "temperature": 0.8,
                      "seed": 7});
    let (_, a) = post(&s, "/v1/completions", &body.to_string());
    let (_, b) = post(&s, "/v1/completions", &body.to_string());
    assert_eq!(a["choices"][0]["text"], sampled.as_str());
    assert_eq!(a["choices"][0]["text"], b["choices"][0]["text"]);
}

#[test]
fn errors_have_openais_shape_and_the_server_keeps_serving() {
    let s = server(false);
    let ok = json!({"model": ID, "prompt": "abc", "max_tokens": 2, "temperature": 0}).to_string();
    let long = "x".repeat(120);
    let cases: Vec<(String, u16, Option<&str>, Option<&str>)> = vec![
        // (body, status, param, code)
        (
            r#"{"model": "tiny@test", "prompt": "#.into(),
            400,
            None,
            Some("invalid_json"),
        ),
        ("not json".into(), 400, None, Some("invalid_json")),
        (
            json!({"model": "gpt-4", "prompt": "a"}).to_string(),
            404,
            Some("model"),
            Some("model_not_found"),
        ),
        (
            json!({"model": ID, "prompt": long, "max_tokens": 16}).to_string(),
            400,
            Some("prompt"),
            Some("context_length_exceeded"),
        ),
        (
            json!({"model": ID, "prompt": [[1, 300]]}).to_string(),
            400,
            Some("prompt"),
            None,
        ),
        (
            json!({"model": ID, "prompt": "a", "temperature": 5}).to_string(),
            400,
            Some("temperature"),
            None,
        ),
        (
            json!({"model": ID, "prompt": "a", "logprobs": 50}).to_string(),
            400,
            Some("logprobs"),
            None,
        ),
        (
            json!({"model": ID, "prompt": "a", "n": 3}).to_string(),
            400,
            Some("n"),
            None,
        ),
        (
            json!({"model": ID, "prompt": "a", "stream": true}).to_string(),
            400,
            Some("stream"),
            None,
        ),
        (
            json!({"model": ID, "prompt": "a", "bogus": 1}).to_string(),
            400,
            Some("bogus"),
            None,
        ),
        (
            json!({"model": ID, "prompt": ""}).to_string(),
            400,
            Some("prompt"),
            None,
        ),
        (
            json!({"model": ID, "prompt": 7}).to_string(),
            400,
            Some("prompt"),
            None,
        ),
        (
            json!({"model": ID, "prompt": "a", "max_tokens": -1}).to_string(),
            400,
            None,
            None,
        ),
    ];
    for (body, status, param, code) in cases {
        let (got, v) = post(&s, "/v1/completions", &body);
        assert_eq!(got, status, "{body}: {v}");
        let e = &v["error"];
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(e["type"].is_string(), "{v}");
        assert!(e.as_object().unwrap().contains_key("param"), "{v}");
        assert!(e.as_object().unwrap().contains_key("code"), "{v}");
        if let Some(p) = param {
            assert_eq!(e["param"], p, "{body}: {v}");
        }
        if let Some(c) = code {
            assert_eq!(e["code"], c, "{body}: {v}");
        }
        let (after, v) = post(&s, "/v1/completions", &ok);
        assert_eq!(after, 200, "after {body}: {v}");
    }
    // Chat without a template, unknown paths and wrong methods.
    let chat = json!({"model": ID, "messages": [{"role": "user", "content": "hi"}]});
    let (st, v) = post(&s, "/v1/chat/completions", &chat.to_string());
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (400, json!("no_chat_template"))
    );
    let (st, v) = get(&s, "/v1/nothing");
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (404, json!("unknown_url"))
    );
    let (st, v) = get(&s, "/v1/completions");
    assert_eq!(
        (st, v["error"]["code"].clone()),
        (405, json!("method_not_allowed"))
    );
    let (st, _) = post(&s, "/v1/completions", &ok);
    assert_eq!(st, 200);
}

#[test]
fn chat_models_and_health() {
    let s = server(true);
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let rendered = "<system>Be brief.\n<user>Hi\n<assistant>";
    let want = lm.generate(&bytes(rendered), 10, &mut |_| false).unwrap();
    let body = json!({"model": ID, "max_tokens": 10, "temperature": 0, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]});
    let (st, v) = post(&s, "/v1/chat/completions", &body.to_string());
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    let m = &v["choices"][0]["message"];
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["content"], ByteTokenizer.decode(&want).unwrap().as_str());
    assert_eq!(v["usage"]["prompt_tokens"], rendered.len());

    let (st, v) = get(&s, "/v1/models");
    assert_eq!(st, 200);
    assert_eq!(v["data"][0]["id"], ID);
    assert_eq!(v["data"][0]["schedule"], SCHEDULE);
    assert_eq!(v["data"][0]["max_model_len"], 128);
    let (st, v) = get(&s, "/health");
    assert_eq!((st, v["status"].clone()), (200, json!("ok")));
}

#[test]
fn concurrent_requests_batch_and_answer_as_alone() {
    let s = server(false);
    let prompts: Vec<String> = (0..12)
        .map(|i| format!("prompt {i}: {}", "ab".repeat(i)))
        .collect();
    let body = |p: &str, echo: bool| {
        json!({"model": ID, "prompt": p, "max_tokens": if echo { 0 } else { 3 },
               "echo": echo, "logprobs": 2, "temperature": 0})
        .to_string()
    };
    let alone: Vec<(Value, Value)> = prompts
        .iter()
        .map(|p| {
            (
                post(&s, "/v1/completions", &body(p, true)).1["choices"][0].clone(),
                post(&s, "/v1/completions", &body(p, false)).1["choices"][0].clone(),
            )
        })
        .collect();
    let together: Vec<(Value, Value)> = std::thread::scope(|sc| {
        let hs: Vec<_> = prompts
            .iter()
            .map(|p| {
                let s = &s;
                sc.spawn(move || {
                    (
                        post(s, "/v1/completions", &body(p, true)).1["choices"][0].clone(),
                        post(s, "/v1/completions", &body(p, false)).1["choices"][0].clone(),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, ((a_echo, a_gen), (t_echo, t_gen))) in alone.iter().zip(&together).enumerate() {
        assert_eq!(a_gen["text"], t_gen["text"], "prompt {i}");
        let (a, t) = (
            &a_echo["logprobs"]["token_logprobs"],
            &t_echo["logprobs"]["token_logprobs"],
        );
        let (a, t) = (a.as_array().unwrap(), t.as_array().unwrap());
        assert_eq!(a.len(), t.len());
        for (x, y) in a.iter().zip(t).skip(1) {
            assert!(
                (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-4,
                "prompt {i}"
            );
        }
    }
}
