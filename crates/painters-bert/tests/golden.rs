//! The PyTorch goldens of the tiny BertForMaskedLM fixture, one check per manifest case.

mod common;

use common::*;
use painters::{HiddenStates, LayerSchedule, ObservePoint, Transformer};
use painters_bert::BertModel;

#[test]
fn tiny_bert_cases_match_pytorch() {
    let m = manifest();
    let cases: Vec<&serde_json::Value> = m["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["model"]["dir"] == "models/tiny-bert")
        .collect();
    assert!(
        cases.len() >= 4,
        "identity, skip_n2, reverse_n1, parallel_n1 at least"
    );
    let model =
        BertModel::load(fixtures().join("models/tiny-bert"), &device()).expect("tiny-bert loads");
    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        let inp = &case["input"];
        let prefix = inp["tensors"]["input_ids"]
            .as_str()
            .and_then(|s| s.strip_suffix(".input_ids"))
            .expect("input prefix");
        let input = read_input(inp["file"].as_str().expect("input file"), prefix);
        let schedule = LayerSchedule::from_json(&case["schedule"]).expect("schedule");
        let plan = model.plan(&schedule).expect("plan");
        let mut states = HiddenStates::default();
        let logits =
            Transformer::forward(&model, &plan, &input, None, &mut states).expect("forward");
        let out_file = case["output"]["file"].as_str().expect("output file");
        for (name, spec) in case["output"]["tensors"].as_object().expect("tensors") {
            let actual = match name.as_str() {
                "logits" => logits.clone(),
                "hidden.emb" => states.get(ObservePoint::Embedding).expect("emb").clone(),
                n => {
                    let j: usize = n
                        .strip_prefix("hidden.block.")
                        .and_then(|j| j.parse().ok())
                        .unwrap_or_else(|| panic!("{id}: unknown output {n}"));
                    states
                        .get(ObservePoint::Step(j))
                        .expect("step state")
                        .clone()
                }
            };
            let (shape, a) = host(&actual);
            let (gshape, g) = golden(out_file, name);
            assert_eq!(shape, gshape, "{id} {name} shape");
            let tol = &spec["tolerance"];
            let (atol, rtol) = (
                tol["atol"].as_f64().expect("atol"),
                tol["rtol"].as_f64().expect("rtol"),
            );
            let (max, ok) = compare(&a, &g, &shape, input.attention_mask(), atol, rtol);
            // Pad query rows are computed from the same masked keys as in HF, so they match too.
            let all = vec![1; input.attention_mask().len()];
            let (max_all, ok_all) = compare(&a, &g, &shape, &all, atol, rtol);
            assert!(ok_all, "{id} {name}: pad positions differ by {max_all:e}");
            println!(
                "{id:32} {name:16} max|a-g| = {max:.3e} (atol {atol:.0e}) {}",
                if ok { "ok" } else { "FAIL" }
            );
            if !ok {
                failures.push(format!("{id} {name}: max {max:e} > atol {atol:e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
