//! A GGUF tokenizer dropped after use must give its memory back. tokenizers 0.23's BPE word cache
//! lives in a thread-local map keyed per instance and is never freed, so building many tokenizers
//! in one process (a fuzzer, a notebook, a server loading models) grew without bound; the fuzz
//! target `gguf` found it. The adapter builds its BPE without that cache.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use painters_llama::tokenizer::TextTokenizer;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn dropped_tokenizers_free_their_memory() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
    );
    assert!(
        std::path::Path::new(path).is_file(),
        "{path} missing; run scripts/fetch-models.sh"
    );
    let text = "The quick brown fox jumps over the lazy dog while seventeen curious \
                researchers measure layer schedules, parallel blocks and looped middles.";
    let round = || {
        let t = TextTokenizer::from_gguf_path(path).unwrap();
        assert!(t.encode(text).unwrap().len() > 20);
    };
    round(); // first use: lazy statics, regex caches
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..10 {
        round();
    }
    let grown = LIVE.load(Ordering::Relaxed) - before;
    // With the thread-local word cache each round left its ~25 words (several KiB) behind.
    assert!(
        grown < 4096,
        "10 tokenizers built and dropped left {grown} bytes live"
    );
}
