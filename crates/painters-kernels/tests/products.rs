//! Every product path, on every kernel level this CPU has, against f64 references built from
//! the dequantised weights:
//!
//! * exact paths (the prompt path for every type, the decode path for f32/f16/bf16) within
//!   `1e-5 · Σ|x·w|` of `x · Wᵀ` — f32 summation error for these row lengths;
//! * the decode path of quantised types (8-bit activations) within `1e-5 · Σ|x̂·w|` of
//!   `x̂ · Wᵀ`, where `x̂` is the activations rounded to 8 bits as the crate documents (so the
//!   integer kernels are checked as tightly as the float ones), and within the worst case of
//!   that rounding, `Σ |w| · max|x_block| / 254`, of the exact `x · Wᵀ`.
//!
//! Shapes include a single weight row, 1, 3, 17 and 128 activation rows, and rows counts that
//! do not divide into the thread chunks; each runs on pools of 1 and 2 threads.

mod common;

use common::{Rng, int8_activations, int8_bound, random_matrix, reference, to_f64};
use painters_kernels::{
    KernelError, Level, MatmulOptions, ProductPath, QK, QK_K, QMatrix, Scratch, WeightBytes,
    WeightType,
};

/// Relative slack for f32 summation against the f64 reference.
const SUM_TOL: f64 = 1e-5;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Runs `w · x` for every level and path and checks it against the references.
fn check_product(w: &QMatrix, x: &[f32], m: usize, what: &str) {
    let (rows, cols) = (w.rows(), w.cols());
    let deq = w.dequantize();
    let (exact, mag) = reference(&deq, rows, cols, &to_f64(x), m);
    // The decode path quantises activations per 256 for the K-quants, per 32 otherwise; the
    // int8 tiled path per 32 for every type.
    let dot_block = if w.ty().is_k_quant() { QK_K } else { QK };
    let rounded: Vec<_> = [dot_block, QK]
        .iter()
        .map(|&b| {
            let (r, mag_r) = reference(&deq, rows, cols, &int8_activations(x, b), m);
            (r, mag_r, int8_bound(&deq, rows, cols, x, m, b))
        })
        .collect();
    let mut scratch = Scratch::new();
    for level in Level::supported() {
        for path in [
            ProductPath::Dot,
            ProductPath::Dequant,
            ProductPath::Int8,
            ProductPath::Auto,
        ] {
            let opts = MatmulOptions {
                level: Some(level),
                path,
            };
            let mut y = vec![f32::NAN; m * rows];
            w.matmul_with(x, m, &mut y, &opts, &mut scratch).unwrap();
            let taken = match path {
                ProductPath::Auto if m <= painters_kernels::DOT_MAX_ROWS => ProductPath::Dot,
                ProductPath::Auto => ProductPath::Int8,
                p => p,
            };
            let int8 = match taken {
                _ if w.ty().is_float() => None,
                ProductPath::Dot => Some(&rounded[0]),
                ProductPath::Int8 if level == Level::Avx512 => Some(&rounded[1]),
                _ => None,
            };
            for (j, &got) in y.iter().enumerate() {
                let mut checks = vec![(
                    "x·Wᵀ",
                    exact[j],
                    SUM_TOL * mag[j] + int8.map_or(0.0, |r| 1.001 * r.2[j]),
                )];
                if let Some((rounded, mag_r, _)) = int8 {
                    checks.push(("x̂·Wᵀ (8-bit x)", rounded[j], SUM_TOL * mag_r[j]));
                }
                for (name, want, tol) in checks {
                    let err = (f64::from(got) - want).abs();
                    assert!(
                        err <= tol + 1e-30,
                        "{what}: {} at {level} via {path:?}: y[{}, {}] = {got}, {name} = {want} \
                         (error {err:.3e} > tolerance {tol:.3e})",
                        w.ty(),
                        j / rows,
                        j % rows,
                    );
                }
            }
        }
    }
}

/// Every type, a few shapes, one and two threads.
#[test]
fn every_type_every_level_every_path() {
    let mut rng = Rng::new(1);
    for ty in WeightType::ALL {
        let cols_list: &[usize] = if ty.is_k_quant() {
            &[256, 512]
        } else if ty.is_float() {
            &[1, 3, 64, 200]
        } else {
            &[32, 96, 512]
        };
        for &cols in cols_list {
            for (rows, m) in [(1, 1), (37, 3), (70, 17), (5, 1)] {
                let w = random_matrix(&mut rng, ty, rows, cols);
                let x = rng.normals(m * cols, 1.0);
                for threads in [1, 2] {
                    pool(threads).install(|| {
                        check_product(&w, &x, m, &format!("{rows}x{cols}, m={m}, {threads} thr"))
                    });
                }
            }
        }
    }
}

/// Larger shapes that cross the threading threshold, and m = 128 (the prompt regime).
#[test]
fn threaded_shapes_and_long_prompts() {
    let mut rng = Rng::new(2);
    for ty in [
        WeightType::Q4_1,
        WeightType::Q8_0,
        WeightType::Q4_K,
        WeightType::Q6_K,
        WeightType::F16,
    ] {
        let (rows, cols) = (300, 512);
        let w = random_matrix(&mut rng, ty, rows, cols);
        assert!(w.bytes_len() > 96 * 1024 || ty != WeightType::F16);
        for m in [1, 4, 128] {
            let x = rng.normals(m * cols, 1.0);
            for threads in [1, 2] {
                pool(threads)
                    .install(|| check_product(&w, &x, m, &format!("m={m}, {threads} thr")));
            }
        }
    }
}

/// Activations with outliers (as real hidden states have) stay within the 8-bit bound.
#[test]
fn activation_outliers() {
    let mut rng = Rng::new(3);
    for ty in [
        WeightType::Q4_0,
        WeightType::Q5_1,
        WeightType::Q3_K,
        WeightType::Q2_K,
    ] {
        let cols = 512;
        let w = random_matrix(&mut rng, ty, 16, cols);
        let mut x = rng.normals(2 * cols, 0.3);
        x[7] = 60.0;
        x[cols + 300] = -45.0;
        x[100..132].fill(0.0); // an all-zero activation block
        check_product(&w, &x, 2, "outliers");
    }
}

#[test]
fn shared_bytes_give_the_same_products_as_owned() {
    let mut rng = Rng::new(4);
    let w = random_matrix(&mut rng, WeightType::Q4_1, 8, 64);
    let mut file = vec![0xAAu8; 7];
    file.extend_from_slice(w.bytes());
    let owner: painters_kernels::SharedBuffer = std::sync::Arc::new(file);
    let shared = WeightBytes::shared(owner.clone(), 7..7 + w.bytes_len()).unwrap();
    assert!(shared.is_borrowed());
    let ws = QMatrix::from_bytes(WeightType::Q4_1, 8, 64, shared).unwrap();
    assert_eq!(
        ws.bytes().as_ptr(),
        (*owner).as_ref()[7..].as_ptr(),
        "no copy"
    );
    let x = rng.normals(64, 1.0);
    let (mut a, mut b) = (vec![0.0; 8], vec![0.0; 8]);
    w.matmul(&x, 1, &mut a).unwrap();
    ws.matmul(&x, 1, &mut b).unwrap();
    assert_eq!(a, b);
}

#[test]
fn select_rows_copies_quantised_rows() {
    let mut rng = Rng::new(5);
    let w = random_matrix(&mut rng, WeightType::Q5_0, 6, 64);
    let order = [5, 0, 3, 3];
    let s = w.select_rows(&order).unwrap();
    assert_eq!((s.rows(), s.cols(), s.ty()), (4, 64, WeightType::Q5_0));
    for (i, &r) in order.iter().enumerate() {
        assert_eq!(s.row(i).unwrap(), w.row(r).unwrap());
    }
    assert!(matches!(
        w.select_rows(&[6]),
        Err(KernelError::RowOutOfRange { row: 6, rows: 6 })
    ));
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let w = QMatrix::from_f32(WeightType::Q8_0, 2, 32, &[0.5; 64]).unwrap();
    let mut y = vec![0.0; 2];
    assert!(matches!(
        w.matmul(&[0.0; 31], 1, &mut y),
        Err(KernelError::Length {
            what: "input",
            expected: 32,
            got: 31
        })
    ));
    assert!(matches!(
        w.matmul(&[0.0; 32], 1, &mut y[..1]),
        Err(KernelError::Length {
            what: "output",
            expected: 2,
            got: 1
        })
    ));
    assert!(matches!(
        QMatrix::from_f32(WeightType::Q4_0, 1, 48, &[0.0; 48]),
        Err(KernelError::PartialBlock {
            cols: 48,
            block_len: 32,
            ..
        })
    ));
    assert!(matches!(
        QMatrix::from_bytes(WeightType::Q4_K, 1, 256, vec![0u8; 143].into()),
        Err(KernelError::ByteLength {
            expected: 144,
            got: 143,
            ..
        })
    ));
    assert!(matches!(
        QMatrix::from_f32(WeightType::F32, 2, 2, &[0.0; 3]),
        Err(KernelError::Length { .. })
    ));
    assert!(matches!(
        QMatrix::from_bytes(WeightType::Q8_0, usize::MAX, 32, Vec::new().into()),
        Err(KernelError::TooLarge { .. })
    ));
    let mut out = vec![0.0; 32];
    assert!(w.dequantize_rows(1..3, &mut out).is_err());
    assert!(w.gather_rows(&[2], &mut out).is_err());
    // zero rows of activations is a valid empty product
    w.matmul(&[], 0, &mut []).unwrap();
}
