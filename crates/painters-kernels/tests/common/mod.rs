//! Shared test helpers: a seeded generator, random weights in every format and an f64
//! reference product.

#![allow(dead_code)] // each test file uses a different subset

use painters_kernels::{QMatrix, WeightBytes, WeightType};

/// A small seeded generator (xorshift64*), so tests need no RNG crate and never change.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    pub fn normals(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.normal() * scale).collect()
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Byte offsets of the f16 scales in each block type.
pub fn f16_offsets(ty: WeightType) -> &'static [usize] {
    match ty {
        WeightType::Q8_0 | WeightType::Q4_0 | WeightType::Q5_0 => &[0],
        WeightType::Q4_1 | WeightType::Q5_1 | WeightType::Q4_K | WeightType::Q5_K => &[0, 2],
        WeightType::Q2_K => &[80, 82],
        WeightType::Q3_K => &[108],
        WeightType::Q6_K => &[208],
        WeightType::F32 | WeightType::F16 | WeightType::BF16 => &[],
    }
}

/// A `rows × cols` matrix of `ty` with weights of a trained model's magnitude: quantised from
/// Gaussian values where the type can be written, else random valid blocks (random bytes with
/// finite f16 scales of realistic size).
pub fn random_matrix(rng: &mut Rng, ty: WeightType, rows: usize, cols: usize) -> QMatrix {
    if painters_kernels::can_quantize(ty) {
        let w = rng.normals(rows * cols, 0.05);
        return QMatrix::from_f32(ty, rows, cols, &w).unwrap();
    }
    let row_bytes = ty.row_bytes(cols).unwrap();
    let mut bytes = rng.bytes(rows * row_bytes);
    // scales around 1e-3 so that dequantised weights are of order 0.01-0.1
    for blk in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &off in f16_offsets(ty) {
            let s = half::f16::from_f32(rng.normal() * 2e-3);
            blk[off..off + 2].copy_from_slice(&s.to_bits().to_le_bytes());
        }
    }
    QMatrix::from_bytes(ty, rows, cols, WeightBytes::from_vec(bytes)).unwrap()
}

/// `y[i, r] = Σ_k x[i, k] · w[r, k]` in f64, with `Σ |x·w|` beside each value (the scale of
/// the rounding errors any f32 summation makes).
pub fn reference(w: &[f32], rows: usize, cols: usize, x: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; m * rows];
    let mut mag = vec![0.0; m * rows];
    for i in 0..m {
        for r in 0..rows {
            let (mut s, mut a) = (0.0f64, 0.0f64);
            for k in 0..cols {
                let p = x[i * cols + k] * f64::from(w[r * cols + k]);
                s += p;
                a += p.abs();
            }
            y[i * rows + r] = s;
            mag[i * rows + r] = a;
        }
    }
    (y, mag)
}

/// The worst-case error of a product whose activations are rounded to 8 bits with one scale
/// per `block` values (`|x − x̂| ≤ max|x_block| / 254`): `Σ_k |w_k| · max|x_block(k)| / 254`.
pub fn int8_bound(
    w: &[f32],
    rows: usize,
    cols: usize,
    x: &[f32],
    m: usize,
    block: usize,
) -> Vec<f64> {
    let mut out = vec![0.0; m * rows];
    for i in 0..m {
        let xr = &x[i * cols..(i + 1) * cols];
        let half_step: Vec<f64> = xr
            .chunks(block)
            .map(|b| f64::from(b.iter().fold(0.0f32, |a, &v| a.max(v.abs()))) / 254.0)
            .collect();
        for r in 0..rows {
            out[i * rows + r] = (0..cols)
                .map(|k| f64::from(w[r * cols + k].abs()) * half_step[k / block])
                .sum();
        }
    }
    out
}

/// The activations as the integer kernels see them, as documented in the crate: per `block`
/// values, `d = max|x| / 127` (f32), `q = round(x · (1/d))`, value `q·d` (exact in f64).
pub fn int8_activations(x: &[f32], block: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for b in x.chunks(block) {
        let amax = b.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend(
            b.iter()
                .map(|&v| f64::from((v * id).round()) * f64::from(d)),
        );
    }
    out
}

pub fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}
