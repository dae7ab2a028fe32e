//! The executor on hand-made blocks with exactly computable outputs.
//!
//! `Toy` blocks are causal and linear: `out_t = a·h_t + b + c·Σ_{s≤t} k·h_s`, where the sum runs over the
//! keys `k·h_s` of all positions seen so far (cached ones included). Keys depend on the block, as in
//! attention, so the KV
//! cache matters exactly as it does for attention: an occurrence that reads the wrong slot, or a slot
//! shared between occurrences, changes the numbers. All values are small dyadic rationals, so f32
//! arithmetic is exact and the expected results are computed in plain Rust.
//!
//! Toy blocks also implement the batched form of a parallel step (`Block::forward_group`), which
//! `ExecOptions::batched()` asks for; `ExecOptions::sequential()` (the default) runs the members one after the other.

use std::cell::{Cell, RefCell};

use burn::tensor::{Device, Tensor, TensorData};
use painters::exec::{self, Block, BlockOutput, ExecOptions, HiddenStates, ObservePoint};
use painters::{KvCache, KvMode, KvState, LayerSchedule as S, Merge, Plan};

struct Toy {
    a: f32,
    b: f32,
    c: f32,
    k: f32,
    /// Addresses this block was called through, to prove that repeats share one block.
    seen: RefCell<Vec<usize>>,
    /// Batched group calls this block led (as `members[0]`).
    groups: Cell<usize>,
    /// Decline batching (the executor must fall back to the sequential form).
    decline: bool,
}

impl Toy {
    fn new(i: usize) -> Self {
        Toy {
            a: [1.0, 0.5, 2.0, -1.0, 0.25, 1.5][i % 6],
            b: i as f32 * 0.25 - 0.5,
            c: [0.0, 0.125, -0.25, 0.5, 0.0625, 0.0][i % 6],
            k: [1.0, 2.0, 0.5, 1.0, 1.5, 1.0][i % 6],
            seen: RefCell::new(Vec::new()),
            groups: Cell::new(0),
            decline: false,
        }
    }

    /// The reference on plain vectors: `xs` are this call's positions, `past` the sum of earlier keys.
    fn apply(&self, xs: &[f32], past: f32) -> Vec<f32> {
        let mut run = past;
        xs.iter()
            .map(|&x| {
                run += self.k * x;
                self.a * x + self.b + self.c * run
            })
            .collect()
    }
}

impl Block for Toy {
    type Context = ();
    fn forward(&self, h: Tensor<3>, _: &(), past: Option<&KvState>, want_kv: bool) -> BlockOutput {
        self.seen.borrow_mut().push(self as *const Toy as usize);
        let [b, s, d] = h.dims();
        let keys = h.clone().mul_scalar(self.k);
        let mut cum = keys.clone().cumsum(1);
        if let Some(p) = past {
            let prev: Tensor<3> = p.key().sum_dim(2).reshape([b, 1, d]);
            cum = cum + prev;
        }
        let out = h.clone().mul_scalar(self.a).add_scalar(self.b) + cum.mul_scalar(self.c);
        let kv = want_kv.then(|| {
            KvState::new(
                keys.clone().reshape([b, 1, s, d]),
                keys.reshape([b, 1, s, d]),
            )
        });
        BlockOutput { hidden: out, kv }
    }

    /// All members at once: the members are an extra leading axis `[k, b, s, d]`.
    fn forward_group(
        blocks: &[Self],
        members: &[usize],
        h: &Tensor<3>,
        _: &(),
        pasts: &[Option<&KvState>],
        want_kv: bool,
    ) -> Option<Vec<BlockOutput>> {
        let first = blocks.get(*members.first()?)?;
        if first.decline || pasts.len() != members.len() {
            return None;
        }
        first.groups.set(first.groups.get() + 1);
        for &m in members {
            blocks[m]
                .seen
                .borrow_mut()
                .push(&blocks[m] as *const Toy as usize);
        }
        let k = members.len();
        let [b, s, d] = h.dims();
        let param = |f: fn(&Toy) -> f32| -> Tensor<4> {
            let v: Vec<f32> = members.iter().map(|&m| f(&blocks[m])).collect();
            Tensor::from_data(TensorData::new(v, [k, 1, 1, 1]), &h.device())
        };
        let x: Tensor<4> = h.clone().unsqueeze_dim(0);
        let keys = x.clone().mul(param(|t| t.k)); // [k, b, s, d]
        let mut cum = keys.clone().cumsum(2);
        match pasts
            .iter()
            .map(|p| p.map(|p| p.key().sum_dim(2)))
            .collect::<Option<Vec<_>>>()
        {
            // Each past key sum is [b, 1, 1, d]; stacked [k, b, 1, 1, d] -> [k, b, 1, d].
            Some(prev) if !prev.is_empty() => {
                let prev: Tensor<5> = Tensor::stack(prev, 0);
                cum = cum + prev.reshape([k, b, 1, d]);
            }
            _ if pasts.iter().any(Option::is_some) => return None,
            _ => {}
        }
        let out = x.mul(param(|t| t.a)).add(param(|t| t.b)) + cum.mul(param(|t| t.c));
        Some(
            (0..k)
                .map(|i| BlockOutput {
                    hidden: out.clone().narrow(0, i, 1).reshape([b, s, d]),
                    kv: want_kv.then(|| {
                        let key: Tensor<4> = keys.clone().narrow(0, i, 1).reshape([b, 1, s, d]);
                        KvState::new(key.clone(), key)
                    }),
                })
                .collect(),
        )
    }
}

fn device() -> Device {
    Device::flex()
}

fn tensor(xs: &[f32]) -> Tensor<3> {
    Tensor::from_data(TensorData::new(xs.to_vec(), [1, xs.len(), 1]), &device())
}

fn values(t: &Tensor<3>) -> Vec<f32> {
    t.clone().into_data().try_to_vec::<f32>().unwrap()
}

/// Reference semantics on plain vectors, for a whole sequence at once (no cache).
fn reference(s: &S, blocks: &[Toy], xs: &[f32]) -> Vec<f32> {
    match s {
        S::Block(i) => blocks[*i].apply(xs, 0.0),
        S::Seq(v) => v.iter().fold(xs.to_vec(), |h, x| reference(x, blocks, &h)),
        S::Repeat { body, times } => {
            (0..*times).fold(xs.to_vec(), |h, _| reference(body, blocks, &h))
        }
        S::Parallel { branches, merge } => {
            let outs: Vec<Vec<f32>> = branches.iter().map(|b| reference(b, blocks, xs)).collect();
            let k = outs.len() as f32;
            (0..xs.len())
                .map(|t| {
                    let sum: f32 = outs.iter().map(|o| o[t]).sum();
                    match merge {
                        Merge::Mean => sum / k,
                        Merge::ResidualSum => sum - (k - 1.0) * xs[t],
                    }
                })
                .collect()
        }
    }
}

fn blocks() -> Vec<Toy> {
    (0..6).map(Toy::new).collect()
}

fn schedules() -> Vec<S> {
    [
        "0..=5",
        "0, 1, 4, 5",
        "0, 4, 3, 2, 1, 5",
        "0, par(1..=4), 5",
        "0, par(1..=4)x3, 5",
        "0, 3x4, 5",
        "0, sum(1, 2), 5",
        // A loop of a parallel of sequences, with a nested parallel in one branch.
        "0, par((1, 2), (3, 2, 1), par(4, 5)x2)x2, 5",
        "par(0, 0), ((1, 2)x2, 3)x2",
    ]
    .iter()
    .map(|t| t.parse().unwrap())
    .collect()
}

const XS: [f32; 5] = [1.0, -2.0, 0.5, 3.0, -0.25];

#[test]
fn every_combinator_computes_its_definition() {
    let blocks = blocks();
    for s in schedules() {
        let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
        let out = exec::run(&plan, &blocks, tensor(&XS), &(), None, &mut ()).unwrap();
        let want = reference(&s, &blocks, &XS);
        let got = values(&out);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{s}: {got:?} vs {want:?}"
            );
        }
    }
}

#[test]
fn observers_see_every_top_level_step() {
    let blocks = blocks();
    let s: S = "0, par(1, 2)x2, 3".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    let mut obs = HiddenStates::default();
    let out = exec::run(&plan, &blocks, tensor(&XS), &(), None, &mut obs).unwrap();
    let points: Vec<_> = obs.states.iter().map(|(p, _)| *p).collect();
    assert_eq!(points, (0..3).map(ObservePoint::Step).collect::<Vec<_>>());
    let mut h = XS.to_vec();
    for (j, step) in s.steps().iter().enumerate() {
        h = reference(step, &blocks, &h);
        assert_eq!(
            values(obs.get(ObservePoint::Step(j)).unwrap()),
            h,
            "step {j}"
        );
    }
    assert_eq!(values(&out), h);
}

#[test]
fn repeated_blocks_share_one_block() {
    let blocks = blocks();
    let s: S = "0, 3x4, par(3, 3)x2, 5".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    exec::run(&plan, &blocks, tensor(&XS), &(), None, &mut ()).unwrap();
    let calls = blocks[3].seen.borrow();
    assert_eq!(calls.len(), 8, "block 3 applied 4 + 2·2 times");
    assert!(
        calls
            .iter()
            .all(|&addr| addr == &blocks[3] as *const Toy as usize)
    );
    // Every application reads the one set of weights the caller owns: no copies were made.
    assert_eq!(
        std::mem::size_of_val(blocks.as_slice()),
        6 * std::mem::size_of::<Toy>()
    );
}

/// Runs the prompt, then one position at a time with the cache; returns all outputs.
fn cached_outputs(plan: &Plan, blocks: &[Toy], xs: &[f32], prompt: usize) -> Vec<f32> {
    cached_run(plan, blocks, xs, prompt, ExecOptions::batched()).0
}

/// [`cached_outputs`] with explicit options; also returns the final cache.
fn cached_run(
    plan: &Plan,
    blocks: &[Toy],
    xs: &[f32],
    prompt: usize,
    options: ExecOptions,
) -> (Vec<f32>, KvCache) {
    let mut cache = KvCache::for_plan(plan);
    let mut out = values(
        &exec::run_with(
            plan,
            blocks,
            tensor(&xs[..prompt]),
            &(),
            Some(&mut cache),
            &mut (),
            options,
        )
        .unwrap(),
    );
    for t in prompt..xs.len() {
        let o = exec::run_with(
            plan,
            blocks,
            tensor(&xs[t..t + 1]),
            &(),
            Some(&mut cache),
            &mut (),
            options,
        )
        .unwrap();
        out.extend(values(&o));
    }
    assert_eq!(cache.len(), xs.len());
    (out, cache)
}

#[test]
fn exact_cache_equals_recomputation() {
    let blocks = blocks();
    for s in schedules() {
        let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
        let full = values(&exec::run(&plan, &blocks, tensor(&XS), &(), None, &mut ()).unwrap());
        for prompt in [1, 3] {
            let cached = cached_outputs(&plan, &blocks, &XS, prompt);
            for (c, f) in cached.iter().zip(&full) {
                assert!(
                    (c - f).abs() <= 1e-5 * f.abs().max(1.0),
                    "{s} prompt {prompt}: {cached:?} vs {full:?}"
                );
            }
        }
    }
}

#[test]
fn a_shared_slot_would_be_wrong() {
    // Guard for the test above: the toy blocks really depend on the cache, so per-occurrence slots
    // are necessary. Running "3x2" with one cache for both occurrences (as a naive implementation
    // would, keyed by block index) gives different numbers.
    let blocks = blocks();
    let s: S = "3x2".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    assert_eq!(plan.stats().cache_slots, 2);
    let b = &blocks[3];
    let h1 = b.apply(&XS[..2], 0.0);
    let naive_second = b.apply(&h1, XS[..2].iter().map(|x| b.k * x).sum::<f32>());
    let right = cached_outputs(&plan, &blocks, &XS[..2], 2);
    assert_ne!(naive_second, right);
    assert_eq!(b.apply(&h1, 0.0), right);
}

#[test]
fn paper_averaged_cache_matches_a_hand_computed_case() {
    // par(1, 2) on x = [x0] then [x1], blocks 1 and 2 (a=0.5,b=-0.25,c=0.125,k=2; a=2,b=0,c=-0.25,k=0.5).
    let blocks = blocks();
    let s: S = "par(1, 2)".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::PaperAveraged).unwrap();
    assert_eq!(plan.stats().cache_slots, 1);
    let (x0, x1) = (1.0f32, -2.0f32);
    let mut cache = KvCache::for_plan(&plan);
    let y0 = values(
        &exec::run(
            &plan,
            &blocks,
            tensor(&[x0]),
            &(),
            Some(&mut cache),
            &mut (),
        )
        .unwrap(),
    );
    let y1 = values(
        &exec::run(
            &plan,
            &blocks,
            tensor(&[x1]),
            &(),
            Some(&mut cache),
            &mut (),
        )
        .unwrap(),
    );
    // Prefill: each member sees only its own key; the slot stores the mean key (2·x0 + 0.5·x0) / 2.
    let b1 = |x: f32, run: f32| 0.5 * x - 0.25 + 0.125 * run;
    let b2 = |x: f32, run: f32| 2.0 * x + 0.0 - 0.25 * run;
    assert_eq!(y0, vec![(b1(x0, 2.0 * x0) + b2(x0, 0.5 * x0)) / 2.0]);
    // Decode: each member attends over the averaged past plus its own current key.
    let pooled = 1.25 * x0;
    assert_eq!(
        y1,
        vec![(b1(x1, pooled + 2.0 * x1) + b2(x1, pooled + 0.5 * x1)) / 2.0]
    );
    // With members whose keys differ, the averaged cache departs from exact recomputation.
    let s: S = "0, par(1, 2)x2".parse().unwrap();
    let exact = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    let avg = Plan::compile(&s, 6, KvMode::PaperAveraged).unwrap();
    let e = cached_outputs(&exact, &blocks, &XS, 2);
    let a = cached_outputs(&avg, &blocks, &XS, 2);
    assert_eq!(e[..2], a[..2], "prefill is the same");
    assert_ne!(e[2..], a[2..], "decoding differs");
}

#[test]
fn mismatches_are_errors() {
    let blocks = blocks();
    let plan = Plan::compile(&S::full(4), 4, KvMode::Exact).unwrap();
    let e = exec::run(&plan, &blocks, tensor(&XS), &(), None, &mut ()).unwrap_err();
    assert!(
        e.to_string()
            .contains("compiled for 4 blocks but the model has 6"),
        "{e}"
    );
    let plan6 = Plan::compile(&S::full(6), 6, KvMode::Exact).unwrap();
    let mut wrong = KvCache::for_plan(&plan);
    assert!(matches!(
        exec::run(&plan6, &blocks, tensor(&XS), &(), Some(&mut wrong), &mut ()),
        Err(painters::ExecError::CacheMismatch { .. })
    ));
}

fn group_calls(blocks: &[Toy]) -> usize {
    blocks.iter().map(|b| b.groups.get()).sum()
}

fn close(got: &[f32], want: &[f32]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() <= 1e-5 * w.abs().max(1.0))
}

#[test]
fn batched_parallel_steps_equal_the_sequential_form() {
    for s in schedules() {
        let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
        let want = reference(&s, &blocks(), &XS);
        let batched_blocks = blocks();
        let mut obs_b = HiddenStates::default();
        let batched = exec::run_with(
            &plan,
            &batched_blocks,
            tensor(&XS),
            &(),
            None,
            &mut obs_b,
            ExecOptions::batched(),
        )
        .unwrap();
        assert_eq!(
            group_calls(&batched_blocks),
            plan.block_groups().len(),
            "{s}: every single-block parallel step ran batched"
        );
        let seq_blocks = blocks();
        let mut obs_s = HiddenStates::default();
        let sequential = exec::run_with(
            &plan,
            &seq_blocks,
            tensor(&XS),
            &(),
            None,
            &mut obs_s,
            ExecOptions::sequential(),
        )
        .unwrap();
        assert_eq!(group_calls(&seq_blocks), 0, "{s}");
        assert!(
            close(&values(&batched), &want),
            "{s}: batched {batched:?} vs {want:?}"
        );
        assert!(close(&values(&sequential), &want), "{s}: sequential");
        assert_eq!(obs_b.states.len(), obs_s.states.len());
        for ((pb, hb), (ps, hs)) in obs_b.states.iter().zip(&obs_s.states) {
            assert_eq!(pb, ps);
            assert!(close(&values(hb), &values(hs)), "{s}: state at {pb:?}");
        }
        // Every block ran the same number of times in both forms.
        for (b, q) in batched_blocks.iter().zip(&seq_blocks) {
            assert_eq!(b.seen.borrow().len(), q.seen.borrow().len(), "{s}");
        }
    }
}

#[test]
fn batched_and_sequential_caches_are_the_same() {
    for mode in [KvMode::Exact, KvMode::PaperAveraged] {
        for s in schedules() {
            let Ok(plan) = Plan::compile(&s, 6, mode) else {
                continue; // paper-averaged needs single-block branches
            };
            for prompt in [1, 3] {
                let bb = blocks();
                let (ob, cb) = cached_run(&plan, &bb, &XS, prompt, ExecOptions::batched());
                let (os, cs) = cached_run(&plan, &blocks(), &XS, prompt, ExecOptions::sequential());
                assert_eq!(
                    group_calls(&bb),
                    plan.block_groups().len() * (1 + XS.len() - prompt)
                );
                assert!(
                    close(&ob, &os),
                    "{s} {mode:?} prompt {prompt}: {ob:?} vs {os:?}"
                );
                assert_eq!(cb.num_slots(), cs.num_slots());
                for slot in 0..cb.num_slots() {
                    let (Some(a), Some(b)) = (cb.slot(slot), cs.slot(slot)) else {
                        panic!("{s} {mode:?}: slot {slot} is empty");
                    };
                    assert_eq!(a.key().dims(), b.key().dims());
                    let flat = |t: &Tensor<4>| t.clone().into_data().try_to_vec::<f32>().unwrap();
                    assert!(
                        close(&flat(&a.key()), &flat(&b.key())),
                        "{s} {mode:?} slot {slot}"
                    );
                    assert!(
                        close(&flat(&a.value()), &flat(&b.value())),
                        "{s} {mode:?} slot {slot}"
                    );
                }
                if mode == KvMode::Exact {
                    let full = reference(&s, &blocks(), &XS);
                    assert!(close(&ob, &full), "{s}: batched cached == uncached");
                }
            }
        }
    }
}

#[test]
fn declined_groups_run_sequentially() {
    let mut bs = blocks();
    for b in &mut bs {
        b.decline = true;
    }
    let s: S = "0, par(1..=4)x3, 5".parse().unwrap();
    let plan = Plan::compile(&s, 6, KvMode::Exact).unwrap();
    let out = exec::run_with(
        &plan,
        &bs,
        tensor(&XS),
        &(),
        None,
        &mut (),
        ExecOptions::batched(),
    )
    .unwrap();
    assert_eq!(group_calls(&bs), 0);
    assert!(close(&values(&out), &reference(&s, &bs, &XS)));
    assert_eq!(bs[2].seen.borrow().len(), 3, "members ran one by one");
}
