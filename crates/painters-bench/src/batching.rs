//! Running many documents' requests fast, without changing any score.
//!
//! Two savings, both from lm-eval's own playbook or from the structure of the tasks:
//! * scoring requests are sorted by length (longest first, so an out-of-memory shows up at once)
//!   and batched with right padding, so rows in a batch waste little padding;
//! * the choices of one multiple-choice question usually share a long token prefix (the question).
//!   That prefix is read once into a KV cache and only each choice's remainder is run, against a
//!   clone of the cache. lm-eval instead re-reads the question for every choice.
//!
//! Generation runs one document at a time (greedy, with the KV cache).

use std::cmp::Reverse;
use std::ops::ControlFlow;

use crate::lm::{LanguageModel, LmError, Scored, TokenRequest, common_prefix};
use crate::requests::{Request, Response, generate_until, loglikelihood_tokens, rolling_windows};

/// How requests are grouped into forward passes.
#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// Most rows in one batched forward pass.
    pub batch_size: usize,
    /// Most padded tokens (rows × longest row) in one batched forward pass; bounds memory.
    pub max_batch_tokens: usize,
    /// Read a question's shared token prefix once when that saves at least this many tokens
    /// ((choices − 1) × prefix length): the separate prefix pass costs a forward call, which only
    /// pays off for long prefixes or many choices. `None` turns prefix sharing off (every choice is
    /// a row of a batch, as in lm-eval).
    pub min_saved_tokens: Option<usize>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            batch_size: 16,
            max_batch_tokens: 8192,
            min_saved_tokens: Some(32),
        }
    }
}

/// A request that failed, with the document it belongs to.
#[derive(Debug, thiserror::Error)]
#[error("document {doc}: {source}")]
pub struct RequestFailure {
    pub doc: usize,
    #[source]
    pub source: LmError,
}

struct Item {
    doc: usize,
    req: usize,
    tokens: TokenRequest,
}

struct Tracker<'f> {
    responses: Vec<Vec<Response>>,
    left: Vec<usize>,
    on_done: &'f mut dyn FnMut(usize, &[Response]) -> ControlFlow<()>,
    /// `on_done` asked to stop: no more documents are reported, and no more work is started.
    stopped: bool,
}

impl Tracker<'_> {
    fn record(&mut self, doc: usize, req: usize, s: Scored) {
        match &mut self.responses[doc][req] {
            Response::Loglikelihood(x) => *x = s,
            Response::Rolling(x) => *x += s.logprob,
            Response::Generated(_) => {}
        }
        self.finish_one(doc);
    }
    fn finish_one(&mut self, doc: usize) {
        self.left[doc] = self.left[doc].saturating_sub(1);
        if self.left[doc] == 0 {
            self.done(doc);
        }
    }
    fn done(&mut self, doc: usize) {
        if !self.stopped && (self.on_done)(doc, &self.responses[doc]).is_break() {
            self.stopped = true;
        }
    }
}

fn placeholder(r: &Request) -> Response {
    match r {
        Request::Loglikelihood { .. } => Response::Loglikelihood(Scored {
            logprob: 0.0,
            greedy: true,
        }),
        Request::LoglikelihoodRolling { .. } => Response::Rolling(0.0),
        Request::GenerateUntil { .. } => Response::Generated(String::new()),
    }
}

/// Answer every document's requests; `on_done(doc, responses)` is called once per document as soon
/// as all of its requests are answered (progress bars, per-document checkpoints).
pub fn run_requests(
    lm: &dyn LanguageModel,
    docs: &[&[Request]],
    opts: BatchOptions,
    on_done: &mut dyn FnMut(usize, &[Response]),
) -> Result<Vec<Vec<Response>>, RequestFailure> {
    let mut go_on = |d: usize, r: &[Response]| {
        on_done(d, r);
        ControlFlow::Continue(())
    };
    run_requests_until(lm, docs, opts, &mut go_on).map(Option::unwrap_or_default)
}

/// [`run_requests`], stopping as soon as `on_done` returns [`ControlFlow::Break`]: no document is
/// reported after that, no further model call is made, and the result is `None`.
pub fn run_requests_until(
    lm: &dyn LanguageModel,
    docs: &[&[Request]],
    opts: BatchOptions,
    on_done: &mut dyn FnMut(usize, &[Response]) -> ControlFlow<()>,
) -> Result<Option<Vec<Vec<Response>>>, RequestFailure> {
    let fail = |doc| move |source| RequestFailure { doc, source };
    let mut t = Tracker {
        responses: docs
            .iter()
            .map(|reqs| reqs.iter().map(placeholder).collect())
            .collect(),
        left: vec![0; docs.len()],
        on_done,
        stopped: false,
    };
    let (mut pool, mut shared, mut gens) = (Vec::new(), Vec::new(), Vec::new());
    for (d, reqs) in docs.iter().enumerate() {
        let mut items = Vec::new();
        for (q, r) in reqs.iter().enumerate() {
            match r {
                Request::Loglikelihood {
                    context,
                    continuation,
                } => items.push(Item {
                    doc: d,
                    req: q,
                    tokens: loglikelihood_tokens(lm, context, continuation).map_err(fail(d))?,
                }),
                Request::LoglikelihoodRolling { text } => {
                    let tokens = lm.encode(text).map_err(fail(d))?;
                    for w in rolling_windows(&tokens, lm.prefix_token(), lm.max_length()) {
                        items.push(Item {
                            doc: d,
                            req: q,
                            tokens: w,
                        });
                    }
                }
                Request::GenerateUntil { .. } => gens.push((d, q)),
            }
        }
        t.left[d] = items.len() + gens.iter().filter(|g| g.0 == d).count();
        if t.left[d] == 0 {
            t.done(d);
        }
        let inputs: Vec<Vec<u32>> = items.iter().map(|it| it.tokens.input()).collect();
        let share = opts.min_saved_tokens.is_some_and(|min| {
            items.len() >= 2
                && reqs
                    .iter()
                    .all(|r| matches!(r, Request::Loglikelihood { .. }))
                && (items.len() - 1) * common_prefix(&inputs) >= min.max(1)
        });
        if share {
            shared.push(items);
        } else {
            pool.extend(items);
        }
    }

    pool.sort_by_key(|it| Reverse(it.tokens.input_len()));
    let mut i = 0;
    while i < pool.len() && !t.stopped {
        let longest = pool[i].tokens.input_len().max(1);
        let mut j = i + 1;
        while j < pool.len()
            && j - i < opts.batch_size.max(1)
            && (j - i + 1) * longest <= opts.max_batch_tokens
        {
            j += 1;
        }
        let batch: Vec<TokenRequest> = pool[i..j].iter().map(|it| it.tokens.clone()).collect();
        let scores = lm.score_batch(&batch).map_err(fail(pool[i].doc))?;
        for (it, s) in pool[i..j].iter().zip(scores) {
            t.record(it.doc, it.req, s);
        }
        i = j;
    }

    // Documents whose choices share a prefix are independent: hand the model as many at once as
    // there are threads, and record them in document order.
    for wave in shared.chunks(4 * rayon::current_num_threads().max(1)) {
        if t.stopped {
            break;
        }
        let batches: Vec<Vec<TokenRequest>> = wave
            .iter()
            .map(|group| group.iter().map(|it| it.tokens.clone()).collect())
            .collect();
        let scored = lm.score_shared_many(&batches);
        for (group, scores) in wave.iter().zip(scored) {
            let scores = scores.map_err(fail(group[0].doc))?;
            for (it, s) in group.iter().zip(scores) {
                t.record(it.doc, it.req, s);
            }
        }
    }

    for (d, q) in gens {
        if t.stopped {
            break;
        }
        if let Request::GenerateUntil {
            context,
            until,
            max_gen_toks,
        } = &docs[d][q]
        {
            let text = generate_until(lm, context, until, *max_gen_toks).map_err(fail(d))?;
            t.responses[d][q] = Response::Generated(text);
        }
        t.finish_one(d);
    }
    Ok((!t.stopped).then_some(t.responses))
}
