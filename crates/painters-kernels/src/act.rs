//! Activations quantised to 8 bits for the integer kernels.
//!
//! Like llama.cpp, the quantised products quantise each activation row once to 8-bit integers
//! and then take integer dot products with the weight blocks. The layouts here are this
//! crate's own (not ggml's `block_q8_*`): quants of a row are contiguous, so a kernel loads the
//! 32 activations of a block with one instruction, and the scales are f32 (ggml stores f16),
//! so the activation error is only the 8-bit rounding.
//!
//! * [`ActKind::Q8`] (for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1): a scale per 32 values
//!   `d = max|x| / 127`, quants `q = round(x / d)` in −127..=127, and `s = d·Σq` per block (the
//!   term the offsets and minimums of the weight formats multiply).
//! * [`ActKind::Q8K`] (for the K-quants): one scale per 256 values and the sum of each 16
//!   quants (`bsums`), which the K-quants' minimums and offsets multiply.

use crate::weight_type::{QK, QK_K};

/// Which 8-bit activation layout a weight type's integer kernel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActKind {
    /// A scale per 32 values, with `s = d·Σq` per block.
    Q8,
    /// A scale per 256 values, with sums per 16 quants.
    Q8K,
}

impl ActKind {
    /// Values per scale.
    fn block(self) -> usize {
        match self {
            ActKind::Q8 => QK,
            ActKind::Q8K => QK_K,
        }
    }
}

/// Quantised activation rows (reused between calls: buffers only grow).
#[derive(Debug, Default)]
pub(crate) struct QuantizedActs {
    pub(crate) qs: Vec<i8>,
    pub(crate) d: Vec<f32>,
    /// `d·Σq` per 32-block (Q8).
    pub(crate) s: Vec<f32>,
    /// Σq per 16 quants (Q8K).
    pub(crate) bsums: Vec<i16>,
    cols: usize,
    kind: Option<ActKind>,
}

/// One quantised row with a scale per 32 values.
#[derive(Clone, Copy)]
pub(crate) struct Q8Row<'a> {
    pub(crate) qs: &'a [i8],
    pub(crate) d: &'a [f32],
    pub(crate) s: &'a [f32],
}

/// One quantised row with a scale per 256 values.
#[derive(Clone, Copy)]
pub(crate) struct Q8KRow<'a> {
    pub(crate) qs: &'a [i8],
    pub(crate) d: &'a [f32],
    pub(crate) bsums: &'a [i16],
}

impl QuantizedActs {
    /// Quantises `m` rows of `cols` values (`x.len() == m * cols`, `cols` a multiple of the
    /// kind's block) into this buffer.
    pub(crate) fn quantize(&mut self, kind: ActKind, x: &[f32], m: usize, cols: usize) {
        let block = kind.block();
        debug_assert!(cols.is_multiple_of(block) && x.len() == m * cols);
        let nb = m * cols / block;
        self.qs.resize(m * cols, 0);
        self.d.resize(nb, 0.0);
        match kind {
            ActKind::Q8 => self.s.resize(nb, 0.0),
            ActKind::Q8K => self.bsums.resize(m * cols / 16, 0),
        }
        for (b, (x, q)) in x
            .chunks_exact(block)
            .zip(self.qs.chunks_exact_mut(block))
            .enumerate()
        {
            let amax = x.iter().fold(0.0f32, |a, &v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d == 0.0 { 0.0 } else { 1.0 / d };
            for (q, &v) in q.iter_mut().zip(x) {
                // |v·id| <= 127 up to rounding; the float-to-int cast saturates anyway.
                *q = (v * id).round() as i8;
            }
            self.d[b] = d;
            match kind {
                ActKind::Q8 => {
                    let sum: i32 = q.iter().map(|&q| i32::from(q)).sum();
                    self.s[b] = d * sum as f32;
                }
                ActKind::Q8K => {
                    for (g, q16) in q.chunks_exact(16).enumerate() {
                        // |sum| <= 16 * 127, well inside i16.
                        self.bsums[b * (QK_K / 16) + g] = q16.iter().map(|&q| i16::from(q)).sum();
                    }
                }
            }
        }
        self.cols = cols;
        self.kind = Some(kind);
    }

    /// Row `i` of a Q8 quantisation.
    pub(crate) fn q8_row(&self, i: usize) -> Q8Row<'_> {
        debug_assert_eq!(self.kind, Some(ActKind::Q8));
        let nb = self.cols / QK;
        Q8Row {
            qs: &self.qs[i * self.cols..(i + 1) * self.cols],
            d: &self.d[i * nb..(i + 1) * nb],
            s: &self.s[i * nb..(i + 1) * nb],
        }
    }

    /// Row `i` of a Q8K quantisation.
    pub(crate) fn q8k_row(&self, i: usize) -> Q8KRow<'_> {
        debug_assert_eq!(self.kind, Some(ActKind::Q8K));
        let nb = self.cols / QK_K;
        Q8KRow {
            qs: &self.qs[i * self.cols..(i + 1) * self.cols],
            d: &self.d[i * nb..(i + 1) * nb],
            bsums: &self.bsums[i * self.cols / 16..(i + 1) * self.cols / 16],
        }
    }
}
