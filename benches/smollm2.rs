//! SmolLM2-135M-Instruct (GGUF Q4_1, dequantised to f32) under painters schedules:
//! forward latency at 1×128 and 8×128 tokens, greedy decode throughput (16-token prompt, 32 new
//! tokens), and peak heap memory of a forward pass.
//!
//! Run: `scripts/fetch-models.sh && cargo bench -p painters-llama --bench smollm2`.
//! Peak memory is printed before the timings (a counting global allocator wraps the system one).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan, paper};
use painters_llama::generate::{GenerateOptions, generate};
use painters_llama::{LlamaInput, LlamaModel};

/// Tracks live and peak heap bytes.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn model_path() -> PathBuf {
    let dir = std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let p = dir.join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        p.is_file(),
        "{} missing: run scripts/fetch-models.sh",
        p.display()
    );
    p
}

fn schedules() -> Vec<(&'static str, LayerSchedule)> {
    // T = 30, N = 8: M = 13 affected blocks.
    vec![
        ("identity", LayerSchedule::full(30)),
        ("skip_n8", paper::skip(30, 8).unwrap()),
        ("middle_repeat_n8", paper::middle_repeat(30, 8).unwrap()),
        ("parallel_n8", paper::parallel(30, 8).unwrap()),
    ]
}

fn input(batch: usize, seq: usize) -> LlamaInput {
    let rows: Vec<Vec<u32>> = (0..batch)
        .map(|b| {
            (0..seq)
                .map(|t| ((b * 7919 + t * 104_729) % 49_000 + 17) as u32)
                .collect()
        })
        .collect();
    LlamaInput::new(&rows).unwrap()
}

fn bench(c: &mut Criterion) {
    let device = Device::flex();
    let model = LlamaModel::load(model_path(), &device).unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    for (name, s) in schedules() {
        let plan = Plan::compile(&s, 30, KvMode::Exact).unwrap();
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        let before = LIVE.load(Ordering::Relaxed);
        black_box(model.forward(&plan, &input(1, 128), None, &mut ()).unwrap());
        let peak = PEAK.load(Ordering::Relaxed) - before;
        println!(
            "peak-memory {name}: forward 1x128 adds {:.1} MiB over the loaded model ({:.1} MiB)",
            peak as f64 / (1 << 20) as f64,
            base as f64 / (1 << 20) as f64
        );
    }

    let mut g = c.benchmark_group("smollm2");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for (name, s) in schedules() {
        let plan = Plan::compile(&s, 30, KvMode::Exact).unwrap();
        for (b, t) in [(1, 128), (8, 128)] {
            if b == 8 && name != "identity" && name != "parallel_n8" {
                continue;
            }
            let x = input(b, t);
            g.bench_function(format!("forward_{b}x{t}/{name}"), |bench| {
                bench.iter(|| black_box(model.forward(&plan, &x, None, &mut ()).unwrap()))
            });
        }
        if name == "middle_repeat_n8" {
            continue;
        }
        let prompt = input(1, 16).ids;
        let opts = GenerateOptions {
            max_new_tokens: 32,
            ..Default::default()
        };
        g.bench_function(format!("decode_16+32/{name}"), |bench| {
            bench.iter(|| black_box(generate(&model, &plan, &prompt, &opts, |_| false).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
