//! The evaluation tasks' data readers (lm-eval tasks and GLUE): any file content gives documents or
//! a typed error naming the file and line.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use painters_bench::glue::{PAPER_TASKS, parse_glue_jsonl};
use painters_bench::tasks;

/// Every file name a task looks for, relative to the data folder.
const FILES: &[&str] = &[
    "lambada_openai/test.jsonl",
    "arc_easy/test.jsonl",
    "arc_challenge/test.jsonl",
    "hellaswag/validation.jsonl",
    "winogrande/dev.jsonl",
    "gsm8k/test.jsonl",
    "gsm8k/train.jsonl",
    "wikitext2/test.txt",
];

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    // The first byte picks the reader, the rest is the file.
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let names = tasks::NAMES;
    let n = names.len() + PAPER_TASKS.len();
    let which = usize::from(pick) % n;
    if let Some(name) = names.get(which) {
        let dir = painters_fuzz::scratch_dir();
        for f in FILES {
            let p = dir.join(f);
            let _ = std::fs::create_dir_all(p.parent().unwrap_or(&dir));
            let _ = std::fs::write(&p, body);
        }
        let Some(task) = tasks::by_name(name) else {
            return;
        };
        if let Ok(loaded) = task.load(&dir, Some(50)) {
            assert!(loaded.docs.len() <= 50);
            for d in &loaded.docs {
                assert!(
                    !d.requests.is_empty(),
                    "{name}: a document without requests"
                );
            }
        }
    } else {
        let task = PAPER_TASKS[which - names.len()];
        let _ = parse_glue_jsonl(Cursor::new(body), Path::new("fuzz.jsonl"), task);
    }
});
