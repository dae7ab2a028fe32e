//! The real GGUF files' tensors as `painters_kernels::QMatrix`es: SmolLM2-135M (Q4_1, Q8_0, F32)
//! and Gemma-3-270M (Q5_0, Q8_0, Q4_K, Q6_K, F32).
//!
//! * `every_tensor_is_a_borrowed_matrix` (fast, in CI): every tensor of both files becomes a
//!   matrix over the file's mapping (no copy), and its first and last rows dequantise
//!   bit-identically to `tensor_f32`.
//! * `product_error_on_real_weights` (`#[ignore]`, prints a table; the figures in
//!   docs/kernels.md): for each weight type of the two files, the error of every product path
//!   against an f64 reference on the dequantised weights, with real token embeddings as the
//!   activations. Run with
//!   `cargo test --release -p painters-llama --test gguf_matrices -- --ignored --nocapture`.
//!
//! The models are looked up in `$PAINTERS_MODELS_DIR` or `<workspace>/models`
//! (`scripts/fetch-models.sh` puts them there); a missing file fails the test.

use std::path::PathBuf;

use painters_kernels::{Level, MatmulOptions, ProductPath, QMatrix, Scratch, WeightType};
use painters_llama::gguf::GgufFile;

const SMOLLM2: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
const GEMMA: &str = "gemma3-270m/gemma-3-270m-q4_k_m.gguf";

fn open(rel: &str) -> GgufFile {
    let dir = std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    let path = dir.join(rel);
    assert!(
        path.is_file(),
        "{} not found: run scripts/fetch-models.sh (or set PAINTERS_MODELS_DIR)",
        path.display()
    );
    GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_tensor_is_a_borrowed_matrix() {
    for rel in [SMOLLM2, GEMMA] {
        let f = open(rel);
        let mut types = std::collections::BTreeSet::new();
        for info in f.tensors() {
            let m = f.tensor_matrix(&info.name).unwrap();
            types.insert(m.ty().name());
            assert!(m.weight_bytes().is_borrowed(), "{}", info.name);
            assert_eq!(
                m.bytes().as_ptr(),
                f.tensor_bytes(&info.name).unwrap().as_ptr(),
                "{}: no copy",
                info.name
            );
            let (_, all) = f.tensor_f32(&info.name).unwrap();
            let (rows, cols) = (m.rows(), m.cols());
            assert_eq!(rows * cols, all.len(), "{}", info.name);
            let mut got = vec![0.0; 2 * cols];
            m.gather_rows(&[0, rows - 1], &mut got).unwrap();
            let want = all[..cols].iter().chain(&all[(rows - 1) * cols..]);
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "{} element {i}", info.name);
            }
        }
        eprintln!("{rel}: {} tensors, types {types:?}", f.tensors().len());
        let expected: &[&str] = if rel == SMOLLM2 {
            &["F32", "Q4_1", "Q8_0"]
        } else {
            &["F32", "Q4_K", "Q5_0", "Q6_K", "Q8_0"]
        };
        assert_eq!(types.into_iter().collect::<Vec<_>>(), expected, "{rel}");
    }
}

/// `(max |error| / max |y|, RMS error / RMS y)` of `got` against `want`.
fn errors(got: &[f32], want: &[f64]) -> (f64, f64) {
    let max_y = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let max_e = got
        .iter()
        .zip(want)
        .fold(0.0f64, |a, (&g, w)| a.max((f64::from(g) - w).abs()));
    let se: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, w)| (f64::from(g) - w).powi(2))
        .sum();
    let sy: f64 = want.iter().map(|w| w * w).sum();
    (max_e / max_y, (se / sy).sqrt())
}

/// `rmsnorm(x) ⊙ g` per row of `cols` (Gemma's norms scale by `1 + g`).
fn rms_norm(x: &[f32], cols: usize, g: &[f32], gemma: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(cols) {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / cols as f32;
        let inv = 1.0 / (ms + 1e-6).sqrt();
        out.extend(
            row.iter()
                .zip(g)
                .map(|(v, g)| v * inv * if gemma { 1.0 + g } else { *g }),
        );
    }
    out
}

/// `x · Wᵀ` in f64 from the dequantised weights.
fn reference(w: &QMatrix, x: &[f32], m: usize) -> Vec<f64> {
    let (rows, cols) = (w.rows(), w.cols());
    let deq = w.dequantize();
    let mut y = vec![0.0f64; m * rows];
    for i in 0..m {
        for r in 0..rows {
            y[i * rows + r] = (0..cols)
                .map(|k| f64::from(x[i * cols + k]) * f64::from(deq[r * cols + k]))
                .sum();
        }
    }
    y
}

/// The activations a tensor really multiplies, built from real token embeddings: the
/// normalised hidden state for the attention and FFN inputs and the head, and
/// `silu(gate·h) ⊙ (up·h)` for the FFN down projection (with the layer's own weights).
fn activations(f: &GgufFile, name: &str, m: usize) -> Vec<f32> {
    let gemma = f.get_str("general.architecture").unwrap() == "gemma3";
    let emb = f.tensor_matrix("token_embd.weight").unwrap();
    let d = emb.cols();
    let ids: Vec<usize> = (0..m).map(|i| 1000 + 977 * i).collect();
    let mut e = vec![0.0; m * d];
    emb.gather_rows(&ids, &mut e).unwrap();
    let norm = |t: &str| f.tensor_f32(t).unwrap().1;
    let blk = name.split('.').nth(1).unwrap_or("0");
    if name == "token_embd.weight" {
        return rms_norm(&e, d, &norm("output_norm.weight"), gemma);
    }
    if name.contains("attn_") {
        return rms_norm(&e, d, &norm(&format!("blk.{blk}.attn_norm.weight")), gemma);
    }
    let h = rms_norm(&e, d, &norm(&format!("blk.{blk}.ffn_norm.weight")), gemma);
    if !name.contains("ffn_down") {
        return h;
    }
    let gate = f
        .tensor_matrix(&format!("blk.{blk}.ffn_gate.weight"))
        .unwrap();
    let up = f
        .tensor_matrix(&format!("blk.{blk}.ffn_up.weight"))
        .unwrap();
    let (g, u) = (reference(&gate, &h, m), reference(&up, &h, m));
    g.iter()
        .zip(&u)
        .map(|(&g, &u)| (g / (1.0 + (-g).exp()) * u) as f32)
        .collect()
}

#[test]
#[ignore = "prints the error table of docs/kernels.md; needs the real models"]
fn product_error_on_real_weights() {
    println!("| model | tensor | type | m | path | max abs err / max abs y | rms err / rms y |");
    println!("|---|---|---|---|---|---|---|");
    for (rel, tensors) in [
        (
            SMOLLM2,
            &[
                "blk.0.attn_q.weight",
                "blk.10.ffn_up.weight",
                "blk.10.ffn_down.weight",
                "token_embd.weight",
            ][..],
        ),
        (
            GEMMA,
            &[
                "blk.0.attn_q.weight",
                "blk.0.ffn_up.weight",
                "blk.0.ffn_down.weight",
                "blk.1.ffn_down.weight",
                "token_embd.weight",
            ][..],
        ),
    ] {
        let f = open(rel);
        for name in tensors {
            let w = f.tensor_matrix(name).unwrap();
            // the first 4096 rows of the heads (the whole vocabulary would take minutes here)
            let w = w
                .select_rows(&(0..w.rows().min(4096)).collect::<Vec<_>>())
                .unwrap();
            for m in [1usize, 16] {
                let x = activations(&f, name, m);
                let want = reference(&w, &x, m);
                for path in [ProductPath::Dot, ProductPath::Int8, ProductPath::Dequant] {
                    let mut y = vec![0.0; m * w.rows()];
                    let opts = MatmulOptions {
                        level: Some(Level::best()),
                        path,
                    };
                    w.matmul_with(&x, m, &mut y, &opts, &mut Scratch::new())
                        .unwrap();
                    let (max_rel, rms_rel) = errors(&y, &want);
                    let taken = match path {
                        ProductPath::Int8
                            if Level::best() < Level::Avx512 || w.ty() == WeightType::F32 =>
                        {
                            "Int8 (falls back to Dequant)".to_string()
                        }
                        p => format!("{p:?}"),
                    };
                    println!(
                        "| {} | {name} ({}×{}) | {} | {m} | {taken} | {max_rel:.2e} | {rms_rel:.2e} |",
                        rel.split('/').next().unwrap_or(rel),
                        w.rows(),
                        w.cols(),
                        w.ty(),
                    );
                }
            }
        }
    }
}
