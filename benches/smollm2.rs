//! SmolLM2-135M-Instruct (GGUF Q4_1, dequantised to f32) under painters schedules:
//! forward latency at 1×128 and 8×128 tokens, greedy decode throughput (16-token prompt, 32 new
//! tokens), and peak heap memory of a forward pass.
//!
//! Run: `scripts/fetch-models.sh && cargo bench -p painters-llama --bench smollm2`.
//! Peak memory is printed before the timings (a counting global allocator wraps the system one).
//!
//! The `smollm2_parallel8` group compares one parallel step of 8 blocks
//! (`0..=10, par(11..=18), 19..30`) run sequentially and batched (`ExecOptions`); select it with
//! `cargo bench -p painters-llama --bench smollm2 -- smollm2_parallel8`; `step_only_*` time the
//! parallel step alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use painters::exec::{ExecOptions, Transformer, run_with};
use painters::{KvCache, KvMode, LayerSchedule, Plan, paper};
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

/// Greedy decoding of `new` tokens after `prompt`, batch 1, with the given executor options.
fn decode(model: &LlamaModel, plan: &Plan, prompt: &[u32], new: usize, options: ExecOptions) {
    let mut cache = KvCache::for_plan(plan);
    let mut input = LlamaInput::new(&[prompt.to_vec()]).unwrap();
    for _ in 0..new {
        let logits = model
            .forward_with(plan, &input, Some(&mut cache), &mut (), options)
            .unwrap();
        let [_, s, v] = logits.dims();
        let row = logits
            .narrow(1, s - 1, 1)
            .reshape([v])
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let next = (0..v).fold(0, |m, i| if row[i] > row[m] { i } else { m });
        input = LlamaInput::new(&[vec![next as u32]]).unwrap();
    }
}

/// One parallel step of 8 blocks: sequential vs batched (stacked weights, one batched matmul per
/// projection).
fn bench_parallel8(c: &mut Criterion) {
    let device = Device::flex();
    let model = LlamaModel::load(model_path(), &device).unwrap();
    let s: LayerSchedule = "0..=10, par(11..=18), 19..30".parse().unwrap();
    let plan = Plan::compile(&s, 30, KvMode::Exact).unwrap();
    let bytes = model.prepare(&plan);
    println!(
        "parallel8: stacked weights of par(11..=18) take {:.1} MiB ({} group)",
        bytes as f64 / (1 << 20) as f64,
        model.stacked_groups()
    );
    let modes = [
        ("sequential", ExecOptions::sequential()),
        ("batched", ExecOptions::batched()),
    ];
    for (name, options) in modes {
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        let before = LIVE.load(Ordering::Relaxed);
        black_box(
            model
                .forward_with(&plan, &input(1, 128), None, &mut (), options)
                .unwrap(),
        );
        let peak = PEAK.load(Ordering::Relaxed) - before;
        println!(
            "peak-memory parallel8/{name}: forward 1x128 adds {:.1} MiB",
            peak as f64 / (1 << 20) as f64
        );
    }
    let mut g = c.benchmark_group("smollm2_parallel8");
    g.sample_size(10);
    let x = input(1, 128);
    let prompt = input(1, 16).ids;
    for (name, options) in modes {
        g.bench_function(format!("forward_1x128/{name}"), |bench| {
            bench.iter(|| {
                black_box(
                    model
                        .forward_with(&plan, &x, None, &mut (), options)
                        .unwrap(),
                )
            })
        });
        g.bench_function(format!("decode_16+32/{name}"), |bench| {
            bench.iter(|| decode(&model, &plan, &prompt, 32, options))
        });
    }
    // The parallel step alone (no embedding, other blocks or head to dilute the difference).
    let step = Plan::compile(&"par(11..=18)".parse().unwrap(), 30, KvMode::Exact).unwrap();
    for (name, options) in modes {
        let (h, ctx) = model.embed(&x, 0).unwrap();
        g.bench_function(format!("step_only_1x128/{name}"), |bench| {
            bench.iter(|| {
                black_box(
                    run_with(
                        &step,
                        model.blocks(),
                        h.clone(),
                        &ctx,
                        None,
                        &mut (),
                        options,
                    )
                    .unwrap()
                    .into_data(),
                )
            })
        });
        // One decode position after 32 cached ones (the cache is cloned per iteration: cheap, the
        // tensors are shared).
        let mut cache = KvCache::for_plan(&step);
        let (h, ctx) = model.embed(&input(1, 32), 0).unwrap();
        run_with(
            &step,
            model.blocks(),
            h,
            &ctx,
            Some(&mut cache),
            &mut (),
            options,
        )
        .unwrap();
        let (h, ctx) = model.embed(&input(1, 1), 32).unwrap();
        g.bench_function(format!("step_only_decode_1/{name}"), |bench| {
            bench.iter(|| {
                let mut c = cache.clone();
                black_box(
                    run_with(
                        &step,
                        model.blocks(),
                        h.clone(),
                        &ctx,
                        Some(&mut c),
                        &mut (),
                        options,
                    )
                    .unwrap()
                    .into_data(),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_parallel8);
criterion_main!(benches);
