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

/// The byte count is process-wide: the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn dropped_tokenizers_free_their_memory() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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

#[test]
fn dropped_sentencepiece_tokenizers_free_their_memory() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The SentencePiece builder makes its BPE without the word cache too. Gemma's vocabulary has
    // no pre-tokenizer, so a cache would keep every distinct text whole.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/gemma3-270m/gemma-3-270m-q4_k_m.gguf"
    );
    assert!(
        std::path::Path::new(path).is_file(),
        "{path} missing; run scripts/fetch-models.sh"
    );
    let t = TextTokenizer::from_gguf_path(path).unwrap();
    let text =
        |i: usize| format!("Seventeen curious researchers measure layer schedules, take {i}.");
    assert!(t.encode(&text(0)).unwrap().len() > 5); // first use: lazy statics
    let before = LIVE.load(Ordering::Relaxed);
    for i in 1..=50 {
        assert!(t.encode(&text(i)).unwrap().len() > 5);
    }
    let grown = LIVE.load(Ordering::Relaxed) - before;
    // A word cache would hold all 50 texts (several KiB).
    assert!(grown < 1024, "50 encodes left {grown} bytes live");
}
