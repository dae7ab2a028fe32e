//! Whole-model timing and memory helpers: deterministic inputs, wall-clock medians of forward
//! passes and greedy decoding, and peak heap growth measured by a counting global allocator.
//!
//! The allocator ([`CountingAlloc`]) only counts when a binary registers it as its
//! `#[global_allocator]` (the `painters` binary does); [`counting_active`] tells whether it is. Its
//! cost is two relaxed atomic operations per allocation and one per deallocation, on top of the
//! system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use burn::tensor::Tensor;
use painters::Plan;
use painters::exec::{Block, ExecOptions, Transformer};
use painters_llama::generate::{GenerateOptions, generate};
use painters_llama::{LlamaError, LlamaInput, LlamaModel};

/// A global allocator wrapping [`System`] that tracks live and peak heap bytes.
///
/// Cost: one relaxed `fetch_add` and one relaxed `fetch_max` per allocation, one relaxed
/// `fetch_sub` per deallocation (plus relaxed loads of the on/off switch and the registration flag).
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(true);
/// Set by the first allocation that goes through [`CountingAlloc`]: it is registered exactly when
/// this is set after any allocation. Never cleared, so other threads freeing memory at the same
/// moment cannot make the check fail (comparing [`LIVE`] before and after a probe could).
static REGISTERED: AtomicBool = AtomicBool::new(false);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(l) };
        if !REGISTERED.load(Ordering::Relaxed) {
            REGISTERED.store(true, Ordering::Relaxed);
        }
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) };
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let q = unsafe { System.realloc(p, l, new_size) };
        if !q.is_null() && COUNTING.load(Ordering::Relaxed) {
            if new_size >= l.size() {
                let grow = new_size - l.size();
                let now = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new_size, Ordering::Relaxed);
            }
        }
        q
    }
}

/// Whether [`CountingAlloc`] is this process's global allocator (and counting).
pub fn counting_active() -> bool {
    drop(black_box(vec![0u8; 64]));
    REGISTERED.load(Ordering::Relaxed) && COUNTING.load(Ordering::Relaxed)
}

/// Live heap bytes, as counted by [`CountingAlloc`] (0 when it is not registered).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Turns the counting on or off (off: the allocator only forwards). Used to measure its overhead;
/// counts are wrong after an off period, so switch back on before [`peak_alloc`] only at a point
/// where nothing allocated while off is freed later (or accept a small drift).
pub fn set_counting(on: bool) {
    COUNTING.store(on, Ordering::Relaxed);
}

/// Runs `f` and returns its result with the peak heap bytes it allocated above the live bytes at its
/// start (`None` when [`CountingAlloc`] is not the global allocator).
pub fn peak_alloc<T>(f: impl FnOnce() -> T) -> (T, Option<usize>) {
    let active = counting_active();
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    (out, active.then_some(peak))
}

/// `batch` rows of `seq` deterministic token ids below 49 017 (the bench's inputs).
pub fn input_rows(batch: usize, seq: usize) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|b| {
            (0..seq)
                .map(|t| ((b * 7919 + t * 104_729) % 49_000 + 17) as u32)
                .collect()
        })
        .collect()
}

/// [`input_rows`] as a model input.
pub fn input(batch: usize, seq: usize) -> Result<LlamaInput, LlamaError> {
    LlamaInput::new(&input_rows(batch, seq))
}

/// The median of `samples` (the mean of the middle two for an even count; zero when empty).
pub fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    match s.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2,
    }
}

/// Wall-clock median of `repeats` calls of `f` after `warmup` untimed ones. An error from any call
/// stops the measurement.
pub fn time_median<E>(
    warmup: usize,
    repeats: usize,
    mut f: impl FnMut() -> Result<(), E>,
) -> Result<Duration, E> {
    for _ in 0..warmup {
        f()?;
    }
    let mut samples = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed());
    }
    Ok(median(&samples))
}

/// One forward pass, waited for: the last position's logits are read back to the host (a small
/// copy, which also synchronises asynchronous devices).
pub fn forward_once(
    model: &LlamaModel,
    plan: &Plan,
    x: &LlamaInput,
    options: ExecOptions,
) -> Result<(), LlamaError> {
    let logits = model.forward_with(plan, x, None, &mut (), options)?;
    wait_for_last(logits)
}

/// One forward pass without the executor: embedding, every block in order, head, as a hand-written
/// Llama loop would do it. The baseline that the executor's overhead is measured against.
pub fn straight_line_once(model: &LlamaModel, x: &LlamaInput) -> Result<(), LlamaError> {
    let (mut h, ctx) = model.embed(x, 0)?;
    for block in model.blocks() {
        h = block.forward(h, &ctx, None, false).hidden;
    }
    let logits = model.head(h, &mut ());
    wait_for_last(logits)
}

/// Reads the last position's logits back to the host (a small copy, which also synchronises
/// asynchronous devices). A device that failed while computing, e.g. out of memory, says so here:
/// burn reports such failures when data is read.
fn wait_for_last(logits: Tensor<3>) -> Result<(), LlamaError> {
    let [_, s, _] = logits.dims();
    let read = logits.narrow(1, s.saturating_sub(1), 1).try_into_data();
    black_box(read.map_err(|e| LlamaError::Input(format!("reading logits from the device: {e}")))?);
    Ok(())
}

/// Median wall-clock time of one forward pass over `x`.
pub fn time_forward(
    model: &LlamaModel,
    plan: &Plan,
    x: &LlamaInput,
    options: ExecOptions,
    warmup: usize,
    repeats: usize,
) -> Result<Duration, LlamaError> {
    time_median(warmup, repeats, || forward_once(model, plan, x, options))
}

/// Greedy decoding with a KV cache, the plan's steps run as `options` says: a `prompt_len`-token
/// prompt then `new_tokens` generated ones (no EOS stop). Returns the median time of the whole
/// generation and the new tokens per second.
pub fn decode_tokens_per_s(
    model: &LlamaModel,
    plan: &Plan,
    options: ExecOptions,
    (prompt_len, new_tokens): (usize, usize),
    warmup: usize,
    repeats: usize,
) -> Result<(Duration, f64), LlamaError> {
    let prompt = input_rows(1, prompt_len).concat();
    let opts = GenerateOptions {
        max_new_tokens: new_tokens,
        exec: options,
        ..Default::default()
    };
    let t = time_median(warmup, repeats, || {
        black_box(generate(model, plan, &prompt, &opts, |_| false)?);
        Ok::<(), LlamaError>(())
    })?;
    let secs = t.as_secs_f64();
    let rate = if secs > 0.0 {
        new_tokens as f64 / secs
    } else {
        0.0
    };
    Ok((t, rate))
}

/// The machine in one line: CPU model (from `/proc/cpuinfo` where there is one) and logical cores.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} logical cores")
}

/// The CPU features painters' kernels may use and the level they dispatch to, e.g.
/// `avx2 fma f16c avx512f … (kernels: avx512-vnni)`.
pub fn cpu_features() -> String {
    let level = match painters_kernels::default_level() {
        Ok(level) => format!("{level:?}"),
        Err(e) => format!("none: {e}"),
    };
    format!("{} (kernels: {level})", painters_kernels::cpu_features())
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), in bytes; None where the
/// OS does not report it.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(
            median(&[ms(4), ms(1), ms(2), ms(3)]),
            Duration::from_micros(2500)
        );
        assert_eq!(median(&[]), Duration::ZERO);
    }

    #[test]
    fn inputs_are_deterministic_and_in_vocab() {
        let a = input_rows(2, 5);
        assert_eq!(a, input_rows(2, 5));
        assert!(a.iter().flatten().all(|&t| (17..49_017).contains(&t)));
    }
}
