//! CPU kernels for weights kept in their storage precision.
//!
//! A [`QMatrix`] holds a `[out, in]` weight matrix as stored in a checkpoint — f32, f16, bf16
//! or one of GGUF's block formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K … Q6_K) — owned or
//! borrowed from a memory map ([`WeightBytes`]), and multiplies activations by it without
//! expanding it to f32. [`QMatrix::matmul`] chooses among three [`ProductPath`]s:
//!
//! * **decode** ([`ProductPath::Dot`], up to [`DOT_MAX_ROWS`] activation rows): memory-bound.
//!   One fused dequantise-and-dot loop per weight row; quantised weights meet the activations
//!   quantised once to 8 bits, with integer dot products (AVX-512 VNNI `vpdpbusd`, AVX2
//!   `vpmaddubsw`), as llama.cpp does. Rows are split over rayon's threads.
//! * **prompt, int8** ([`ProductPath::Int8`], more rows, quantised weights, AVX-512 VNNI):
//!   compute-bound. Activations quantised to 8 bits and interleaved, weight tiles unpacked to
//!   signed 8-bit quants, a register-blocked `vpdpbusd` micro-kernel.
//! * **prompt, exact** ([`ProductPath::Dequant`]: float weights, CPUs without VNNI, or on
//!   request): panels of W dequantised to f32 in cache-sized pieces and multiplied with the
//!   `gemm` crate's f32 micro-kernel, panels split over rayon's threads.
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
//! * The exact prompt path and the float types' decode path equal dequantise-then-f32-multiply
//!   up to the order of summation (measured ≤ 1e-6 of the output on real weights).
//! * The 8-bit paths round the activations to 8 bits (a scale per 32 values; per 256 for the
//!   K-quants' decode path, like llama.cpp's Q8_K): approximate. Measured on SmolLM2-135M's
//!   and Gemma-3-270M's weights with their real activations: 0.1–1% of the output's RMS per
//!   product (up to 2% for Gemma's Q6_K FFN at decode). The tests bound the integer kernels
//!   as tightly as the float ones (`tests/products.rs`); docs/kernels.md has the figures.
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
mod level;
mod matrix;
mod tiles;
mod view;
mod weight_type;

pub use bytes::{SharedBuffer, WeightBytes};
pub use cpu::{CpuFeatures, cpu_features, default_level};
pub use error::KernelError;
pub use format::{can_quantize, dequantize, dequantize_with, quantize};
pub use gemv::Scratch;
pub use level::Level;
pub use matrix::{DOT_MAX_ROWS, MatmulOptions, ProductPath, QMatrix};
pub use weight_type::{QK, QK_K, WeightType};
