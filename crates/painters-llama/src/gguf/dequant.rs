//! ggml tensor types and dequantisation to f32.
//!
//! The table in [`GgmlType`] lists every type ggml defines, so that the reader can check the
//! size of any tensor, even one it cannot dequantise. The block formats themselves live in
//! `painters-kernels` (one implementation for loading and for computing): its dequantisers
//! follow ggml's reference C (`ggml-quants.c`, `dequantize_row_*`) and gguf-py's numpy port
//! operation for operation, so results are bit-identical to both (checked there against a
//! gguf-py fixture, and here on hand-built blocks).
//!
//! All types store blocks of `block_size` consecutive elements (along `ne[0]`) in `type_size`
//! bytes.

use std::fmt;

use painters_kernels::WeightType;

/// Elements per K-quant super-block.
const QK_K: usize = 256;

/// A ggml tensor storage type (`enum ggml_type`), with its block geometry.
#[allow(non_camel_case_types)] // keep ggml's names (Q4_0, Q4_K...) so they can be grepped
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

/// (type, id, name, elements per block, bytes per block) — from ggml's `type_traits`.
/// Ids 4, 5 (old Q4_2/Q4_3), 31–33 and 36–38 (runtime-repacked layouts) were removed from ggml
/// and never appear in files, so they are unknown here.
const TYPES: [(GgmlType, u32, &str, usize, usize); 32] = [
    (GgmlType::F32, 0, "F32", 1, 4),
    (GgmlType::F16, 1, "F16", 1, 2),
    (GgmlType::Q4_0, 2, "Q4_0", 32, 2 + 16),
    (GgmlType::Q4_1, 3, "Q4_1", 32, 2 + 2 + 16),
    (GgmlType::Q5_0, 6, "Q5_0", 32, 2 + 4 + 16),
    (GgmlType::Q5_1, 7, "Q5_1", 32, 2 + 2 + 4 + 16),
    (GgmlType::Q8_0, 8, "Q8_0", 32, 2 + 32),
    (GgmlType::Q8_1, 9, "Q8_1", 32, 2 + 2 + 32),
    (
        GgmlType::Q2_K,
        10,
        "Q2_K",
        QK_K,
        2 + 2 + QK_K / 16 + QK_K / 4,
    ),
    (
        GgmlType::Q3_K,
        11,
        "Q3_K",
        QK_K,
        2 + QK_K / 4 + QK_K / 8 + 12,
    ),
    (GgmlType::Q4_K, 12, "Q4_K", QK_K, 2 + 2 + 12 + QK_K / 2),
    (
        GgmlType::Q5_K,
        13,
        "Q5_K",
        QK_K,
        2 + 2 + 12 + QK_K / 8 + QK_K / 2,
    ),
    (
        GgmlType::Q6_K,
        14,
        "Q6_K",
        QK_K,
        QK_K / 2 + QK_K / 4 + QK_K / 16 + 2,
    ),
    (GgmlType::Q8_K, 15, "Q8_K", QK_K, 4 + QK_K + QK_K / 8),
    (GgmlType::IQ2_XXS, 16, "IQ2_XXS", QK_K, 2 + QK_K / 4),
    (
        GgmlType::IQ2_XS,
        17,
        "IQ2_XS",
        QK_K,
        2 + QK_K / 4 + QK_K / 32,
    ),
    (
        GgmlType::IQ3_XXS,
        18,
        "IQ3_XXS",
        QK_K,
        2 + QK_K / 4 + QK_K / 8,
    ),
    (GgmlType::IQ1_S, 19, "IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16),
    (GgmlType::IQ4_NL, 20, "IQ4_NL", 32, 2 + 16),
    (
        GgmlType::IQ3_S,
        21,
        "IQ3_S",
        QK_K,
        2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4,
    ),
    (GgmlType::IQ2_S, 22, "IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16),
    (
        GgmlType::IQ4_XS,
        23,
        "IQ4_XS",
        QK_K,
        2 + 2 + QK_K / 2 + QK_K / 64,
    ),
    (GgmlType::I8, 24, "I8", 1, 1),
    (GgmlType::I16, 25, "I16", 1, 2),
    (GgmlType::I32, 26, "I32", 1, 4),
    (GgmlType::I64, 27, "I64", 1, 8),
    (GgmlType::F64, 28, "F64", 1, 8),
    (
        GgmlType::IQ1_M,
        29,
        "IQ1_M",
        QK_K,
        QK_K / 8 + QK_K / 16 + QK_K / 32,
    ),
    (GgmlType::BF16, 30, "BF16", 1, 2),
    (GgmlType::TQ1_0, 34, "TQ1_0", QK_K, 2 + 4 * 13),
    (GgmlType::TQ2_0, 35, "TQ2_0", QK_K, 2 + 64),
    (GgmlType::MXFP4, 39, "MXFP4", 32, 1 + 16),
];

impl GgmlType {
    fn entry(self) -> (GgmlType, u32, &'static str, usize, usize) {
        // The table has one row per variant (checked by a unit test); the fallback is unreachable
        // but keeps this total without a panic.
        TYPES
            .iter()
            .copied()
            .find(|e| e.0 == self)
            .unwrap_or((self, u32::MAX, "?", 1, 1))
    }

    /// Maps a type id from the file; `None` for ids ggml does not define (or has removed).
    pub fn from_id(id: u32) -> Option<Self> {
        TYPES.iter().find(|e| e.1 == id).map(|e| e.0)
    }

    /// The id written in GGUF tensor descriptions.
    pub fn id(self) -> u32 {
        self.entry().1
    }

    /// ggml's name for the type, e.g. `Q4_K`.
    pub fn name(self) -> &'static str {
        self.entry().2
    }

    /// Elements per block.
    pub fn block_size(self) -> usize {
        self.entry().3
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        self.entry().4
    }

    /// The `painters-kernels` storage type of this ggml type, if the kernels compute with it.
    pub fn weight_type(self) -> Option<WeightType> {
        WeightType::from_ggml_id(self.id())
    }

    /// Whether [`dequantize`] supports this type.
    pub fn can_dequantize(self) -> bool {
        self.weight_type().is_some()
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why [`dequantize`] refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DequantError {
    /// No dequantiser for this type.
    #[error("cannot dequantise ggml type {ggml_type} (id {})", .ggml_type.id())]
    Unsupported { ggml_type: GgmlType },
    /// The element count is not a whole number of blocks.
    #[error("{n_elements} elements is not a whole number of {ggml_type} blocks of {block_size}")]
    PartialBlock {
        ggml_type: GgmlType,
        n_elements: usize,
        block_size: usize,
    },
    /// The byte count does not match the element count.
    #[error("{n_elements} {ggml_type} elements need {expected} bytes, got {got}")]
    BadLength {
        ggml_type: GgmlType,
        n_elements: usize,
        expected: usize,
        got: usize,
    },
}

/// Dequantises `n_elements` values of type `ty` stored in `data` to f32, in storage order.
///
/// `data` must be exactly the bytes of those elements (`n_elements / block_size * type_size`).
pub fn dequantize(ty: GgmlType, data: &[u8], n_elements: usize) -> Result<Vec<f32>, DequantError> {
    let Some(wt) = ty.weight_type() else {
        return Err(DequantError::Unsupported { ggml_type: ty });
    };
    let block = ty.block_size();
    if !n_elements.is_multiple_of(block) {
        return Err(DequantError::PartialBlock {
            ggml_type: ty,
            n_elements,
            block_size: block,
        });
    }
    let expected = (n_elements / block).checked_mul(ty.type_size());
    if expected != Some(data.len()) {
        return Err(DequantError::BadLength {
            ggml_type: ty,
            n_elements,
            expected: expected.unwrap_or(usize::MAX),
            got: data.len(),
        });
    }
    let mut out = vec![0.0; n_elements];
    // The sizes were checked just above with the same block table, so this cannot fail; map
    // it to the length error rather than unwrapping.
    painters_kernels::dequantize(wt, data, &mut out).map_err(|_| DequantError::BadLength {
        ggml_type: ty,
        n_elements,
        expected: expected.unwrap_or(usize::MAX),
        got: data.len(),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Each test builds blocks byte by byte from chosen quants and scales (packing them the way the
    //! format describes, i.e. the quantiser's direction) and checks the dequantised values against
    //! the format's defining formula evaluated directly on those chosen numbers.

    use super::*;
    use half::f16;

    fn h(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_bits().to_le_bytes()
    }

    /// Value of an f16 scale as stored (the test's scales are chosen to be exact in f16).
    fn hv(x: f32) -> f32 {
        let v = f16::from_f32(x).to_f32();
        assert_eq!(v, x, "test scale {x} must be exact in f16");
        v
    }

    fn assert_bits_eq(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "element {i}: got {g}, want {w}");
        }
    }

    #[test]
    fn table_is_consistent() {
        for (i, e) in TYPES.iter().enumerate() {
            assert_eq!(GgmlType::from_id(e.1), Some(e.0));
            assert_eq!(e.0.id(), e.1);
            assert!(TYPES[i + 1..].iter().all(|o| o.0 != e.0 && o.1 != e.1));
        }
        for removed in [4, 5, 31, 32, 33, 36, 37, 38, 40, 1000] {
            assert_eq!(GgmlType::from_id(removed), None);
        }
        // sizes of the types we decode, written out independently
        assert_eq!(
            (GgmlType::Q8_0.block_size(), GgmlType::Q8_0.type_size()),
            (32, 34)
        );
        assert_eq!(
            (GgmlType::Q4_0.block_size(), GgmlType::Q4_0.type_size()),
            (32, 18)
        );
        assert_eq!(
            (GgmlType::Q4_1.block_size(), GgmlType::Q4_1.type_size()),
            (32, 20)
        );
        assert_eq!(
            (GgmlType::Q4_K.block_size(), GgmlType::Q4_K.type_size()),
            (256, 144)
        );
        assert_eq!(
            (GgmlType::Q6_K.block_size(), GgmlType::Q6_K.type_size()),
            (256, 210)
        );
        assert_eq!(GgmlType::Q4_K.name(), "Q4_K");
    }

    #[test]
    fn kernel_types_agree_with_the_table() {
        for e in TYPES {
            if let Some(w) = e.0.weight_type() {
                assert_eq!((w.block_len(), w.block_bytes(), w.name()), (e.3, e.4, e.2));
            }
        }
        assert_eq!(TYPES.iter().filter(|e| e.0.can_dequantize()).count(), 13);
    }

    #[test]
    fn f32_roundtrip() {
        let vals = [0.0f32, -1.5, 3.25e-7, f32::MAX, f32::NEG_INFINITY];
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_bits_eq(&dequantize(GgmlType::F32, &bytes, 5).unwrap(), &vals);
    }

    /// IEEE binary16 decoded from its definition: sign, 5-bit exponent (bias 15), 10-bit
    /// mantissa, with subnormals and inf.
    fn f16_reference(bits: u16) -> f32 {
        let sign = if bits >> 15 == 1 { -1.0f64 } else { 1.0 };
        let exp = i32::from((bits >> 10) & 0x1F);
        let man = f64::from(bits & 0x3FF);
        let mag = match exp {
            0 => man / 1024.0 * 2f64.powi(-14),
            31 if man == 0.0 => f64::INFINITY,
            _ => (1.0 + man / 1024.0) * 2f64.powi(exp - 15),
        };
        (sign * mag) as f32
    }

    #[test]
    fn f16_matches_definition() {
        let bits: [u16; 8] = [
            0x0000, 0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001, 0x03FF, 0xFC00,
        ];
        let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let want: Vec<f32> = bits.iter().map(|&b| f16_reference(b)).collect();
        assert_bits_eq(&dequantize(GgmlType::F16, &bytes, 8).unwrap(), &want);
        assert_eq!(want[1], 1.0);
        assert_eq!(want[2], -2.0);
        assert_eq!(want[4], 65504.0);
    }

    #[test]
    fn bf16_matches_definition() {
        // bf16 is the upper half of an f32: 1.0 = 0x3F80, -2.0 = 0xC000, 0.15625 = 0x3E20,
        // 3.0 = 0x4040, -inf = 0xFF80
        let bits: [u16; 5] = [0x3F80, 0xC000, 0x3E20, 0x4040, 0xFF80];
        let bytes: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        let want = [1.0, -2.0, 0.15625, 3.0, f32::NEG_INFINITY];
        assert_bits_eq(&dequantize(GgmlType::BF16, &bytes, 5).unwrap(), &want);
    }

    #[test]
    fn q8_0_two_blocks() {
        let (d0, d1) = (hv(0.0625), hv(-1.5));
        let q: Vec<i8> = (0..64).map(|i| (i * 37 % 256 - 128) as i8).collect();
        let mut bytes = Vec::new();
        bytes.extend(h(d0));
        bytes.extend(q[..32].iter().map(|&x| x as u8));
        bytes.extend(h(d1));
        bytes.extend(q[32..].iter().map(|&x| x as u8));
        assert_eq!(bytes.len(), 68);
        let want: Vec<f32> = (0..64)
            .map(|i| f32::from(q[i]) * if i < 32 { d0 } else { d1 })
            .collect();
        assert!(q.contains(&-128));
        assert_bits_eq(&dequantize(GgmlType::Q8_0, &bytes, 64).unwrap(), &want);
    }

    #[test]
    fn q4_0_nibble_order() {
        let d = hv(0.375);
        let q: Vec<u8> = (0..32).map(|i| (i * 7 + 3) % 16).collect();
        let mut bytes = h(d).to_vec();
        // element j in the low nibble of byte j, element j+16 in its high nibble
        bytes.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
        let want: Vec<f32> = q.iter().map(|&x| (f32::from(x) - 8.0) * d).collect();
        let got = dequantize(GgmlType::Q4_0, &bytes, 32).unwrap();
        assert_bits_eq(&got, &want);
        assert_eq!(got[0], (3.0 - 8.0) * 0.375);
    }

    #[test]
    fn q4_1_scale_and_min() {
        let (d, m) = (hv(0.125), hv(-0.75));
        let q: Vec<u8> = (0..32).map(|i| (i * 5 + 1) % 16).collect();
        let mut bytes = h(d).to_vec();
        bytes.extend(h(m));
        bytes.extend((0..16).map(|j| q[j] | (q[j + 16] << 4)));
        let want: Vec<f32> = q.iter().map(|&x| f32::from(x) * d + m).collect();
        assert_bits_eq(&dequantize(GgmlType::Q4_1, &bytes, 32).unwrap(), &want);
    }

    /// Packs eight 6-bit (scale, min) pairs into ggml's 12-byte Q4_K/Q5_K layout, written from the
    /// format description (as the quantiser does it), independently of `q4k_scale_min`.
    fn pack_q4k_scales(sc: [u8; 8], mn: [u8; 8]) -> [u8; 12] {
        let mut out = [0u8; 12];
        for j in 0..8 {
            assert!(sc[j] < 64 && mn[j] < 64);
            if j < 4 {
                out[j] = sc[j];
                out[j + 4] = mn[j];
            } else {
                out[j + 4] = (sc[j] & 0x0F) | ((mn[j] & 0x0F) << 4);
                out[j - 4] |= (sc[j] >> 4) << 6;
                out[j] |= (mn[j] >> 4) << 6;
            }
        }
        out
    }

    #[test]
    fn q4_k_non_trivial_scales() {
        let (d, dmin) = (hv(0.015625), hv(0.0078125));
        // all sub-blocks distinct; the upper four use values >= 16 so their top two bits matter
        let sc: [u8; 8] = [1, 17, 33, 63, 16, 47, 62, 35];
        let mn: [u8; 8] = [63, 2, 40, 9, 59, 31, 48, 20];
        let q: Vec<u8> = (0..256).map(|i| ((i * 11 + i / 7) % 16) as u8).collect();
        let mut bytes = Vec::new();
        bytes.extend(h(d));
        bytes.extend(h(dmin));
        bytes.extend(pack_q4k_scales(sc, mn));
        // chunk c (64 elements): byte 32c+l holds element 64c+l (low) and 64c+32+l (high)
        for c in 0..4 {
            for l in 0..32 {
                bytes.push(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
            }
        }
        assert_eq!(bytes.len(), 144);
        let want: Vec<f32> = (0..256)
            .map(|i| {
                let s = i / 32; // sub-block
                (d * f32::from(sc[s])) * f32::from(q[i]) - dmin * f32::from(mn[s])
            })
            .collect();
        let got = dequantize(GgmlType::Q4_K, &bytes, 256).unwrap();
        assert_bits_eq(&got, &want);
        // spot-check one value by hand: element 200 is sub-block 6 (scale 62, min 48)
        let q200 = f32::from(q[200]);
        assert_eq!(got[200], 0.015625 * 62.0 * q200 - 0.0078125 * 48.0);
    }

    #[test]
    fn q6_k_non_trivial_scales() {
        let d = hv(0.03125);
        let sc: [i8; 16] = [
            1, -1, 127, -128, 5, -7, 33, 64, -64, 2, 99, -100, 13, -13, 50, 8,
        ];
        // 6-bit unsigned quants 0..63, stored value minus 32 is the signed quant
        let q: Vec<u8> = (0..256).map(|i| ((i * 29 + i / 5) % 64) as u8).collect();
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        for half in 0..2 {
            for l in 0..32 {
                let e = |k: usize| q[128 * half + l + 32 * k];
                ql[64 * half + l] = (e(0) & 0x0F) | ((e(2) & 0x0F) << 4);
                ql[64 * half + l + 32] = (e(1) & 0x0F) | ((e(3) & 0x0F) << 4);
                qh[32 * half + l] =
                    (e(0) >> 4) | ((e(1) >> 4) << 2) | ((e(2) >> 4) << 4) | ((e(3) >> 4) << 6);
            }
        }
        let mut bytes = Vec::new();
        bytes.extend(ql);
        bytes.extend(qh);
        bytes.extend(sc.iter().map(|&s| s as u8));
        bytes.extend(h(d));
        assert_eq!(bytes.len(), 210);
        let want: Vec<f32> = (0..256)
            .map(|i| (d * f32::from(sc[i / 16])) * (f32::from(q[i]) - 32.0))
            .collect();
        let got = dequantize(GgmlType::Q6_K, &bytes, 256).unwrap();
        assert_bits_eq(&got, &want);
        // element 60 is in scale group 3 (-128)
        assert_eq!(got[60], 0.03125 * -128.0 * (f32::from(q[60]) - 32.0));
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(
            dequantize(GgmlType::IQ4_XS, &[0; 136], 256),
            Err(DequantError::Unsupported {
                ggml_type: GgmlType::IQ4_XS
            })
        );
        assert!(matches!(
            dequantize(GgmlType::Q8_0, &[0; 34], 31),
            Err(DequantError::PartialBlock { .. })
        ));
        assert!(matches!(
            dequantize(GgmlType::Q8_0, &[0; 33], 32),
            Err(DequantError::BadLength {
                expected: 34,
                got: 33,
                ..
            })
        ));
        assert!(matches!(
            dequantize(GgmlType::F32, &[0; 8], 3),
            Err(DequantError::BadLength { .. })
        ));
    }
}
