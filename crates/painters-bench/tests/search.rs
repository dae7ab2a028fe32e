//! The search on the tiny Llama fixture (byte tokens, LAMBADA-shaped documents written here):
//! the known optimum of a small space — found by scoring every candidate on its own with the plain
//! evaluator — is what the search returns, with shared prefixes and journals in between; a rerun
//! resumes from the journals without scoring anything again.

use std::ops::ControlFlow;
use std::path::PathBuf;

use burn::tensor::Device;
use painters::{KvMode, LayerSchedule, Plan};
use painters_bench::eval::{EvalOptions, evaluate_task};
use painters_bench::lm::{ByteTokenizer, LlamaLm};
use painters_bench::search::{
    Halving, Scorer, SearchSpec, Space, Strategy, metric_spec, search, without,
};
use painters_bench::tasks::{self, Task};
use painters_llama::DecoderModel;

fn model() -> DecoderModel {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama");
    DecoderModel::load(path, &Device::flex()).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("painters-search-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("data/lambada_openai")).unwrap();
    let words = [
        "red", "stone", "river", "quiet", "lamp", "north", "bread", "glass", "winter", "song",
    ];
    let mut lines = String::new();
    for i in 0..12 {
        let text: Vec<&str> = (0..6)
            .map(|j| words[(i * 3 + j * 7) % words.len()])
            .collect();
        lines.push_str(&serde_json::json!({ "text": text.join(" ") }).to_string());
        lines.push('\n');
    }
    std::fs::write(d.join("data/lambada_openai/test.jsonl"), lines).unwrap();
    d
}

/// Mean log-likelihood of `schedule` on every document, each candidate run on its own.
fn brute_force(
    m: &DecoderModel,
    task: &dyn Task,
    data: &std::path::Path,
    s: &LayerSchedule,
) -> f64 {
    let plan = Plan::compile(s, m.num_blocks(), KvMode::Exact).unwrap();
    let lm = LlamaLm::new(m, &plan, &ByteTokenizer);
    let r = evaluate_task(&lm, task, data, &EvalOptions::default()).unwrap();
    let ppl = r.metrics.iter().find(|x| x.metric == "perplexity").unwrap();
    -ppl.value.ln()
}

#[test]
fn the_search_finds_the_known_optimum_of_a_small_space_and_resumes() {
    let m = model();
    let dir = scratch("optimum");
    let data = dir.join("data");
    let task = tasks::by_name("lambada_openai").unwrap();
    let docs = task.load(&data, None).unwrap().docs;
    let metric = metric_spec(task.as_ref(), "perplexity").unwrap();

    // Remove 2 of 6 blocks: 15 candidates. A beam as wide as every step's candidate list is
    // exhaustive, so it must return the brute-force optimum.
    let layers = m.num_blocks();
    let mut best = (f64::NEG_INFINITY, Vec::new());
    for a in 0..layers {
        for b in a + 1..layers {
            let ll = brute_force(&m, task.as_ref(), &data, &without(layers, &[a, b]));
            if ll > best.0 {
                best = (ll, vec![a, b]);
            }
        }
    }
    let run = |space: Space, strategy: Strategy, halving: Option<Halving>| {
        let mut scorer = Scorer::new(
            &m,
            &ByteTokenizer,
            task.as_ref(),
            &docs,
            dir.join("evals"),
            "tiny".into(),
        )
        .unwrap();
        scorer.group_size = 4;
        let spec = SearchSpec {
            space,
            strategy,
            halving,
            metric,
            search_docs: docs.len(),
        };
        let r = search(&mut scorer, &spec, &mut |_| ControlFlow::Continue(())).unwrap();
        (r, scorer.cost)
    };
    let (r, cost) = run(
        Space::Remove {
            k: 2,
            keep: Vec::new(),
        },
        Strategy::Beam { width: 15 },
        None,
    );
    assert_eq!(r.ranked[0].text, without(layers, &best.1).to_string());
    assert!(
        (-r.ranked[0].value.ln() - best.0).abs() < 1e-9,
        "same score as alone"
    );
    assert!(
        cost.run < cost.alone,
        "shared prefixes ran fewer blocks: {cost:?}"
    );

    // Slices of 2: the known optimum among the 5 slices, with halving from 3 documents.
    let slices: Vec<Vec<usize>> = (0..layers - 1).map(|s| vec![s, s + 1]).collect();
    let lls: Vec<f64> = slices
        .iter()
        .map(|s| brute_force(&m, task.as_ref(), &data, &without(layers, s)))
        .collect();
    let top = (0..slices.len())
        .max_by(|&a, &b| lls[a].partial_cmp(&lls[b]).unwrap())
        .unwrap();
    let (r, first) = run(Space::RemoveSlice { k: 2 }, Strategy::Exhaustive, None);
    assert_eq!(r.ranked[0].text, without(layers, &slices[top]).to_string());
    assert_eq!(r.candidates, 5);
    assert_eq!(first.evaluations, 5 * docs.len() as u64);
    // (Every slice was already scored by the removal search above, in the same journals.)
    assert_eq!(first.computed + first.stored, first.evaluations);

    // A rerun finds every evaluation journaled, and reports the search's cost as the first run
    // did: the cost is the search's, wherever its scores come from.
    let (again, cost) = run(Space::RemoveSlice { k: 2 }, Strategy::Exhaustive, None);
    assert_eq!(again.ranked, r.ranked);
    assert_eq!(cost.computed, 0);
    assert_eq!(cost.stored, 5 * docs.len() as u64);
    assert_eq!(
        (cost.evaluations, cost.run, cost.alone),
        (first.evaluations, first.run, first.alone)
    );

    // Halving promotes the best to all documents; what it scores on them is the full-set score.
    let (h, _) = run(
        Space::RemoveSlice { k: 2 },
        Strategy::Exhaustive,
        Some(Halving { start: 3, eta: 2 }),
    );
    assert_eq!(h.ranked[0].docs, docs.len());
    let _ = std::fs::remove_dir_all(&dir);
}
