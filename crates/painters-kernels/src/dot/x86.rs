//! x86-64 dot products (AVX2 and AVX-512 levels), one weight row against one activation row.
//!
//! Every kernel here is an `#[inline(always)]` function generic over an [`Isa`]; the row loops
//! in [`super`] instantiate them inside `#[target_feature]` functions, where the intrinsics
//! inline. The two instruction sets differ only in a few primitives: the u8·i8 dot product
//! (AVX2 `vpmaddubsw` + `vpmaddwd`, AVX-512 VNNI `vpdpbusd`), the i16 multiply-accumulate
//! (`vpmaddwd` + add, VNNI `vpdpwssd`) and turning 32 bits into 32 bytes (a shuffle-and-compare,
//! AVX-512 BW `vpmovm2b`).
//!
//! Integer sums are exact: weight quants are at most 6 bits unsigned (or, for Q8_0, made
//! unsigned with `vpsignb`), activations at most 127 in magnitude, so `vpmaddubsw`'s i16 pairs
//! cannot saturate (2 · 63 · 127 < 32767).
//!
//! # Safety
//!
//! Every function is `unsafe`: the caller guarantees the CPU has the level's features and that
//! the slices hold whole blocks (`w` one row of the type, the activation row as many values).

#![allow(unsafe_op_in_unsafe_fn)] // each function below is one unsafe SIMD body

use std::arch::x86_64::*;
use std::ptr::read_unaligned;

use crate::act::{Q8KRow, Q8Row};
use crate::format::kquant::q4k_scale_min;

/// The primitives that differ between AVX2 and AVX-512 (VNNI).
pub(crate) trait Isa {
    /// `acc + Σ` of each 4 adjacent `u8 · i8` products, as i32 × 8.
    unsafe fn dot_u8_i8(acc: __m256i, q: __m256i, a: __m256i) -> __m256i;
    /// `acc + Σ` of each 2 adjacent `i16 · i16` products, as i32 × 8.
    unsafe fn madd_i16(acc: __m256i, p: __m256i, s: __m256i) -> __m256i;
    /// Byte `i` is `0xFF` where bit `i` of `bits` is set, else 0.
    unsafe fn bits_to_bytes(bits: u32) -> __m256i;
}

/// AVX2 + FMA + F16C.
pub(crate) struct Avx2;
/// AVX2 plus AVX-512 F/BW/VL/VNNI.
pub(crate) struct Avx512;

impl Isa for Avx2 {
    #[inline(always)]
    unsafe fn dot_u8_i8(acc: __m256i, q: __m256i, a: __m256i) -> __m256i {
        let p = _mm256_maddubs_epi16(q, a);
        _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
    }
    #[inline(always)]
    unsafe fn madd_i16(acc: __m256i, p: __m256i, s: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(p, s))
    }
    #[inline(always)]
    unsafe fn bits_to_bytes(bits: u32) -> __m256i {
        // Byte i gets byte i/8 of `bits`, then keeps only bit i%8 and compares.
        let v = _mm256_set1_epi32(bits as i32);
        let spread = _mm256_shuffle_epi8(
            v,
            _mm256_setr_epi8(
                0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3,
                3, 3, 3, 3,
            ),
        );
        let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit)
    }
}

impl Isa for Avx512 {
    #[inline(always)]
    unsafe fn dot_u8_i8(acc: __m256i, q: __m256i, a: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(acc, q, a)
    }
    #[inline(always)]
    unsafe fn madd_i16(acc: __m256i, p: __m256i, s: __m256i) -> __m256i {
        _mm256_dpwssd_epi32(acc, p, s)
    }
    #[inline(always)]
    unsafe fn bits_to_bytes(bits: u32) -> __m256i {
        _mm256_movm_epi8(bits)
    }
}

/// Sum of the 8 lanes.
#[inline(always)]
pub(crate) unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// The f16 at `p` as f32 (F16C).
#[inline(always)]
pub(crate) unsafe fn f16(p: *const u8) -> f32 {
    let h = read_unaligned(p as *const u16);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h))))
}

/// 16 bytes of nibbles → 32 bytes in element order (low nibbles, then high nibbles).
#[inline(always)]
pub(crate) unsafe fn nibbles(p: *const u8) -> __m256i {
    let v = _mm_loadu_si128(p as *const __m128i);
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(v), v);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// The 32 activation quants at `p`.
#[inline(always)]
unsafe fn load32(p: *const i8) -> __m256i {
    _mm256_loadu_si256(p as *const __m256i)
}

/// Q8_0 · Q8: `Σ d·d_a·Σ w·a` with signed weights made unsigned by moving their sign onto the
/// activations.
#[inline(always)]
pub(crate) unsafe fn dot_q8_0<I: Isa>(w: &[u8], a: Q8Row<'_>) -> f32 {
    let (pw, pa) = (w.as_ptr(), a.qs.as_ptr());
    let block = |b: usize, acc: __m256| {
        let blk = pw.add(34 * b);
        let q = _mm256_loadu_si256(blk.add(2) as *const __m256i);
        let x = load32(pa.add(32 * b));
        let i = I::dot_u8_i8(
            _mm256_setzero_si256(),
            _mm256_sign_epi8(q, q),
            _mm256_sign_epi8(x, q),
        );
        let scale = _mm256_set1_ps(f16(blk) * *a.d.get_unchecked(b));
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), scale, acc)
    };
    // Two accumulators, so consecutive blocks do not wait on each other's FMA.
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let nb = a.d.len();
    let mut b = 0;
    while b + 2 <= nb {
        acc0 = block(b, acc0);
        acc1 = block(b + 1, acc1);
        b += 2;
    }
    if b < nb {
        acc0 = block(b, acc0);
    }
    hsum(_mm256_add_ps(acc0, acc1))
}

/// Shared body of the 32-element formats whose quants are unsigned: `quants(block)` gives the
/// 32 quants in element order; the result is `Σ d·d_a·Σ q·a + Σ c·s` where `c` is
/// `corr(block)` (the minimum, or `−offset·d`).
#[inline(always)]
unsafe fn dot_unsigned_32<I: Isa>(
    w: &[u8],
    a: Q8Row<'_>,
    block_bytes: usize,
    quants: impl Fn(*const u8) -> __m256i,
    corr: impl Fn(*const u8, f32) -> f32,
) -> f32 {
    let (pw, pa) = (w.as_ptr(), a.qs.as_ptr());
    let block = |b: usize, acc: __m256, acc_s: f32| {
        let blk = pw.add(block_bytes * b);
        let d = f16(blk);
        let i = I::dot_u8_i8(_mm256_setzero_si256(), quants(blk), load32(pa.add(32 * b)));
        let acc = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(i),
            _mm256_set1_ps(d * *a.d.get_unchecked(b)),
            acc,
        );
        (acc, acc_s + corr(blk, d) * *a.s.get_unchecked(b))
    };
    // Two independent chains, so consecutive blocks do not wait on each other's adds.
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let (mut s0, mut s1) = (0.0f32, 0.0f32);
    let nb = a.d.len();
    let mut b = 0;
    while b + 2 <= nb {
        (acc0, s0) = block(b, acc0, s0);
        (acc1, s1) = block(b + 1, acc1, s1);
        b += 2;
    }
    if b < nb {
        (acc0, s0) = block(b, acc0, s0);
    }
    hsum(_mm256_add_ps(acc0, acc1)) + (s0 + s1)
}

/// Q4_0 · Q8.
#[inline(always)]
pub(crate) unsafe fn dot_q4_0<I: Isa>(w: &[u8], a: Q8Row<'_>) -> f32 {
    dot_unsigned_32::<I>(w, a, 18, |b| nibbles(b.add(2)), |_, d| -8.0 * d)
}

/// Q4_1 · Q8.
#[inline(always)]
pub(crate) unsafe fn dot_q4_1<I: Isa>(w: &[u8], a: Q8Row<'_>) -> f32 {
    dot_unsigned_32::<I>(w, a, 20, |b| nibbles(b.add(4)), |b, _| f16(b.add(2)))
}

/// The 5-bit quants of a Q5 block: nibbles at `qs`, fifth bits in the u32 at `qh`.
#[inline(always)]
pub(crate) unsafe fn five_bits<I: Isa>(qh: *const u8, qs: *const u8) -> __m256i {
    let high = I::bits_to_bytes(read_unaligned(qh as *const u32));
    _mm256_or_si256(nibbles(qs), _mm256_and_si256(high, _mm256_set1_epi8(0x10)))
}

/// Q5_0 · Q8.
#[inline(always)]
pub(crate) unsafe fn dot_q5_0<I: Isa>(w: &[u8], a: Q8Row<'_>) -> f32 {
    dot_unsigned_32::<I>(
        w,
        a,
        22,
        |b| five_bits::<I>(b.add(2), b.add(6)),
        |_, d| -16.0 * d,
    )
}

/// Q5_1 · Q8.
#[inline(always)]
pub(crate) unsafe fn dot_q5_1<I: Isa>(w: &[u8], a: Q8Row<'_>) -> f32 {
    dot_unsigned_32::<I>(
        w,
        a,
        24,
        |b| five_bits::<I>(b.add(4), b.add(8)),
        |b, _| f16(b.add(2)),
    )
}

/// Two i16 scales as a vector: the first for the low 8 lanes (16 bytes of quants), the second
/// for the high 8.
#[inline(always)]
unsafe fn scale_pair(lo: i32, hi: i32) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(hi as i16), _mm_set1_epi16(lo as i16))
}

/// `Σ_g scale_g · bsum_g` over the 16 groups of a super-block (`scales` as 16 × i16).
#[inline(always)]
unsafe fn scaled_bsums(bsums: *const i16, scales: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_loadu_si256(bsums as *const __m256i), scales)
}

/// Sum of the 8 i32 lanes.
#[inline(always)]
unsafe fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}

/// Q2_K · Q8K.
#[inline(always)]
pub(crate) unsafe fn dot_q2_k<I: Isa>(w: &[u8], a: Q8KRow<'_>) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = 0.0f32;
    let (pw, pa) = (w.as_ptr(), a.qs.as_ptr());
    let three = _mm256_set1_epi8(3);
    for b in 0..a.d.len() {
        let blk = pw.add(84 * b);
        let qa = pa.add(256 * b);
        let sc = _mm_loadu_si128(blk as *const __m128i);
        let mins = _mm256_cvtepu8_epi16(_mm_srli_epi16::<4>(_mm_and_si128(sc, _mm_set1_epi8(-16))));
        let summ = hsum_i32(scaled_bsums(a.bsums.as_ptr().add(16 * b), mins));
        let sc: [u8; 16] = std::mem::transmute(_mm_and_si128(sc, _mm_set1_epi8(0x0F)));
        let mut sumi = _mm256_setzero_si256();
        for n in 0..2 {
            let mut q = _mm256_loadu_si256(blk.add(16 + 32 * n) as *const __m256i);
            for j in 0..4 {
                let g = 8 * n + 2 * j;
                let p = _mm256_maddubs_epi16(
                    _mm256_and_si256(q, three),
                    load32(qa.add(128 * n + 32 * j)),
                );
                sumi = I::madd_i16(sumi, p, scale_pair(i32::from(sc[g]), i32::from(sc[g + 1])));
                q = _mm256_srli_epi16::<2>(q);
            }
        }
        let da = *a.d.get_unchecked(b);
        acc = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(sumi),
            _mm256_set1_ps(da * f16(blk.add(80))),
            acc,
        );
        acc_m += da * f16(blk.add(82)) * summ as f32;
    }
    hsum(acc) - acc_m
}

/// Q3_K · Q8K (quants made unsigned as `q + 4`, the offset taken off through the sums).
#[inline(always)]
pub(crate) unsafe fn dot_q3_k<I: Isa>(w: &[u8], a: Q8KRow<'_>) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let (pw, pa) = (w.as_ptr(), a.qs.as_ptr());
    let (three, one) = (_mm256_set1_epi8(3), _mm256_set1_epi8(1));
    for b in 0..a.d.len() {
        let blk = pw.add(110 * b);
        let qa = pa.add(256 * b);
        let sc = crate::format::kquant::q3k_scales(std::slice::from_raw_parts(blk.add(96), 12));
        let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(sc.as_ptr() as *const __m128i));
        let offset = scaled_bsums(a.bsums.as_ptr().add(16 * b), sc16);
        let mut sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32::<2>(offset));
        let mut hm = _mm256_loadu_si256(blk as *const __m256i);
        for n in 0..2 {
            let mut q = _mm256_loadu_si256(blk.add(32 + 32 * n) as *const __m256i);
            for j in 0..4 {
                let g = 8 * n + 2 * j;
                let high = _mm256_slli_epi16::<2>(_mm256_and_si256(hm, one));
                let qu = _mm256_or_si256(_mm256_and_si256(q, three), high);
                let p = _mm256_maddubs_epi16(qu, load32(qa.add(128 * n + 32 * j)));
                sumi = I::madd_i16(sumi, p, scale_pair(i32::from(sc[g]), i32::from(sc[g + 1])));
                q = _mm256_srli_epi16::<2>(q);
                hm = _mm256_srli_epi16::<1>(hm);
            }
        }
        let scale = *a.d.get_unchecked(b) * f16(blk.add(108));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(scale), acc);
    }
    hsum(acc)
}

/// Q4_K / Q5_K · Q8K; `FIVE` selects Q5_K (fifth bits in `qh`).
#[inline(always)]
unsafe fn dot_q45_k<I: Isa, const FIVE: bool>(w: &[u8], a: Q8KRow<'_>) -> f32 {
    let block_bytes = if FIVE { 176 } else { 144 };
    let qs_at = if FIVE { 48 } else { 16 };
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = 0.0f32;
    let (pw, pa) = (w.as_ptr(), a.qs.as_ptr());
    let (low4, one) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(1));
    for b in 0..a.d.len() {
        let blk = pw.add(block_bytes * b);
        let qa = pa.add(256 * b);
        let packed = std::slice::from_raw_parts(blk.add(4), 12);
        let mut sc = [0i16; 8];
        let mut mn = [0i16; 16];
        for j in 0..8 {
            let (s, m) = q4k_scale_min(j, packed);
            sc[j] = i16::from(s);
            mn[2 * j] = i16::from(m);
            mn[2 * j + 1] = i16::from(m);
        }
        let mins = _mm256_loadu_si256(mn.as_ptr() as *const __m256i);
        let summ = hsum_i32(scaled_bsums(a.bsums.as_ptr().add(16 * b), mins));
        let mut hm = if FIVE {
            _mm256_loadu_si256(blk.add(16) as *const __m256i)
        } else {
            _mm256_setzero_si256()
        };
        let mut sumi = _mm256_setzero_si256();
        for c in 0..4 {
            let q = _mm256_loadu_si256(blk.add(qs_at + 32 * c) as *const __m256i);
            let mut lo = _mm256_and_si256(q, low4);
            let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), low4);
            if FIVE {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16::<4>(_mm256_and_si256(hm, one)));
                hm = _mm256_srli_epi16::<1>(hm);
                hi = _mm256_or_si256(hi, _mm256_slli_epi16::<4>(_mm256_and_si256(hm, one)));
                hm = _mm256_srli_epi16::<1>(hm);
            }
            let p_lo = _mm256_maddubs_epi16(lo, load32(qa.add(64 * c)));
            let p_hi = _mm256_maddubs_epi16(hi, load32(qa.add(64 * c + 32)));
            sumi = I::madd_i16(sumi, p_lo, _mm256_set1_epi16(sc[2 * c]));
            sumi = I::madd_i16(sumi, p_hi, _mm256_set1_epi16(sc[2 * c + 1]));
        }
        let da = *a.d.get_unchecked(b);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(da * f16(blk)), acc);
        acc_m += da * f16(blk.add(2)) * summ as f32;
    }
    hsum(acc) - acc_m
}

/// Q4_K · Q8K.
#[inline(always)]
pub(crate) unsafe fn dot_q4_k<I: Isa>(w: &[u8], a: Q8KRow<'_>) -> f32 {
    dot_q45_k::<I, false>(w, a)
}

/// Q5_K · Q8K.
#[inline(always)]
pub(crate) unsafe fn dot_q5_k<I: Isa>(w: &[u8], a: Q8KRow<'_>) -> f32 {
    dot_q45_k::<I, true>(w, a)
}

/// Q6_K · Q8K (unsigned quants, the offset 32 taken off through the sums).
#[inline(always)]
pub(crate) unsafe fn dot_q6_k<I: Isa>(w: &[u8], a: Q8KRow<'_>) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let (pw, pa) = (w.as_ptr(), a.qs.as_ptr());
    let (low4, two) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(3));
    for b in 0..a.d.len() {
        let blk = pw.add(210 * b);
        let qa = pa.add(256 * b);
        let sc: [i8; 16] = read_unaligned(blk.add(192) as *const [i8; 16]);
        let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(sc.as_ptr() as *const __m128i));
        let offset = scaled_bsums(a.bsums.as_ptr().add(16 * b), sc16);
        let mut sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32::<5>(offset));
        for h in 0..2 {
            let ql0 = _mm256_loadu_si256(blk.add(64 * h) as *const __m256i);
            let ql1 = _mm256_loadu_si256(blk.add(64 * h + 32) as *const __m256i);
            let qh = _mm256_loadu_si256(blk.add(128 + 32 * h) as *const __m256i);
            let high = |k: i32| {
                let s = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k));
                _mm256_slli_epi16::<4>(_mm256_and_si256(s, two))
            };
            let quants = [
                _mm256_or_si256(_mm256_and_si256(ql0, low4), high(0)),
                _mm256_or_si256(_mm256_and_si256(ql1, low4), high(1)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql0), low4), high(2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql1), low4), high(3)),
            ];
            for (k, q) in quants.into_iter().enumerate() {
                let g = 8 * h + 2 * k;
                let p = _mm256_maddubs_epi16(q, load32(qa.add(128 * h + 32 * k)));
                sumi = I::madd_i16(sumi, p, scale_pair(i32::from(sc[g]), i32::from(sc[g + 1])));
            }
        }
        let scale = *a.d.get_unchecked(b) * f16(blk.add(208));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(scale), acc);
    }
    hsum(acc)
}

/// `Σ w·x` over a row of 8-wide float loads: `load(i)` gives weights `8i..8i+8` as f32, `tail`
/// the dot of the last `len % 8` elements.
#[inline(always)]
unsafe fn dot_float8(
    x: &[f32],
    load: impl Fn(usize) -> __m256,
    tail: impl Fn(usize) -> f32,
) -> f32 {
    let n8 = x.len() / 8;
    let px = x.as_ptr();
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 4 <= n8 {
        for (k, acc) in acc.iter_mut().enumerate() {
            *acc = _mm256_fmadd_ps(load(i + k), _mm256_loadu_ps(px.add(8 * (i + k))), *acc);
        }
        i += 4;
    }
    while i < n8 {
        acc[0] = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(px.add(8 * i)), acc[0]);
        i += 1;
    }
    let acc = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum(acc) + tail(8 * n8)
}

/// f32 weights · f32 activations.
#[inline(always)]
pub(crate) unsafe fn dot_f32(w: &[u8], x: &[f32]) -> f32 {
    let p = w.as_ptr() as *const f32;
    dot_float8(
        x,
        |i| _mm256_loadu_ps(p.add(8 * i)),
        |from| super::scalar::dot_f32(&w[4 * from..], &x[from..]),
    )
}

/// f16 weights · f32 activations.
#[inline(always)]
pub(crate) unsafe fn dot_f16(w: &[u8], x: &[f32]) -> f32 {
    let p = w.as_ptr();
    dot_float8(
        x,
        |i| _mm256_cvtph_ps(_mm_loadu_si128(p.add(16 * i) as *const __m128i)),
        |from| super::scalar::dot_f16(&w[2 * from..], &x[from..]),
    )
}

/// bf16 weights · f32 activations.
#[inline(always)]
pub(crate) unsafe fn dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    let p = w.as_ptr();
    dot_float8(
        x,
        |i| {
            let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(p.add(16 * i) as *const __m128i));
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(h))
        },
        |from| super::scalar::dot_bf16(&w[2 * from..], &x[from..]),
    )
}
