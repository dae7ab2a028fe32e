//! CPU kernels for weights kept in their storage precision.
//!
//! A [`QMatrix`] holds a `[out, in]` weight matrix as stored in a checkpoint — f32, f16, bf16
//! or one of GGUF's block formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K … Q6_K) — owned or
//! borrowed from a memory map, and multiplies activations by it without expanding it to f32:
//!
//! * **decode** (a few activation rows, [`ProductPath::Dot`]): memory-bound. One fused
//!   dequantise-and-dot loop per weight row; quantised weights meet the activations quantised
//!   once to 8 bits, with integer dot products (AVX-512 VNNI `vpdpbusd`, AVX2 `vpmaddubsw`), as
//!   llama.cpp does. Rows are split over rayon's threads.
//! * **prompt** (many rows, [`ProductPath::Dequant`]): compute-bound. Panels of W are
//!   dequantised to f32 in cache-sized pieces and multiplied with a register-blocked f32
//!   micro-kernel (the `gemm` crate's), panels split over rayon's threads.
//!
//! Kernels exist for three [`Level`]s — portable, AVX2 (+FMA, F16C) and AVX-512 (F, BW, VL,
//! VNNI) — chosen at run time from the CPU's features ([`cpu_features`]), or forced with
//! `PAINTERS_KERNELS=scalar|avx2|avx512` or [`MatmulOptions::level`].
//!
//! # Numerics
//!
//! * [`dequantize`], [`QMatrix::dequantize`] and friends are bit-identical to ggml's
//!   `dequantize_row_*` and gguf-py's `quants.dequantize` (tested against a fixture made with
//!   gguf-py), on every level. [`quantize`] is byte-identical to gguf-py's quantisers.
//! * The prompt path and the float types' decode path are exact with respect to
//!   dequantise-then-f32-multiply, up to the order of summation (relative error of the order
//!   of `1e-6` for these row lengths).
//! * The quantised types' decode path rounds the activations to 8 bits (a scale per 32 values,
//!   or per 256 for the K-quants): approximate. Measured on Gaussian activations and weights
//!   against an f64 reference built from the dequantised weights, the error is below 1% of
//!   the output's RMS (the tests assert the bounds in `tests/products.rs`; docs/kernels.md has
//!   the measured figures).
//!
//! # Shapes
//!
//! Everything is row-major: `W` is `rows × cols` (`[out, in]`), `x` is `m × cols`, `y` is
//! `m × rows`, and `y = x · Wᵀ`.

mod act;
mod bytes;
mod cpu;
mod dot;
mod error;
mod format;
mod gemm;
mod gemv;
mod matrix;
mod tiles;
mod weight_type;

pub use bytes::{SharedBuffer, WeightBytes};
pub use cpu::{CpuFeatures, Level, cpu_features, default_level};
pub use error::KernelError;
pub use format::{can_quantize, dequantize, dequantize_with, quantize};
pub use gemv::Scratch;
pub use matrix::{DOT_MAX_ROWS, MatmulOptions, ProductPath, QMatrix};
pub use weight_type::{QK, QK_K, WeightType};
