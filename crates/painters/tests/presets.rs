//! The paper's presets against hand-written step lists, the CPython shuffle against CPython's own
//! output, and the algebra's laws across the three notations.

use painters::rng::PythonRandom;
use painters::{KvMode, LayerSchedule as S, Plan, ShuffleRng, paper};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn ints(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn python_shuffle_matches_all_cpython_cases() {
    let cases = fixture("python_shuffle.json");
    let cases = cases["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 86);
    for c in cases {
        let seed = c["seed"].as_i64().unwrap() as i128;
        let n = c["n"].as_u64().unwrap() as usize;
        let mut items = match c.get("input") {
            Some(input) => ints(input),
            None => (0..n).collect(),
        };
        PythonRandom::new(seed).shuffle(&mut items);
        assert_eq!(items, ints(&c["shuffled"]), "seed {seed} n {n}");
    }
}

/// The authors' `routing_llama.py` logic, written out as plain lists (fixture JSON steps).
fn hand_written(variant: &str, t: usize, n: usize) -> Value {
    let first: Vec<usize> = (0..=n).collect();
    let mid: Vec<usize> = (n + 1..t - n).collect();
    let last: Vec<usize> = (t - n..t).collect();
    let m = mid.len();
    let blocks = |v: &[usize]| v.iter().map(|i| json!({"block": i})).collect::<Vec<_>>();
    let mut steps = blocks(&first);
    match variant {
        "skip" => {}
        "middle_repeat" => steps.push(if m == 1 {
            json!({"block": t / 2})
        } else {
            json!({"repeat": t / 2, "times": m})
        }),
        "reverse" => steps.extend(blocks(&mid.iter().rev().copied().collect::<Vec<_>>())),
        "parallel" => steps.push(if m == 1 {
            json!({"block": mid[0]})
        } else {
            json!({"parallel": mid, "loops": 1})
        }),
        "looped_parallel" => steps.push(if m == 1 {
            json!({"repeat": mid[0], "times": 3})
        } else {
            json!({"parallel": mid, "loops": 3})
        }),
        other => panic!("{other}"),
    }
    steps.extend(blocks(&last));
    json!({ "steps": steps })
}

#[test]
fn presets_match_hand_written_steps_for_every_n() {
    for t in [32, 24] {
        for n in 0..=(t - 2) / 2 {
            let m = t - 2 * n - 1;
            for (name, s) in [
                ("skip", paper::skip(t, n)),
                ("middle_repeat", paper::middle_repeat(t, n)),
                ("reverse", paper::reverse(t, n)),
                ("parallel", paper::parallel(t, n)),
                ("looped_parallel", paper::looped_parallel(t, n, 3)),
            ] {
                let s = s.unwrap();
                assert_eq!(s.to_json(), hand_written(name, t, n), "{name} T={t} N={n}");
                s.validate(t).unwrap();
                // Addressing the same split by M gives the same schedule.
                let v = paper::Variant::parse(name, 0, 3).unwrap();
                assert_eq!(v.on_middle(paper::Middle::from_m(t, m).unwrap()), s);
            }
            // Random: the middle is CPython's shuffle of N+1..T-N, the rest untouched.
            for seed in 0..10 {
                let apps = paper::random(t, n, seed).unwrap().block_applications();
                let mut mid: Vec<usize> = (n + 1..t - n).collect();
                PythonRandom::new(seed).shuffle(&mut mid);
                let want: Vec<usize> = (0..=n).chain(mid).chain(t - n..t).collect();
                assert_eq!(apps, want, "random T={t} N={n} seed={seed}");
            }
        }
        for i in 0..t {
            let want: Vec<usize> = (0..t).filter(|&j| j != i).collect();
            assert_eq!(paper::skip_one(t, i).unwrap().block_applications(), want);
        }
        for i in 0..t - 1 {
            let mut want: Vec<usize> = (0..t).collect();
            want.swap(i, i + 1);
            assert_eq!(paper::switch(t, i).unwrap().block_applications(), want);
        }
        assert!(paper::switch(t, t - 1).is_err());
        assert_eq!(
            paper::full(t).block_applications(),
            (0..t).collect::<Vec<_>>()
        );
    }
}

#[test]
fn random_preset_reproduces_the_recorded_llama2_orders() {
    // python_shuffle.json records the authors' middle lists for Llama2-7B (T=32) at several N.
    let cases = fixture("python_shuffle.json");
    let mut checked = 0;
    for c in cases["cases"].as_array().unwrap() {
        let Some(note) = c.get("note").and_then(Value::as_str) else {
            continue;
        };
        let Some(rest) = note.strip_prefix("Llama2-7B T=32 start_layer N=") else {
            continue;
        };
        let n: usize = rest.split(':').next().unwrap().parse().unwrap();
        let seed = c["seed"].as_i64().unwrap() as i128;
        let apps = paper::random(32, n, seed).unwrap().block_applications();
        assert_eq!(
            apps[n + 1..32 - n],
            ints(&c["shuffled"])[..],
            "N={n} seed={seed}"
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} recorded orders");
}

#[test]
fn preset_edge_cases() {
    // M = 1: parallel is the full model; looped parallel 3X is the centre block three times.
    assert_eq!(paper::parallel(32, 15).unwrap(), S::full(32));
    assert_eq!(
        paper::looped_parallel(32, 15, 3)
            .unwrap()
            .block_applications(),
        (0..=16).chain([16, 16]).chain(17..32).collect::<Vec<_>>()
    );
    assert!(paper::skip(32, 16).is_err());
    assert!(
        paper::Middle::from_m(32, 4).is_err(),
        "M must be odd for even T"
    );
    assert!(paper::Middle::from_m(32, 33).is_err());
    assert_eq!(paper::Middle::from_m(32, 31).unwrap().n(), 0);
    let e = paper::Variant::parse("skipp", 0, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("known: full, skip"), "{e}");
}

fn sample_schedules() -> Vec<S> {
    vec![
        S::full(8),
        paper::looped_parallel(8, 1, 3).unwrap(),
        paper::random(8, 0, 5).unwrap(),
        "0, par((1, 2)x2, 3, sum(4, 5)), 6x3, 7..=5"
            .parse()
            .unwrap(),
        S::looped(
            S::parallel_mean([
                S::range(1..=2),
                S::seq([S::block(3), S::repeat(S::block(4), 2)]),
            ]),
            2,
        ),
    ]
}

#[test]
fn laws_of_the_algebra() {
    for s in sample_schedules() {
        // reverse ∘ reverse = id, for any range.
        assert_eq!(s.reverse(1..=6).reverse(1..=6), s);
        // loop(s, 1) = s; parallel_mean([s]) = s.
        assert_eq!(S::looped(s.clone(), 1), s);
        assert_eq!(S::parallel_mean([s.clone()]), s);
        // repeat(s, n) runs exactly n copies in sequence: same plan as the explicit sequence.
        for n in 1..4 {
            let rep = Plan::compile(&S::repeat(s.clone(), n), 8, KvMode::Exact).unwrap();
            let copies = Plan::compile(&S::seq(vec![s.clone(); n]), 8, KvMode::Exact).unwrap();
            let blocks = |p: &Plan| {
                p.ops()
                    .iter()
                    .filter(|o| !matches!(o, painters::Op::EndStep { .. }))
                    .copied()
                    .collect::<Vec<_>>()
            };
            assert_eq!(blocks(&rep), blocks(&copies));
            assert_eq!(
                rep.stats().block_applications,
                n * s.block_applications().len()
            );
        }
        // A permutation and its inverse cancel; a shuffle is a permutation.
        let order = [3, 1, 4, 2];
        let inverse = [2, 4, 1, 3];
        assert_eq!(
            s.permute(1..=4, &order)
                .unwrap()
                .permute(1..=4, &inverse)
                .unwrap(),
            s
        );
        let sh = s.shuffle(0..8, ShuffleRng::ChaCha(11));
        let mut a = sh.block_applications();
        let mut b = s.block_applications();
        a.sort();
        b.sort();
        assert_eq!(a.len(), b.len());
        // Skipping nothing is the identity; skipping everything is empty.
        assert_eq!(s.skip([]), s);
        assert_eq!(s.skip(0..8), S::empty());
        // Builder ↔ text ↔ JSON.
        let text = s.to_string();
        assert_eq!(text.parse::<S>().unwrap(), s, "{text}");
        assert_eq!(S::from_json(&s.to_json()).unwrap(), s, "{}", s.to_json());
        assert_eq!(
            S::from_json(&text.parse::<S>().unwrap().to_json())
                .unwrap()
                .to_string(),
            text
        );
    }
}

#[test]
fn manifest_schedules_parse_and_round_trip() {
    let m = fixture("manifest.json");
    for case in m["cases"].as_array().unwrap() {
        let s = S::from_json(&case["schedule"]).unwrap();
        let steps = &case["schedule"]["steps"];
        // Written back, the schedule is the fixture's own step list.
        assert_eq!(&s.to_json()["steps"], steps, "{}", case["id"]);
        assert_eq!(S::from_json(&s.to_json()).unwrap(), s);
    }
}
