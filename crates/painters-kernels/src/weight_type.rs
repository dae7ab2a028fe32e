//! The storage types a weight matrix can have, with their block geometry.

use std::fmt;

/// Elements per K-quant super-block (ggml's `QK_K`).
pub const QK_K: usize = 256;
/// Elements per block of the "legacy" GGUF formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
pub const QK: usize = 32;

/// How the elements of a weight matrix are stored.
///
/// Every type stores blocks of [`block_len`](Self::block_len) consecutive elements of a row in
/// [`block_bytes`](Self::block_bytes) bytes; the float types have blocks of one element. The
/// GGUF block formats are byte-for-byte ggml's (`block_q4_0`, `block_q4_K`, …), so tensors of a
/// GGUF file are used as they are stored.
#[allow(non_camel_case_types)] // ggml's names (Q4_0, Q4_K…), so they can be grepped across projects
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightType {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16: the upper half of an f32.
    BF16,
    /// 32 × i8 with an f16 scale: `x = d·q`.
    Q8_0,
    /// 32 × 4 bits with an f16 scale: `x = d·(q − 8)`.
    Q4_0,
    /// 32 × 4 bits with an f16 scale and minimum: `x = d·q + m`.
    Q4_1,
    /// 32 × 5 bits with an f16 scale: `x = d·(q − 16)`.
    Q5_0,
    /// 32 × 5 bits with an f16 scale and minimum: `x = d·q + m`.
    Q5_1,
    /// K-quant, 256 × 2 bits: 4-bit scales and mins per 16 elements, f16 super-scales.
    Q2_K,
    /// K-quant, 256 × 3 bits: 6-bit signed scales per 16 elements, an f16 super-scale.
    Q3_K,
    /// K-quant, 256 × 4 bits: 6-bit scales and mins per 32 elements, f16 super-scales.
    Q4_K,
    /// K-quant, 256 × 5 bits: 6-bit scales and mins per 32 elements, f16 super-scales.
    Q5_K,
    /// K-quant, 256 × 6 bits: i8 scales per 16 elements, an f16 super-scale.
    Q6_K,
}

/// (type, ggml id, name, elements per block, bytes per block).
const TABLE: [(WeightType, u32, &str, usize, usize); 13] = [
    (WeightType::F32, 0, "F32", 1, 4),
    (WeightType::F16, 1, "F16", 1, 2),
    (WeightType::BF16, 30, "BF16", 1, 2),
    (WeightType::Q8_0, 8, "Q8_0", QK, 2 + QK),
    (WeightType::Q4_0, 2, "Q4_0", QK, 2 + QK / 2),
    (WeightType::Q4_1, 3, "Q4_1", QK, 2 + 2 + QK / 2),
    (WeightType::Q5_0, 6, "Q5_0", QK, 2 + 4 + QK / 2),
    (WeightType::Q5_1, 7, "Q5_1", QK, 2 + 2 + 4 + QK / 2),
    (
        WeightType::Q2_K,
        10,
        "Q2_K",
        QK_K,
        QK_K / 16 + QK_K / 4 + 2 + 2,
    ),
    (
        WeightType::Q3_K,
        11,
        "Q3_K",
        QK_K,
        QK_K / 8 + QK_K / 4 + 12 + 2,
    ),
    (WeightType::Q4_K, 12, "Q4_K", QK_K, 2 + 2 + 12 + QK_K / 2),
    (
        WeightType::Q5_K,
        13,
        "Q5_K",
        QK_K,
        2 + 2 + 12 + QK_K / 8 + QK_K / 2,
    ),
    (
        WeightType::Q6_K,
        14,
        "Q6_K",
        QK_K,
        QK_K / 2 + QK_K / 4 + QK_K / 16 + 2,
    ),
];

impl WeightType {
    /// Every type, in the order of the table above.
    pub const ALL: [WeightType; 13] = [
        Self::F32,
        Self::F16,
        Self::BF16,
        Self::Q8_0,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q5_0,
        Self::Q5_1,
        Self::Q2_K,
        Self::Q3_K,
        Self::Q4_K,
        Self::Q5_K,
        Self::Q6_K,
    ];

    fn entry(self) -> (WeightType, u32, &'static str, usize, usize) {
        // One row per variant (checked by a unit test); the fallback keeps this total.
        TABLE
            .iter()
            .copied()
            .find(|e| e.0 == self)
            .unwrap_or((self, u32::MAX, "?", 1, 1))
    }

    /// The ggml type id (`enum ggml_type`) of this storage type, as written in GGUF files.
    pub fn ggml_id(self) -> u32 {
        self.entry().1
    }

    /// The type with ggml id `id`; `None` for ggml types this crate does not compute with.
    pub fn from_ggml_id(id: u32) -> Option<Self> {
        TABLE.iter().find(|e| e.1 == id).map(|e| e.0)
    }

    /// ggml's name for the type, e.g. `Q4_K`.
    pub fn name(self) -> &'static str {
        self.entry().2
    }

    /// The type named `name` (ggml's spelling, case-insensitive), e.g. `q4_1` or `BF16`.
    pub fn from_name(name: &str) -> Option<Self> {
        TABLE
            .iter()
            .find(|e| e.2.eq_ignore_ascii_case(name))
            .map(|e| e.0)
    }

    /// Elements per block.
    pub fn block_len(self) -> usize {
        self.entry().3
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        self.entry().4
    }

    /// True for the plain float types (f32, f16, bf16), whose products are exact up to the
    /// order of summation on every path.
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F16 | Self::BF16)
    }

    /// True for the K-quants (super-blocks of 256).
    pub fn is_k_quant(self) -> bool {
        self.block_len() == QK_K
    }

    /// Bytes of one row of `cols` elements, or `None` when `cols` is not a whole number of
    /// blocks (or the size overflows).
    pub fn row_bytes(self, cols: usize) -> Option<usize> {
        if !cols.is_multiple_of(self.block_len()) {
            return None;
        }
        (cols / self.block_len()).checked_mul(self.block_bytes())
    }
}

impl fmt::Display for WeightType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_row_per_type_and_ggml_sizes() {
        for t in WeightType::ALL {
            assert_eq!(TABLE.iter().filter(|e| e.0 == t).count(), 1, "{t:?}");
            assert_eq!(WeightType::from_ggml_id(t.ggml_id()), Some(t));
            assert_eq!(WeightType::from_name(&t.name().to_lowercase()), Some(t));
        }
        // ggml's `type_traits` sizes, written out (ggml-common.h static_asserts).
        let sizes: Vec<(usize, usize)> = WeightType::ALL
            .iter()
            .map(|t| (t.block_len(), t.block_bytes()))
            .collect();
        assert_eq!(
            sizes,
            [
                (1, 4),
                (1, 2),
                (1, 2),
                (32, 34),
                (32, 18),
                (32, 20),
                (32, 22),
                (32, 24),
                (256, 84),
                (256, 110),
                (256, 144),
                (256, 176),
                (256, 210)
            ]
        );
        assert_eq!(WeightType::from_ggml_id(9), None); // Q8_1: an activation format only
        assert_eq!(WeightType::Q4_1.row_bytes(576), Some(360));
        assert_eq!(WeightType::Q4_K.row_bytes(576), None);
    }
}
