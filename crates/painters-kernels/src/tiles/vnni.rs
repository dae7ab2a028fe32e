//! The AVX-512 VNNI micro-kernel of the int8 tiled product.

#![allow(unsafe_op_in_unsafe_fn)] // the kernel is one unsafe SIMD body

use std::arch::x86_64::*;
use std::ptr::read_unaligned;

use super::{Acts8, LANES, MV, NR, Tile};
use crate::WeightType;
use crate::dot::x86::{Avx512, f16, five_bits, nibbles};
use crate::format::kquant::q4k_scale_min;

/// [`Acts8::pack`] compiled for AVX-512 (vectorised rounding and interleaving).
///
/// # Safety
///
/// The CPU must have the features enabled here.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn pack(acts: &mut Acts8, x: &[f32], m: usize, k: usize) {
    acts.pack(x, m, k)
}

/// Unpacks `rows` (at most [`NR`]) stored rows of `ty` into the tile (its other rows zero),
/// with AVX-512 code for the common formats and the portable unpacker for the others.
///
/// # Safety
///
/// The CPU must have the features enabled here; `src` holds `rows` rows of `row_bytes`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn unpack(
    tile: &mut Tile,
    ty: WeightType,
    src: &[u8],
    row_bytes: usize,
    rows: usize,
    k: usize,
    group: usize,
) {
    tile.reset(k, group);
    let ng = k / group;
    for r in 0..rows {
        let row = &src[r * row_bytes..(r + 1) * row_bytes];
        let q = tile.q.as_mut_ptr().add(r * k);
        let (scale, bias, corr) = (
            &mut tile.scale[r * ng..(r + 1) * ng],
            &mut tile.bias[r * ng..(r + 1) * ng],
            &mut tile.corr[r * ng..(r + 1) * ng],
        );
        match ty {
            WeightType::Q8_0 => {
                for (b, blk) in row.chunks_exact(34).enumerate() {
                    let v = _mm256_loadu_si256(blk.as_ptr().add(2) as *const __m256i);
                    _mm256_storeu_si256(q.add(32 * b) as *mut __m256i, v);
                    scale[b] = f16(blk.as_ptr());
                    // Σq = Σ(q + 128) − 32·128
                    corr[b] = 128 * (sum_u8(_mm256_xor_si256(v, _mm256_set1_epi8(-128))) - 4096);
                }
            }
            WeightType::Q4_0 | WeightType::Q4_1 | WeightType::Q5_0 | WeightType::Q5_1 => {
                let (off, min) = match ty {
                    WeightType::Q4_0 => (8, false),
                    WeightType::Q5_0 => (16, false),
                    _ => (0, true),
                };
                let bb = ty.block_bytes();
                for (b, blk) in row.chunks_exact(bb).enumerate() {
                    let p = blk.as_ptr();
                    let u = match ty {
                        WeightType::Q4_0 => nibbles(p.add(2)),
                        WeightType::Q4_1 => nibbles(p.add(4)),
                        WeightType::Q5_0 => five_bits::<Avx512>(p.add(2), p.add(6)),
                        _ => five_bits::<Avx512>(p.add(4), p.add(8)),
                    };
                    let v = _mm256_sub_epi8(u, _mm256_set1_epi8(off as i8));
                    _mm256_storeu_si256(q.add(32 * b) as *mut __m256i, v);
                    scale[b] = f16(p);
                    if min {
                        bias[b] = f16(p.add(2));
                    }
                    corr[b] = 128 * (sum_u8(u) - 32 * off);
                }
            }
            WeightType::Q4_K | WeightType::Q5_K => unpack_q45_k(ty, row, q, scale, bias, corr),
            WeightType::Q6_K => unpack_q6_k(row, q, scale, corr),
            _ => tile.unpack_row_generic(ty, r, row, k, group),
        }
    }
}

/// Σ of 32 unsigned bytes.
#[inline(always)]
unsafe fn sum_u8(v: __m256i) -> i32 {
    let s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    let s = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    (_mm_cvtsi128_si64(s) + _mm_extract_epi64::<1>(s)) as i32
}

/// Σ of each 16 unsigned bytes of 32.
#[inline(always)]
unsafe fn sum_u8_halves(v: __m256i) -> [i32; 2] {
    let s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    let (lo, hi) = (_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    [
        (_mm_cvtsi128_si64(lo) + _mm_extract_epi64::<1>(lo)) as i32,
        (_mm_cvtsi128_si64(hi) + _mm_extract_epi64::<1>(hi)) as i32,
    ]
}

/// Q4_K / Q5_K rows: groups of 32, quants 0..16 (0..32), bias `−dmin·min`.
#[inline(always)]
unsafe fn unpack_q45_k(
    ty: WeightType,
    row: &[u8],
    q: *mut i8,
    scale: &mut [f32],
    bias: &mut [f32],
    corr: &mut [i32],
) {
    let five = ty == WeightType::Q5_K;
    let (low4, one) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(1));
    for (b, blk) in row.chunks_exact(ty.block_bytes()).enumerate() {
        let p = blk.as_ptr();
        let (d, dmin) = (f16(p), f16(p.add(2)));
        let qs = p.add(if five { 48 } else { 16 });
        let mut hm = if five {
            _mm256_loadu_si256(p.add(16) as *const __m256i)
        } else {
            _mm256_setzero_si256()
        };
        for c in 0..4 {
            let v = _mm256_loadu_si256(qs.add(32 * c) as *const __m256i);
            let mut lo = _mm256_and_si256(v, low4);
            let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low4);
            if five {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16::<4>(_mm256_and_si256(hm, one)));
                hm = _mm256_srli_epi16::<1>(hm);
                hi = _mm256_or_si256(hi, _mm256_slli_epi16::<4>(_mm256_and_si256(hm, one)));
                hm = _mm256_srli_epi16::<1>(hm);
            }
            for (h, u) in [lo, hi].into_iter().enumerate() {
                let j = 2 * c + h;
                _mm256_storeu_si256(q.add(256 * b + 32 * j) as *mut __m256i, u);
                let (sc, m) = q4k_scale_min(j, &blk[4..16]);
                scale[8 * b + j] = d * f32::from(sc);
                bias[8 * b + j] = -(dmin * f32::from(m));
                corr[8 * b + j] = 128 * sum_u8(u);
            }
        }
    }
}

/// Q6_K rows: groups of 16, quants `q − 32`.
#[inline(always)]
unsafe fn unpack_q6_k(row: &[u8], q: *mut i8, scale: &mut [f32], corr: &mut [i32]) {
    let (low4, three) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(3));
    for (b, blk) in row.chunks_exact(210).enumerate() {
        let p = blk.as_ptr();
        let d = f16(p.add(208));
        for g in 0..16 {
            scale[16 * b + g] = d * f32::from(blk[192 + g] as i8);
        }
        for h in 0..2 {
            let ql0 = _mm256_loadu_si256(p.add(64 * h) as *const __m256i);
            let ql1 = _mm256_loadu_si256(p.add(64 * h + 32) as *const __m256i);
            let qh = _mm256_loadu_si256(p.add(128 + 32 * h) as *const __m256i);
            let high = |s: i32| {
                let v = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(s));
                _mm256_slli_epi16::<4>(_mm256_and_si256(v, three))
            };
            let quants = [
                _mm256_or_si256(_mm256_and_si256(ql0, low4), high(0)),
                _mm256_or_si256(_mm256_and_si256(ql1, low4), high(2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql0), low4), high(4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql1), low4), high(6)),
            ];
            for (kk, u) in quants.into_iter().enumerate() {
                let at = 256 * b + 128 * h + 32 * kk;
                _mm256_storeu_si256(
                    q.add(at) as *mut __m256i,
                    _mm256_sub_epi8(u, _mm256_set1_epi8(32)),
                );
                let g = at % 256 / 16;
                let [s0, s1] = sum_u8_halves(u);
                corr[16 * b + g] = 128 * (s0 - 16 * 32);
                corr[16 * b + g + 1] = 128 * (s1 - 16 * 32);
            }
        }
    }
}

/// Runs the tile against lane groups `lg..lg+mv` (`mv` ≤ [`MV`]) and stores the results in
/// `out`: `out[r·mp + 16·(lg + v) + lane]` for weight row `r` and activation row
/// `16·(lg + v) + lane`.
///
/// # Safety
///
/// The CPU must have AVX-512 F/BW/VL/VNNI; `tile` must be unpacked for `acts.k` columns with
/// groups of `group` (16 or 32), `acts` hold at least `lg + mv` lane groups and `out` at least
/// `NR · mp` values with `mp ≥ 16·(lg + mv)`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile(
    tile: &Tile,
    acts: &Acts8,
    lg: usize,
    mv: usize,
    group: usize,
    bias: bool,
    out: &mut [f32],
    mp: usize,
) {
    let out = out.as_mut_ptr();
    // SAFETY: forwarded from the caller.
    unsafe {
        match (mv, group, bias) {
            (1, 16, false) => kernel::<1, 16, false>(tile, acts, lg, out, mp),
            (1, 16, true) => kernel::<1, 16, true>(tile, acts, lg, out, mp),
            (1, _, false) => kernel::<1, 32, false>(tile, acts, lg, out, mp),
            (1, _, true) => kernel::<1, 32, true>(tile, acts, lg, out, mp),
            (_, 16, false) => kernel::<MV, 16, false>(tile, acts, lg, out, mp),
            (_, 16, true) => kernel::<MV, 16, true>(tile, acts, lg, out, mp),
            (_, _, false) => kernel::<MV, 32, false>(tile, acts, lg, out, mp),
            (_, _, true) => kernel::<MV, 32, true>(tile, acts, lg, out, mp),
        }
    }
}

/// `V` lane groups, scale groups of `G` values, with or without the bias term.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn kernel<const V: usize, const G: usize, const BIAS: bool>(
    tile: &Tile,
    acts: &Acts8,
    lg: usize,
    out: *mut f32,
    mp: usize,
) {
    let k = acts.k;
    let ng = k / G;
    let (k32, k16) = (k / 32, k / 16);
    let qw = tile.q.as_ptr();
    let qx = acts.qx.as_ptr().add(lg * k * LANES);
    let dx = acts.dx.as_ptr().add(lg * k32 * LANES);
    let sx = acts.sx.as_ptr().add(lg * k16 * LANES);
    let mut accf = [[_mm512_setzero_ps(); V]; NR];
    for g in 0..ng {
        // Start each sum at −128·Σq_w, which removes the +128 the activations carry.
        let mut acci = [[_mm512_setzero_si512(); V]; NR];
        for (r, acci) in acci.iter_mut().enumerate() {
            *acci = [_mm512_set1_epi32(-*tile.corr.get_unchecked(r * ng + g)); V];
        }
        for s in 0..G / 4 {
            let k4 = g * (G / 4) + s;
            let mut xv = [_mm512_setzero_si512(); V];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = _mm512_loadu_si512(qx.add(v * k * LANES + k4 * 4 * LANES) as *const _);
            }
            for (r, acci) in acci.iter_mut().enumerate() {
                let wb = _mm512_set1_epi32(read_unaligned(qw.add(r * k + 4 * k4) as *const i32));
                for (acc, &xv) in acci.iter_mut().zip(&xv) {
                    *acc = _mm512_dpbusd_epi32(*acc, xv, wb);
                }
            }
        }
        // Scale the group's integer sums into the float accumulators.
        let mut dxv = [_mm512_setzero_ps(); V];
        let mut sxv = [_mm512_setzero_ps(); V];
        for v in 0..V {
            dxv[v] = _mm512_loadu_ps(dx.add((v * k32 + g * G / 32) * LANES));
            if BIAS {
                sxv[v] = if G == 16 {
                    _mm512_loadu_ps(sx.add((v * k16 + g) * LANES))
                } else {
                    _mm512_add_ps(
                        _mm512_loadu_ps(sx.add((v * k16 + 2 * g) * LANES)),
                        _mm512_loadu_ps(sx.add((v * k16 + 2 * g + 1) * LANES)),
                    )
                };
            }
        }
        for r in 0..NR {
            let at = r * ng + g;
            let sc = _mm512_set1_ps(*tile.scale.get_unchecked(at));
            let bi = _mm512_set1_ps(*tile.bias.get_unchecked(at));
            for v in 0..V {
                let t = _mm512_cvtepi32_ps(acci[r][v]);
                accf[r][v] = _mm512_fmadd_ps(t, _mm512_mul_ps(sc, dxv[v]), accf[r][v]);
                if BIAS {
                    accf[r][v] = _mm512_fmadd_ps(bi, sxv[v], accf[r][v]);
                }
            }
        }
    }
    // (A 16-lane scatter straight into y's columns measured 10% slower on Zen 4.)
    for (r, accf_r) in accf.iter().enumerate() {
        for (v, acc) in accf_r.iter().enumerate() {
            _mm512_storeu_ps(out.add(r * mp + (lg + v) * LANES), *acc);
        }
    }
}
