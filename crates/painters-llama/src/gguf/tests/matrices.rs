//! Tensors of every block type through the file: `tensor_f32` against gguf-py's reference and
//! `tensor_matrix` over the mapping.

use super::open_ok;
use crate::gguf::GgmlType;
use crate::gguf::test_util::GgufBuilder;

/// gguf-py's reference blocks for every block type (the fixture painters-kernels checks its
/// formats against), written into a GGUF file and read back through `tensor_f32`: bit-identical
/// to gguf-py's `quants.dequantize`, including the types issue 20 added (Q5_0, Q5_1, Q2_K, Q3_K,
/// Q5_K).
#[test]
fn every_block_type_reads_through_the_file_like_gguf_py() {
    const FIXTURE: &[u8] =
        include_bytes!("../../../../painters-kernels/tests/fixtures/quants.safetensors");
    let st = safetensors::SafeTensors::deserialize(FIXTURE).unwrap();
    let f32s = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let types = [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ];
    let mut b = GgufBuilder::new();
    let mut wants = Vec::new();
    for ty in types {
        let blocks = st.tensor(&format!("{}.random_blocks", ty.name())).unwrap();
        let want = f32s(
            st.tensor(&format!("{}.random_dequant", ty.name()))
                .unwrap()
                .data(),
        );
        let rows = blocks.shape()[0] as u64;
        let cols = want.len() as u64 / rows;
        let name = format!("t.{}", ty.name());
        b = b.tensor(&name, &[cols, rows], ty.id(), blocks.data().to_vec());
        wants.push((name, ty, [rows as usize, cols as usize], want));
    }
    let f = open_ok(&b, "all-types");
    for (name, ty, shape, want) in wants {
        let (got_shape, got) = f.tensor_f32(&name).unwrap();
        assert_eq!(got_shape, shape, "{name}");
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{ty}: element {i}: {g} vs gguf-py {w}"
            );
        }
        // and as a matrix over the mapping, without a copy
        let m = f.tensor_matrix(&name).unwrap();
        assert_eq!((m.rows(), m.cols()), (shape[0], shape[1]));
        assert!(m.weight_bytes().is_borrowed());
        assert_eq!(m.bytes().as_ptr(), f.tensor_bytes(&name).unwrap().as_ptr());
        assert_eq!(m.dequantize(), got);
    }
}

#[test]
fn tensor_matrix_outlives_the_file_and_multiplies() {
    // two Q8_0 rows of 32 (HF shape [2, 32])
    let mut data = Vec::new();
    for (d, base) in [(0.5f32, 0i8), (2.0, -16)] {
        data.extend(half::f16::from_f32(d).to_bits().to_le_bytes());
        data.extend((0..32).map(|i| (base + i as i8) as u8));
    }
    let b = GgufBuilder::new().tensor("q", &[32, 2], 8, data);
    let m = open_ok(&b, "q8-matrix").tensor_matrix("q").unwrap();
    // the file is dropped; the matrix still holds the mapping
    let x = vec![1.0f32; 32];
    let mut y = vec![0.0f32; 2];
    m.matmul_with(
        &x,
        1,
        &mut y,
        &painters_kernels::MatmulOptions {
            level: None,
            path: painters_kernels::ProductPath::Dequant,
        },
        &mut painters_kernels::Scratch::new(),
    )
    .unwrap();
    // row 0: 0.5 * (0 + 1 + ... + 31) = 248; row 1: 2 * (-16 + ... + 15) = -32
    assert_eq!(y, [248.0, -32.0]);
}
