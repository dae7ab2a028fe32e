//! Training-time dropout with masks drawn on the host from a seeded ChaCha8 stream.
//!
//! burn's `Dropout` draws from the backend's global RNG: its stream differs per backend and is
//! shared by everything running in the process (parallel tests included), so a fine-tuning run
//! would not be reproducible from its seed. Drawing the keep-masks here costs one host random
//! number per element, small next to the matmuls that produce the element.

use std::sync::Mutex;

use burn::tensor::{Tensor, TensorData};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A seeded source of dropout masks. One per training run; every dropout site draws from it in
/// execution order, so a run is a pure function of the seed.
#[derive(Debug)]
pub struct DropoutRng {
    rng: Mutex<ChaCha8Rng>,
}

impl DropoutRng {
    pub fn new(seed: u64) -> Self {
        DropoutRng {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// Inverted dropout: zero each element with probability `p`, scale the rest by `1 / (1 - p)`.
    pub fn apply<const D: usize>(&self, x: Tensor<D>, p: f64) -> Tensor<D> {
        if p <= 0.0 {
            return x;
        }
        let dims = x.dims();
        let n: usize = dims.iter().product();
        let scale = (1.0 / (1.0 - p)) as f32;
        // Compare 24-bit uniforms against the threshold: exact for f32 and cheap.
        let threshold = (p * (1u64 << 24) as f64) as u32;
        // A poisoned lock only means another thread panicked mid-draw; the stream is still valid.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let mask: Vec<f32> = (0..n)
            .map(|_| {
                if (rng.next_u32() >> 8) < threshold {
                    0.0
                } else {
                    scale
                }
            })
            .collect();
        let mask = Tensor::<D>::from_data(TensorData::new(mask, dims), &x.device());
        x * mask
    }
}

/// Draws standard normals from a seeded stream (Box–Muller), for initialising new heads the way
/// HF does (`normal(0, initializer_range)`) without the backend's global RNG.
pub(crate) fn normal_vec(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // u1 in (0, 1], so ln(u1) is finite.
        let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn drops_the_requested_fraction_and_rescales() {
        let d = DropoutRng::new(3);
        let x = Tensor::<2>::ones([100, 100], &Device::flex());
        let y = crate::host::to_host(d.apply(x, 0.25)).expect("host");
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
        assert!((zeros - 0.25).abs() < 0.02, "{zeros}");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
        let again = crate::host::to_host(
            DropoutRng::new(3).apply(Tensor::<2>::ones([100, 100], &Device::flex()), 0.25),
        );
        assert_eq!(again.expect("host"), y, "same seed, same mask");
    }

    #[test]
    fn normals_have_the_requested_spread() {
        let v = normal_vec(&mut ChaCha8Rng::seed_from_u64(1), 20_001, 0.02);
        assert_eq!(v.len(), 20_001);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(
            mean.abs() < 1e-3 && (var.sqrt() - 0.02).abs() < 1e-3,
            "{mean} {var}"
        );
    }
}
