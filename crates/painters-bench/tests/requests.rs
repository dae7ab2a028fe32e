//! The request types against the model's plain forward pass, on the tiny fixture Llama (vocab 256,
//! 128 positions) with one token per byte, under a schedule that repeats and averages blocks.
//!
//! The reference is always the obvious computation: one `Transformer::forward` over the whole
//! sequence, log-softmax on the host in f64, and the log-probabilities picked by hand.

use std::path::PathBuf;

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan};
use painters_bench::batching::{BatchOptions, run_requests};
use painters_bench::lm::{
    ByteTokenizer, LanguageModel, LlamaLm, LmError, Scored, TokenRequest, Tokenize,
};
use painters_bench::requests::{
    Request, Response, encode_pair, fit_window, generate_until, loglikelihood,
    loglikelihood_rolling, loglikelihood_tokens, rolling_windows,
};
use painters_llama::{LlamaInput, LlamaModel};

fn tiny() -> LlamaModel {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama");
    LlamaModel::load(dir, &Device::flex()).unwrap()
}

fn plan() -> Plan {
    let s: LayerSchedule = "0..=1, par(2, 3)x2, 4, 4, 5".parse().unwrap();
    Plan::compile(&s, 6, KvMode::Exact).unwrap()
}

/// Log-probabilities `[position][token]` of one plain forward pass.
fn plain_logprobs(model: &LlamaModel, plan: &Plan, tokens: &[u32]) -> Vec<Vec<f64>> {
    let logits = model
        .forward(
            plan,
            &LlamaInput::new(&[tokens.to_vec()]).unwrap(),
            None,
            &mut (),
        )
        .unwrap();
    let [_, s, v] = logits.dims();
    let flat = logits.into_data().try_into_vec_as::<f32>().unwrap();
    (0..s)
        .map(|p| {
            let row: Vec<f64> = flat[p * v..(p + 1) * v]
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
            row.iter().map(|x| x - lse).collect()
        })
        .collect()
}

/// Σ log p(continuation | context), the greedy flag, from one plain forward pass.
fn plain_score(model: &LlamaModel, plan: &Plan, r: &TokenRequest) -> (f64, bool) {
    let lp = plain_logprobs(model, plan, &r.input());
    let start = r.context.len() - 1;
    let mut sum = 0.0;
    let mut greedy = true;
    for (i, &t) in r.continuation.iter().enumerate() {
        let row = &lp[start + i];
        sum += row[t as usize];
        greedy &= row.iter().all(|&x| x <= row[t as usize]);
    }
    (sum, greedy)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 2e-3 * (1.0 + b.abs())
}

#[test]
fn rolling_loglikelihood_in_one_window_is_one_forward_pass() {
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let text = "the quick brown fox jumps over the lazy dog";
    let got = loglikelihood_rolling(&lm, text).unwrap();
    // The prefix token (BOS = 1 in the fixture's config) predicts the first byte.
    let mut seq = vec![lm.prefix_token()];
    seq.extend(text.bytes().map(u32::from));
    assert_eq!(lm.prefix_token(), 1);
    let lp = plain_logprobs(&model, &plan, &seq[..seq.len() - 1]);
    let want: f64 = (1..seq.len()).map(|i| lp[i - 1][seq[i] as usize]).sum();
    assert!(close(got, want), "{got} vs {want}");
}

#[test]
fn rolling_windows_cover_every_token_once_and_score_like_plain_passes() {
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer).with_max_length(16);
    let text = "Rolling windows: every token is predicted exactly once, with context.";
    let tokens: Vec<u32> = text.bytes().map(u32::from).collect();
    let windows = rolling_windows(&tokens, lm.prefix_token(), 16);
    let predicted: Vec<u32> = windows
        .iter()
        .flat_map(|w| w.continuation.clone())
        .collect();
    assert_eq!(predicted, tokens);
    assert!(windows.iter().all(|w| w.input_len() <= 16));
    assert!(
        windows[1..].iter().all(|w| w.input_len() == 16),
        "later windows are full"
    );
    let mut want = 0.0;
    for w in &windows {
        want += plain_score(&model, &plan, w).0;
    }
    let got = loglikelihood_rolling(&lm, text).unwrap();
    assert!(close(got, want), "{got} vs {want}");
    // And through the batching runner, which batches the windows.
    let docs = [Request::LoglikelihoodRolling { text: text.into() }];
    let out = run_requests(&lm, &[&docs], BatchOptions::default(), &mut |_, _| {}).unwrap();
    let Response::Rolling(batched) = out[0][0] else {
        panic!("{:?}", out[0][0])
    };
    assert!(close(batched, want), "{batched} vs {want}");
}

#[test]
fn shared_prefix_cache_equals_batched_and_plain_scoring() {
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let ctx = "Question: which is the largest planet?\nAnswer:";
    let choices = [" Jupiter", " Mars", " Jupiter's moon", " J"];
    let reqs: Vec<TokenRequest> = choices
        .iter()
        .map(|c| loglikelihood_tokens(&lm, ctx, c).unwrap())
        .collect();
    let shared = lm.score_shared(&reqs).unwrap();
    let batched = lm.score_batch(&reqs).unwrap();
    for ((r, s), b) in reqs.iter().zip(&shared).zip(&batched) {
        let (want, greedy) = plain_score(&model, &plan, r);
        assert!(
            close(s.logprob, want),
            "shared {} vs plain {want}",
            s.logprob
        );
        assert!(
            close(b.logprob, want),
            "batched {} vs plain {want}",
            b.logprob
        );
        assert_eq!((s.greedy, b.greedy), (greedy, greedy));
    }
    // Through the runner with sharing on and off: same numbers.
    let doc: Vec<Request> = choices
        .iter()
        .map(|c| Request::Loglikelihood {
            context: ctx.into(),
            continuation: c.to_string(),
        })
        .collect();
    let on = BatchOptions {
        min_saved_tokens: Some(4),
        ..BatchOptions::default()
    };
    let off = BatchOptions {
        min_saved_tokens: None,
        ..BatchOptions::default()
    };
    let a = run_requests(&lm, &[&doc], on, &mut |_, _| {}).unwrap();
    let b = run_requests(&lm, &[&doc], off, &mut |_, _| {}).unwrap();
    for (x, y) in a[0].iter().zip(&b[0]) {
        let (Response::Loglikelihood(x), Response::Loglikelihood(y)) = (x, y) else {
            panic!()
        };
        assert!(
            close(x.logprob, y.logprob),
            "{} vs {}",
            x.logprob,
            y.logprob
        );
    }
}

#[test]
fn padded_batches_equal_single_rows() {
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let pairs = [
        ("a", " b"),
        ("a much longer context here", " and its end"),
        ("xy", "z"),
    ];
    let reqs: Vec<TokenRequest> = pairs
        .iter()
        .map(|(c, x)| loglikelihood_tokens(&lm, c, x).unwrap())
        .collect();
    let batched = lm.score_batch(&reqs).unwrap();
    for (r, b) in reqs.iter().zip(&batched) {
        let single = lm.score_batch(std::slice::from_ref(r)).unwrap()[0];
        assert!(
            close(b.logprob, single.logprob),
            "{} vs {}",
            b.logprob,
            single.logprob
        );
        assert_eq!(b.greedy, single.greedy);
    }
}

#[test]
fn greedy_continuations_are_flagged_greedy() {
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let ctx: Vec<u32> = "seed text".bytes().map(u32::from).collect();
    let generated = lm.generate(&ctx, 3, &mut |_| false).unwrap();
    let r = TokenRequest {
        context: ctx.clone(),
        continuation: generated.clone(),
    };
    assert!(lm.score_batch(&[r]).unwrap()[0].greedy);
    let mut other = generated.clone();
    other[0] = (other[0] + 1) % 256;
    let r = TokenRequest {
        context: ctx,
        continuation: other,
    };
    assert!(!lm.score_batch(&[r]).unwrap()[0].greedy);
}

#[test]
fn generate_until_matches_uncached_greedy_decoding_and_cuts_at_stops() {
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let ctx = "Once upon a time";
    // Reference: argmax of a full forward pass per step, no cache.
    let mut seq: Vec<u32> = ctx.bytes().map(u32::from).collect();
    let mut want = Vec::new();
    for _ in 0..12 {
        let lp = plain_logprobs(&model, &plan, &seq);
        let last = &lp[lp.len() - 1];
        let next = (0..last.len()).fold(0, |b, i| if last[i] > last[b] { i } else { b }) as u32;
        if model.config().eos_token_ids.contains(&next) {
            break;
        }
        want.push(next);
        seq.push(next);
    }
    let want_text = Tokenize::decode(&ByteTokenizer, &want).unwrap();
    let got = generate_until(&lm, ctx, &[], 12).unwrap();
    assert_eq!(got, want_text);
    // A stop string taken from the middle of the output cuts there.
    if let Some(stop) = want_text.get(3..5).filter(|s| !s.trim().is_empty()) {
        let cut = generate_until(&lm, ctx, &[stop.to_string()], 12).unwrap();
        assert_eq!(cut, &want_text[..want_text.find(stop).unwrap()]);
    }
}

#[test]
fn long_contexts_are_cut_from_the_left() {
    let (model, plan) = (tiny(), plan());
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer).with_max_length(20);
    let ctx = "a context that is a good deal longer than twenty bytes";
    let got = loglikelihood(&lm, ctx, " end").unwrap();
    // Keep the last 21 tokens of context + continuation; the model reads 20.
    let all: Vec<u32> = format!("{ctx} end").bytes().map(u32::from).collect();
    let kept = all[all.len() - 21..].to_vec();
    let r = TokenRequest {
        context: kept[..17].to_vec(),
        continuation: kept[17..].to_vec(),
    };
    assert!(close(got.logprob, plain_score(&model, &plan, &r).0));
    let e = fit_window(vec![1], vec![7; 21], 20).unwrap_err();
    assert!(
        matches!(e, LmError::ContinuationTooLong { len: 21, max: 20 }),
        "{e}"
    );
}

#[test]
fn smollm2_tokenization_rule_moves_trailing_spaces_and_splits_the_whole() {
    let gguf = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        gguf.is_file(),
        "{} missing; run scripts/fetch-models.sh",
        gguf.display()
    );
    let tok = painters_llama::load_tokenizer(&gguf).unwrap();
    let (model, plan) = (tiny(), plan());
    // Only the tokenizer matters for encode_pair; the tiny model stands in for SmolLM2's weights.
    let lm = LlamaLm::new(&model, &plan, &tok);
    let enc = |s: &str| Tokenize::encode(&tok, s).unwrap();
    let dec = |ids: &[u32]| Tokenize::decode(&tok, ids).unwrap();
    // A trailing space in the context belongs to the continuation: " Paris" stays one word piece.
    let (ctx, cont) = encode_pair(&lm, "The capital of France is ", "Paris").unwrap();
    assert_eq!(ctx, enc("The capital of France is"));
    assert_eq!(cont, enc(" Paris"));
    assert_eq!(dec(&cont), " Paris");
    // The continuation is whatever follows len(encode(context)) tokens of encode(whole), even when
    // tokenization merges across the boundary ("cat" + "s" → "cats").
    let (ctx, cont) = encode_pair(&lm, "I like cat", "s and dogs").unwrap();
    let whole = enc("I like cats and dogs");
    assert_eq!(ctx, enc("I like cat"));
    assert_eq!(cont, whole[ctx.len()..].to_vec());
    // No special tokens are added, and the empty context is the prefix token (BOS <|im_start|>).
    assert_eq!(enc("Hi"), vec![tok.token_to_id("Hi").unwrap()]);
    let bos = tok.token_to_id("<|im_start|>").unwrap();
    let (ctx, cont) = encode_pair(&lm, "", "Hello").unwrap();
    assert_eq!((ctx, cont), (vec![bos], enc("Hello")));
    // Our guard (docs/evaluation.md): a context of only spaces also becomes the prefix token, and
    // its spaces move to the continuation.
    let (ctx, cont) = encode_pair(&lm, " ", "Hello").unwrap();
    assert_eq!((ctx, cont), (vec![bos], enc(" Hello")));
}

#[test]
fn paper_averaged_plans_score_without_a_cached_prefix() {
    let model = tiny();
    let s: LayerSchedule = "0, par(1, 2, 3)x2, 4, 5".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::PaperAveraged).unwrap();
    let lm = LlamaLm::new(&model, &plan, &ByteTokenizer);
    let reqs: Vec<TokenRequest> = [" yes", " no"]
        .iter()
        .map(|c| loglikelihood_tokens(&lm, "Is the sky blue? Answer:", c).unwrap())
        .collect();
    let shared = lm.score_shared(&reqs).unwrap();
    for (r, x) in reqs.iter().zip(shared) {
        let (want, _) = plain_score(&model, &plan, r);
        assert!(close(x.logprob, want), "{} vs {want}", x.logprob);
    }
}

/// Several shared-prefix documents run at once on rayon's threads (and their batches in row groups,
/// and plain batches split) give the numbers of a model that runs everything one at a time, each
/// document's scores in its own place, and the runner reports every document once.
#[test]
fn documents_scored_at_once_equal_documents_scored_one_by_one() {
    let plan = plan();
    let split = tiny();
    let settings = split.settings();
    let split = split.with_settings(painters_llama::ExecSettings {
        batch_split: true,
        ..settings
    });
    let serial = tiny();
    let settings = serial.settings();
    let serial = serial.with_settings(painters_llama::ExecSettings {
        batch_split: false,
        ..settings
    });
    let questions = [
        (
            "Question: which is the largest planet?\nAnswer:",
            [" Jupiter", " Mars", " J"],
        ),
        ("Q: 2 + 2 =", [" 4", " five", " 22"]),
        ("The capital of France is", [" Paris", " Lyon", " Nice"]),
        ("Colour of the sky:", [" blue", " green", " grey"]),
        ("Opposite of hot:", [" cold", " warm", " icy"]),
    ];
    let docs: Vec<Vec<Request>> = questions
        .iter()
        .map(|(ctx, choices)| {
            choices
                .iter()
                .map(|c| Request::Loglikelihood {
                    context: ctx.to_string(),
                    continuation: c.to_string(),
                })
                .collect()
        })
        .collect();
    let refs: Vec<&[Request]> = docs.iter().map(Vec::as_slice).collect();
    let run = |model: &LlamaModel, opts: BatchOptions| {
        let lm = LlamaLm::new(model, &plan, &ByteTokenizer);
        let mut done = Vec::new();
        let out = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| run_requests(&lm, &refs, opts, &mut |d, _| done.push(d)).unwrap());
        done.sort_unstable();
        assert_eq!(done, (0..docs.len()).collect::<Vec<_>>());
        out
    };
    let shared = BatchOptions {
        min_saved_tokens: Some(1),
        ..BatchOptions::default()
    };
    let pooled = BatchOptions {
        min_saved_tokens: None,
        ..BatchOptions::default()
    };
    for opts in [shared, pooled] {
        let a = run(&split, opts);
        let b = run(&serial, opts);
        for (da, db) in a.iter().zip(&b) {
            for (x, y) in da.iter().zip(db) {
                let (Response::Loglikelihood(x), Response::Loglikelihood(y)) = (x, y) else {
                    panic!("{x:?} {y:?}")
                };
                assert!(close(x.logprob, y.logprob), "{x:?} vs {y:?}");
                assert_eq!(x.greedy, y.greedy);
            }
        }
    }
}

/// A model that records the prompts it is asked to continue, and continues none.
struct Prompts<'a> {
    inner: &'a dyn LanguageModel,
    seen: std::sync::Mutex<Vec<Vec<u32>>>,
}

impl LanguageModel for Prompts<'_> {
    fn max_length(&self) -> usize {
        self.inner.max_length()
    }
    fn prefix_token(&self) -> u32 {
        self.inner.prefix_token()
    }
    fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        self.inner.encode(text)
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        self.inner.decode(ids)
    }
    fn score_batch(&self, reqs: &[TokenRequest]) -> Result<Vec<Scored>, LmError> {
        self.inner.score_batch(reqs)
    }
    fn generate(
        &self,
        prompt: &[u32],
        _max_new_tokens: usize,
        _stop: &mut dyn FnMut(&[u32]) -> bool,
    ) -> Result<Vec<u32>, LmError> {
        self.seen.lock().unwrap().push(prompt.to_vec());
        Ok(Vec::new())
    }
}

/// lm-eval's `HFLM` sets `add_bos_token = True` for every model whose `model_type` contains
/// "gemma", so its `tok_encode` (contexts, whole texts of rolling windows, generation prompts)
/// encodes with the tokenizer's special tokens: BOS first. The expected ids are transformers' own
/// (`tests/fixtures-gemma3/tokenizer_cases.json`: `tokenizer(text)["input_ids"]`, BOS added by
/// default), read through lm-eval's rules: `_encode_pair` splits `whole[len(context):]`, an empty
/// context is `[prefix_token_id]` before `tok_encode(continuation)`, and rolling windows start
/// from the prefix token before the encoded text.
#[test]
fn gemma_texts_start_with_bos_as_lm_eval_encodes_them() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let gguf = root.join("models/gemma3-270m/gemma-3-270m-q4_k_m.gguf");
    assert!(
        gguf.is_file(),
        "{} missing; run scripts/fetch-models.sh",
        gguf.display()
    );
    let tok = painters_llama::load_tokenizer(&gguf).unwrap();
    // Only the family and the tokenizer matter here; the tiny Gemma 3 stands in for the weights.
    let model = LlamaModel::load(
        root.join("tests/fixtures-families/models/tiny-gemma3"),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(model.config().family, painters_llama::Family::Gemma3);
    let plan = Plan::compile(
        &LayerSchedule::full(model.num_blocks()),
        model.num_blocks(),
        KvMode::Exact,
    )
    .unwrap();
    let lm = LlamaLm::new(&model, &plan, &tok);
    let cases: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("tests/fixtures-gemma3/tokenizer_cases.json")).unwrap(),
    )
    .unwrap();
    let ids_of = |text: &str| -> Vec<u32> {
        let case = cases["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["text"] == text)
            .unwrap_or_else(|| panic!("no case {text:?}"));
        serde_json::from_value(case["input_ids"].clone()).unwrap()
    };
    let bos = 2;
    for case in cases["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(case["input_ids"].clone()).unwrap();
        assert_eq!(lm.encode(text).unwrap(), want, "{text:?}");
    }
    // _encode_pair: both the context and the whole text carry the BOS.
    let fox = "The quick brown fox jumps over the lazy dog.";
    let whole = ids_of(fox);
    let (ctx, cont) = encode_pair(&lm, "The quick brown fox jumps over the lazy", " dog.").unwrap();
    assert_eq!(ctx[0], bos);
    assert_eq!(ctx, whole[..whole.len() - 2].to_vec());
    assert_eq!(cont, whole[whole.len() - 2..].to_vec());
    // An empty context: [prefix_token_id] + tok_encode(continuation), whose BOS stays.
    let (ctx, cont) = encode_pair(&lm, "", "a").unwrap();
    assert_eq!((ctx, cont), (vec![bos], ids_of("a")));
    // A context of only spaces is no longer degenerate: tok_encode("") is [BOS].
    let (ctx, cont) = encode_pair(&lm, " ", "leading space").unwrap();
    assert_eq!(
        (ctx, cont),
        (vec![bos], ids_of(" leading space")[1..].to_vec())
    );
    // Rolling windows: the prefix token, then the encoded text with its BOS.
    let windows = rolling_windows(&lm.encode(fox).unwrap(), lm.prefix_token(), lm.max_length());
    assert_eq!(windows.len(), 1);
    assert_eq!(windows[0].context, vec![bos]);
    assert_eq!(windows[0].continuation, whole);
    // Generation prompts.
    let rec = Prompts {
        inner: &lm,
        seen: std::sync::Mutex::new(Vec::new()),
    };
    generate_until(&rec, fox, &["\n".to_string()], 8).unwrap();
    assert_eq!(rec.seen.lock().unwrap()[0], whole);
}
