//! The sequence-classification head: a saved head loads back bit for bit, in HF's layout.

mod common;

use common::*;
use painters_bert::{BertForSequenceClassification, BertInput, BertModel, to_host};

fn tiny() -> BertModel {
    BertModel::load(fixtures().join("models/tiny-bert"), &device()).expect("tiny-bert")
}

#[test]
fn checkpoints_round_trip() {
    let dir = std::env::temp_dir().join(format!("painters-bert-{}-ckpt", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let model = BertForSequenceClassification::new(tiny(), 3, 1).expect("head");
    model.save(&dir).expect("save");
    let again = BertForSequenceClassification::load(&dir, &device()).expect("load");
    assert_eq!(again.num_labels, 3);
    let plan = model
        .bert
        .plan(&"0, 2, 1, 3x2, 5".parse().expect("schedule"))
        .expect("plan");
    // Two rows, the second padded after four tokens.
    let ids = vec![2, 40, 7, 99, 130, 3, 2, 250, 31, 3, 0, 0];
    let mask = vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    let input = BertInput::new(2, 6, ids, Some(vec![0; 12]), Some(mask)).expect("input");
    let a = to_host(model.forward(&plan, &input, None, &mut ()).expect("a")).expect("a");
    let b = to_host(again.forward(&plan, &input, None, &mut ()).expect("b")).expect("b");
    assert_eq!(a, b);
    model.save_head(dir.join("head.safetensors")).expect("head");
    let head =
        painters::weights::SafetensorsFile::open(dir.join("head.safetensors")).expect("open");
    assert_eq!(
        head.names(),
        [
            "bert.pooler.dense.bias",
            "bert.pooler.dense.weight",
            "classifier.bias",
            "classifier.weight"
        ]
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(config["id2label"].as_object().map(|m| m.len()), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}
