//! Shared by the fuzz targets: an allocator that aborts on any single allocation much larger than
//! the input, so that "a hostile file is rejected before any allocation larger than the file" is
//! checked on every run, not only where a test thought of it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Fixed allowance for allocations that do not scale with the input (regex tables, tokenizer caches).
const BASE: usize = 32 << 20;
/// Allowance per input byte: a Q4 block expands to f32 about 7×; 16× leaves room for one copy.
const PER_BYTE: usize = 16;

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The global allocator of every fuzz target.
pub struct CappedAlloc;

fn check(size: usize) {
    let limit = LIMIT.load(Ordering::Relaxed);
    if size > limit {
        // Lift the cap first: printing the size and the backtrace allocates.
        LIMIT.store(usize::MAX, Ordering::Relaxed);
        let _ = writeln!(
            std::io::stderr(),
            "painters-fuzz: allocation of {size} bytes, more than the {limit} this input allows\n{}",
            std::backtrace::Backtrace::force_capture()
        );
        std::process::abort();
    }
}

// SAFETY: every call forwards to the system allocator unchanged; `check` only reads an atomic.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CappedAlloc = CappedAlloc;

/// Allow single allocations up to `BASE + PER_BYTE × input_len` for the rest of this run.
pub fn cap_allocations(input_len: usize) {
    LIMIT.store(
        BASE.saturating_add(PER_BYTE.saturating_mul(input_len)),
        Ordering::Relaxed,
    );
}

/// A per-process scratch directory for targets that must go through a file path.
pub fn scratch_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("painters-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}
