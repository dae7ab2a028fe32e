//! painters-kernels: products on stored weight formats, against this machine's roofline and
//! against the f32 GEMM burn-flex runs (the `gemm` crate).
//!
//! Run everything (≈ 15 min on 2 cores), or a part by criterion filter:
//!
//! ```sh
//! cargo bench -p painters-kernels --bench kernels
//! cargo bench -p painters-kernels --bench kernels -- 'roofline|gemv/Q4_1'
//! python3 scripts/kernel-table.py   # the tables of docs/kernels.md from target/criterion
//! ```
//!
//! Groups (ids are `shape/threads`):
//! * `roofline/stream_read`, `roofline/fma_peak`: a streaming read of 256 MiB (memory
//!   bandwidth) and independent f32 FMA chains (peak flops), on 1 and 2 threads.
//! * `gemv/<type>`: one activation row (decode), throughput in weight bytes read. Each iteration
//!   uses the next of enough copies of the matrix to exceed the 32 MiB L3, so the weights come
//!   from DRAM as in a real decode step.
//! * `gemm128/<type>`: 128 activation rows (a prompt), throughput in flops (2·m·rows·cols).
//! * `f32_gemm/gemv`, `f32_gemm/gemm128`: the `gemm` crate on f32 weights, as burn-flex calls it
//!   (`Parallelism::Rayon`), on the same shapes.
//!
//! `KERNELS_BENCH_7B=1` adds Llama-2-7B's shapes (4096, 11008) for a few types.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use painters_kernels::{MatmulOptions, ProductPath, QMatrix, Scratch, WeightBytes, WeightType};

/// (name, rows = out features, cols = in features).
const SMOLLM2: [(&str, usize, usize); 5] = [
    ("q576x576", 576, 576),
    ("kv192x576", 192, 576),
    ("up1536x576", 1536, 576),
    ("down576x1536", 576, 1536),
    ("head49152x576", 49152, 576),
];
const LLAMA7B: [(&str, usize, usize); 3] = [
    ("q4096x4096", 4096, 4096),
    ("up11008x4096", 11008, 4096),
    ("down4096x11008", 4096, 11008),
];
const THREADS: [usize; 2] = [1, 2];
/// Bytes of weight copies a GEMV iteration cycles through (more than the L3).
const COLD_BYTES: usize = 96 << 20;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// Deterministic weights of a trained model's magnitude (no RNG crate needed).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // sum of 4 uniforms: roughly Gaussian
            let u: f32 = (0..4)
                .map(|k| ((s >> (16 * k)) & 0xFFFF) as f32 / 65536.0)
                .sum();
            (u - 2.0) * 0.05
        })
        .collect()
}

/// A matrix of `ty`: quantised from `values` where possible, else random valid blocks.
fn matrix(ty: WeightType, rows: usize, cols: usize, seed: u64) -> QMatrix {
    if painters_kernels::can_quantize(ty) {
        return QMatrix::from_f32(ty, rows, cols, &values(rows * cols, seed)).expect("quantise");
    }
    let n = ty.row_bytes(cols).expect("whole blocks") * rows;
    let mut bytes: Vec<u8> = values(n, seed).iter().map(|v| v.to_bits() as u8).collect();
    let scales: &[usize] = match ty {
        WeightType::Q2_K => &[80, 82],
        WeightType::Q3_K => &[108],
        WeightType::Q4_K | WeightType::Q5_K => &[0, 2],
        _ => &[208],
    };
    for blk in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &o in scales {
            blk[o..o + 2].copy_from_slice(&half::f16::from_f32(1e-3).to_bits().to_le_bytes());
        }
    }
    QMatrix::from_bytes(ty, rows, cols, WeightBytes::from_vec(bytes)).expect("blocks")
}

fn roofline(c: &mut Criterion) {
    let mut g = c.benchmark_group("roofline");
    g.sample_size(10).measurement_time(Duration::from_secs(2));
    let buf: Vec<u64> = (0..(256usize << 20) / 8).map(|i| i as u64).collect();
    for t in THREADS {
        let p = pool(t);
        g.throughput(Throughput::Bytes((buf.len() * 8) as u64));
        g.bench_function(BenchmarkId::new("stream_read", format!("{t}t")), |b| {
            b.iter(|| {
                p.install(|| {
                    use rayon::prelude::*;
                    buf.par_chunks(buf.len() / t)
                        .map(|c| c.iter().fold(0u64, |a, &v| a ^ v))
                        .reduce(|| 0, |a, b| a ^ b)
                })
            })
        });
        const CHAINS: usize = 16;
        const STEPS: usize = 1 << 16;
        g.throughput(Throughput::Elements((t * CHAINS * 8 * 2 * STEPS) as u64));
        g.bench_function(BenchmarkId::new("fma_peak", format!("{t}t")), |b| {
            b.iter(|| p.broadcast(|_| fma_chains::<CHAINS>(STEPS)))
        });
    }
    g.finish();
}

/// `CHAINS` independent 8-wide FMA chains, `steps` long (flops = CHAINS·8·2·steps).
fn fma_chains<const CHAINS: usize>(steps: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features were just detected.
        return unsafe { fma_chains_avx2::<CHAINS>(steps) };
    }
    let mut acc = [[1.0f32; 8]; CHAINS];
    for _ in 0..steps {
        for a in acc.iter_mut() {
            for v in a.iter_mut() {
                *v = v.mul_add(0.999_999, 1e-7);
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_chains_avx2<const CHAINS: usize>(steps: usize) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..steps {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut out = [0f32; 8];
    let s = acc
        .iter()
        .fold(_mm256_setzero_ps(), |s, &v| _mm256_add_ps(s, v));
    // SAFETY: `out` holds 8 f32.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    black_box(out.iter().sum())
}

fn types_for(shapes: &[(&str, usize, usize)]) -> Vec<WeightType> {
    if shapes.len() == LLAMA7B.len() {
        vec![
            WeightType::Q4_0,
            WeightType::Q8_0,
            WeightType::Q4_K,
            WeightType::BF16,
        ]
    } else {
        WeightType::ALL.to_vec()
    }
}

fn shapes() -> Vec<&'static [(&'static str, usize, usize)]> {
    let mut s: Vec<&'static [(&'static str, usize, usize)]> = vec![&SMOLLM2];
    if std::env::var_os("KERNELS_BENCH_7B").is_some() {
        s.push(&LLAMA7B);
    }
    s
}

fn gemv(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemv");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for set in shapes() {
        for ty in types_for(set) {
            for &(name, rows, cols) in set {
                let one = matrix(ty, rows, cols, 7);
                let copies: Vec<QMatrix> = (0..COLD_BYTES.div_ceil(one.bytes_len()).max(2))
                    .map(|_| QMatrix::from_bytes(ty, rows, cols, one.bytes().to_vec().into()))
                    .map(|m| m.expect("copy"))
                    .collect();
                drop(one);
                let x = values(cols, 11);
                let mut y = vec![0.0; rows];
                let opts = MatmulOptions {
                    level: None,
                    path: ProductPath::Dot,
                };
                g.throughput(Throughput::Bytes(copies[0].bytes_len() as u64));
                for t in THREADS {
                    let p = pool(t);
                    let mut scratch = Scratch::new();
                    let mut k = 0;
                    let id = BenchmarkId::new(ty.name(), format!("{name}/{t}t"));
                    g.bench_function(id, |b| {
                        b.iter(|| {
                            k = (k + 1) % copies.len();
                            p.install(|| copies[k].matmul_with(&x, 1, &mut y, &opts, &mut scratch))
                                .expect("matmul");
                        })
                    });
                }
            }
        }
    }
    g.finish();
}

fn gemm128(c: &mut Criterion) {
    const M: usize = 128;
    let mut g = c.benchmark_group("gemm128");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for set in shapes() {
        for ty in types_for(set) {
            for &(name, rows, cols) in set {
                let w = matrix(ty, rows, cols, 7);
                let x = values(M * cols, 11);
                let mut y = vec![0.0; M * rows];
                let opts = MatmulOptions {
                    level: None,
                    path: ProductPath::Dequant,
                };
                g.throughput(Throughput::Elements((2 * M * rows * cols) as u64));
                for t in THREADS {
                    let p = pool(t);
                    let mut scratch = Scratch::new();
                    let id = BenchmarkId::new(ty.name(), format!("{name}/{t}t"));
                    g.bench_function(id, |b| {
                        b.iter(|| {
                            p.install(|| w.matmul_with(&x, M, &mut y, &opts, &mut scratch))
                                .expect("matmul")
                        })
                    });
                }
            }
        }
    }
    g.finish();
}

/// `y = x · Wᵀ` with the `gemm` crate on f32, as burn-flex multiplies a `[m, k]` activation by
/// a transposed `[n, k]` weight.
fn f32_gemm(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32], threads: usize) {
    // SAFETY: x is m×k, w is n×k (read as k×n with row stride 1, column stride k), y is m×n.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            y.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(threads),
        )
    }
}

fn f32_baseline(c: &mut Criterion) {
    let mut g = c.benchmark_group("f32_gemm");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for set in shapes() {
        for &(name, rows, cols) in set {
            // For one row, cycle through copies larger than the L3, as the quantised GEMVs do.
            let n_copies = COLD_BYTES.div_ceil(4 * rows * cols).max(2);
            let ws: Vec<Vec<f32>> = (0..n_copies).map(|_| values(rows * cols, 7)).collect();
            for m in [1usize, 128] {
                let x = values(m * cols, 11);
                let mut y = vec![0.0; m * rows];
                let group = if m == 1 { "gemv" } else { "gemm128" };
                g.throughput(if m == 1 {
                    Throughput::Bytes((4 * rows * cols) as u64)
                } else {
                    Throughput::Elements((2 * m * rows * cols) as u64)
                });
                for t in THREADS {
                    let p = pool(t);
                    let id = BenchmarkId::new(group, format!("{name}/{t}t"));
                    let mut k = 0;
                    g.bench_function(id, |b| {
                        b.iter(|| {
                            k = if m == 1 { (k + 1) % ws.len() } else { 0 };
                            p.install(|| f32_gemm(m, rows, cols, &x, &ws[k], &mut y, t))
                        })
                    });
                }
            }
        }
    }
    g.finish();
}

criterion_group!(benches, roofline, gemv, gemm128, f32_baseline);
criterion_main!(benches);
