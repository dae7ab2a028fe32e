//! Weight rows of every block format as signed 8-bit quants with per-group scales and biases:
//! `w[k] = scale[g] · q[k] + bias[g]` for `k` in group `g` (16 or 32 elements), the form the
//! int8 tiled product multiplies.
//!
//! The quants are made signed by taking each format's offset into them (Q4_0: `q − 8`, Q6_K:
//! `q − 32`, …) and the minimums into `bias`; `scale` is computed in f32 exactly as the
//! dequantiser computes the sub-block scale (e.g. Q4_K's `d · sc`), so `scale · q + bias` is the
//! dequantised weight up to the order of one rounding.

use crate::WeightType;
use crate::format::float::f16_at;
use crate::format::kquant::{q3k_scales, q4k_scale_min};
use crate::weight_type::{QK, QK_K};

/// Elements per scale group of `ty` in the unpacked form (`None`: float types, not unpacked).
pub(crate) fn group_len(ty: WeightType) -> Option<usize> {
    match ty {
        WeightType::F32 | WeightType::F16 | WeightType::BF16 => None,
        WeightType::Q2_K | WeightType::Q3_K | WeightType::Q6_K => Some(16),
        _ => Some(32),
    }
}

/// Whether the format has a per-group term that multiplies the sum of the activations (a
/// minimum); the others are symmetric around zero once their offset is in the quants.
pub(crate) fn has_bias(ty: WeightType) -> bool {
    matches!(
        ty,
        WeightType::Q4_1
            | WeightType::Q5_1
            | WeightType::Q2_K
            | WeightType::Q4_K
            | WeightType::Q5_K
    )
}

/// Unpacks one row (`src`: whole blocks) into `q` (one i8 per element), `scale` and `bias` (one
/// per group). Sizes are the caller's: `q.len()` elements, `q.len() / group_len` groups.
#[inline(always)]
pub(crate) fn unpack_row(
    ty: WeightType,
    src: &[u8],
    q: &mut [i8],
    scale: &mut [f32],
    bias: &mut [f32],
) {
    let blocks = src.chunks_exact(ty.block_bytes());
    match ty {
        WeightType::Q8_0 => {
            for ((b, q), s) in blocks.zip(q.chunks_exact_mut(QK)).zip(scale.iter_mut()) {
                *s = f16_at(b, 0);
                for (q, &v) in q.iter_mut().zip(&b[2..34]) {
                    *q = v as i8;
                }
            }
        }
        WeightType::Q4_0 | WeightType::Q4_1 => {
            let (off, at) = if ty == WeightType::Q4_0 {
                (8, 2)
            } else {
                (0, 4)
            };
            for (i, (b, q)) in blocks.zip(q.chunks_exact_mut(QK)).enumerate() {
                scale[i] = f16_at(b, 0);
                if ty == WeightType::Q4_1 {
                    bias[i] = f16_at(b, 2);
                }
                let (lo, hi) = q.split_at_mut(QK / 2);
                for ((lo, hi), &v) in lo.iter_mut().zip(hi).zip(&b[at..at + 16]) {
                    *lo = (v & 0x0F) as i8 - off;
                    *hi = (v >> 4) as i8 - off;
                }
            }
        }
        WeightType::Q5_0 | WeightType::Q5_1 => {
            let (off, at) = if ty == WeightType::Q5_0 {
                (16, 2)
            } else {
                (0, 4)
            };
            for (i, (b, q)) in blocks.zip(q.chunks_exact_mut(QK)).enumerate() {
                scale[i] = f16_at(b, 0);
                if ty == WeightType::Q5_1 {
                    bias[i] = f16_at(b, 2);
                }
                let qh = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
                let qs = &b[at + 4..at + 20];
                for j in 0..16 {
                    let h0 = ((qh >> j) & 1) as u8;
                    let h1 = ((qh >> (j + 16)) & 1) as u8;
                    q[j] = ((qs[j] & 0x0F) | (h0 << 4)) as i8 - off;
                    q[j + 16] = ((qs[j] >> 4) | (h1 << 4)) as i8 - off;
                }
            }
        }
        WeightType::Q2_K => {
            for (i, (b, q)) in blocks.zip(q.chunks_exact_mut(QK_K)).enumerate() {
                let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
                for g in 0..16 {
                    let sc = b[g];
                    scale[16 * i + g] = d * f32::from(sc & 0x0F);
                    bias[16 * i + g] = -(dmin * f32::from(sc >> 4));
                }
                unpack_two_bits(&b[16..80], q, |_| 0);
            }
        }
        WeightType::Q3_K => {
            for (i, (b, q)) in blocks.zip(q.chunks_exact_mut(QK_K)).enumerate() {
                let d = f16_at(b, 108);
                for (g, &sc) in q3k_scales(&b[96..108]).iter().enumerate() {
                    scale[16 * i + g] = d * f32::from(sc);
                }
                let hmask = &b[0..32];
                // q = low2 − 4 + 4·h, with h bit (4n + j) of hmask[l] for element 128n + 32j + l
                unpack_two_bits(&b[32..96], q, |e| {
                    let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
                    4 * ((hmask[l] >> (4 * n + j)) & 1) as i8 - 4
                });
            }
        }
        WeightType::Q4_K | WeightType::Q5_K => {
            let five = ty == WeightType::Q5_K;
            for (i, (b, q)) in blocks.zip(q.chunks_exact_mut(QK_K)).enumerate() {
                let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
                let qs = if five { &b[48..176] } else { &b[16..144] };
                for (j, q) in q.chunks_exact_mut(32).enumerate() {
                    let (sc, m) = q4k_scale_min(j, &b[4..16]);
                    scale[8 * i + j] = d * f32::from(sc);
                    bias[8 * i + j] = -(dmin * f32::from(m));
                    let shift = 4 * (j % 2);
                    let src = &qs[32 * (j / 2)..32 * (j / 2) + 32];
                    for (l, (q, &v)) in q.iter_mut().zip(src).enumerate() {
                        let high = if five { ((b[16 + l] >> j) & 1) << 4 } else { 0 };
                        *q = (((v >> shift) & 0x0F) | high) as i8;
                    }
                }
            }
        }
        WeightType::Q6_K => {
            for (i, (b, q)) in blocks.zip(q.chunks_exact_mut(QK_K)).enumerate() {
                let d = f16_at(b, 208);
                for g in 0..16 {
                    scale[16 * i + g] = d * f32::from(b[192 + g] as i8);
                }
                for h in 0..2 {
                    let ql = &b[64 * h..64 * h + 64];
                    let qh = &b[128 + 32 * h..128 + 32 * h + 32];
                    let out = &mut q[128 * h..128 * h + 128];
                    for l in 0..32 {
                        let hb = qh[l];
                        out[l] = ((ql[l] & 0x0F) | ((hb & 3) << 4)) as i8 - 32;
                        out[l + 32] = ((ql[l + 32] & 0x0F) | (((hb >> 2) & 3) << 4)) as i8 - 32;
                        out[l + 64] = ((ql[l] >> 4) | (((hb >> 4) & 3) << 4)) as i8 - 32;
                        out[l + 96] = ((ql[l + 32] >> 4) | (((hb >> 6) & 3) << 4)) as i8 - 32;
                    }
                }
            }
        }
        WeightType::F32 | WeightType::F16 | WeightType::BF16 => {}
    }
}

/// The 2-bit fields of a Q2_K/Q3_K super-block (element `128n + 32j + l` in bits `2j..2j+2` of
/// `qs[32n + l]`) plus `add(element)`.
#[inline(always)]
fn unpack_two_bits(qs: &[u8], q: &mut [i8], add: impl Fn(usize) -> i8) {
    for n in 0..2 {
        for j in 0..4 {
            for l in 0..32 {
                let e = 128 * n + 32 * j + l;
                q[e] = ((qs[32 * n + l] >> (2 * j)) & 3) as i8 + add(e);
            }
        }
    }
}
