//! What a rerun reads back from disk: a sweep's result files (`results/<hash>.json`, checked
//! against their key before reuse) and an evaluation's per-document journal
//! (`.<out>.tasks/<task>.docs.jsonl`). Any content gives a record or a reason not to reuse it;
//! a record that validates keeps its key's hash, and journaled responses read back only when they
//! answer the document's requests.
#![no_main]

use libfuzzer_sys::fuzz_target;
use painters_bench::eval::journaled_responses;
use painters_bench::io::DocJournal;
use painters_bench::requests::Request;
use painters_bench::sweep::Record;
use painters_bench::tasks::{Doc, Gold};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        if let Ok(r) = Record::from_json(v) {
            assert_eq!(r.json["key_hash"], json!(r.key.hash()));
            assert!(!r.metrics.is_empty());
            let _ = r.agrees_with(&r);
        }
        return;
    }
    let path = painters_fuzz::scratch_dir().join("task.docs.jsonl");
    if std::fs::write(&path, body).is_err() {
        return;
    }
    let key = json!({"run": "fuzz", "task": "arc_easy"});
    let Ok(journal) = DocJournal::open(&path, &key) else {
        return;
    };
    let requests = vec![
        Request::Loglikelihood {
            context: "Question: ?\nAnswer:".into(),
            continuation: " yes".into(),
        },
        Request::LoglikelihoodRolling { text: "t".into() },
        Request::GenerateUntil {
            context: "c".into(),
            until: vec!["\n".into()],
            max_gen_toks: 4,
        },
    ];
    for id in 0..4 {
        let doc = Doc {
            id,
            line: id + 1,
            requests: requests[..1 + id % 3].to_vec(),
            gold: Gold::Continuation,
            fields: Value::Null,
        };
        if let Ok(Some(resps)) = journaled_responses(&journal, &doc) {
            assert_eq!(resps.len(), doc.requests.len());
        }
    }
});
