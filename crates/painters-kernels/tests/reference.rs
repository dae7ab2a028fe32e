//! Every weight format against the reference: gguf-py's `quants.quantize` / `quants.dequantize`
//! on seeded rows and on random valid blocks, recorded in `tests/fixtures/quants.safetensors` by
//! `scripts/make-quant-reference.py`. Dequantisation must be bit-identical on every kernel level
//! this CPU has, quantisation byte-identical.

use painters_kernels::{Level, QMatrix, WeightType, dequantize_with, quantize};
use safetensors::SafeTensors;

const FIXTURE: &[u8] = include_bytes!("fixtures/quants.safetensors");

fn tensor<'a>(st: &'a SafeTensors<'a>, name: &str) -> Option<(Vec<usize>, &'a [u8])> {
    st.tensor(name).ok().map(|t| (t.shape().to_vec(), t.data()))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn assert_bits_eq(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

/// Dequantises `blocks` (rows × row_bytes) on every level and compares with `want`.
fn check_dequant(ty: WeightType, shape: &[usize], blocks: &[u8], want: &[f32], what: &str) {
    let (rows, cols) = (shape[0], want.len() / shape[0]);
    for level in Level::supported() {
        let mut got = vec![0.0; want.len()];
        dequantize_with(level, ty, blocks, &mut got).unwrap();
        assert_bits_eq(&got, want, &format!("{what} at {level}"));
    }
    // and through a matrix, by rows and by gathered rows
    let m = QMatrix::from_bytes(ty, rows, cols, blocks.to_vec().into()).unwrap();
    assert_bits_eq(&m.dequantize(), want, &format!("{what} via QMatrix"));
    let mut last = vec![0.0; cols];
    m.dequantize_rows(rows - 1..rows, &mut last).unwrap();
    assert_bits_eq(
        &last,
        &want[(rows - 1) * cols..],
        &format!("{what} last row"),
    );
    let mut gathered = vec![0.0; 2 * cols];
    m.gather_rows(&[rows - 1, 0], &mut gathered).unwrap();
    assert_bits_eq(&gathered[..cols], &last, &format!("{what} gathered"));
    assert_bits_eq(
        &gathered[cols..],
        &want[..cols],
        &format!("{what} gathered"),
    );
}

#[test]
fn every_type_matches_gguf_py() {
    let st = SafeTensors::deserialize(FIXTURE).unwrap();
    let mut checked = Vec::new();
    for ty in WeightType::ALL {
        let name = ty.name();
        if let Some((shape, input)) = tensor(&st, &format!("{name}.input")) {
            let x = f32s(input);
            let (_, blocks) = tensor(&st, &format!("{name}.blocks")).unwrap();
            let (_, want) = tensor(&st, &format!("{name}.dequant")).unwrap();
            let mut q = vec![0u8; blocks.len()];
            quantize(ty, &x, &mut q).unwrap();
            if let Some(i) = q.iter().zip(blocks).position(|(a, b)| a != b) {
                panic!(
                    "{name}: quantised byte {i} (block {}) is {:#04x}, gguf-py wrote {:#04x}",
                    i / ty.block_bytes(),
                    q[i],
                    blocks[i]
                );
            }
            check_dequant(ty, &shape, blocks, &f32s(want), name);
            // and from_f32 writes the same bytes
            let m = QMatrix::from_f32(ty, shape[0], shape[1], &x).unwrap();
            assert_eq!(m.bytes(), blocks, "{name}: QMatrix::from_f32");
            checked.push(format!("{name} quantise"));
        }
        if let Some((shape, blocks)) = tensor(&st, &format!("{name}.random_blocks")) {
            let (_, want) = tensor(&st, &format!("{name}.random_dequant")).unwrap();
            let want = f32s(want);
            let shape = [shape[0], want.len() / shape[0]];
            check_dequant(ty, &shape, blocks, &want, &format!("{name} random blocks"));
            checked.push(format!("{name} random"));
        }
    }
    // every type is covered: floats and legacy by quantisation, every block type by random blocks
    assert_eq!(checked.len(), 8 + 10, "{checked:?}");
}

#[test]
fn k_quants_cannot_be_written_and_sizes_are_checked() {
    let x = vec![0.0f32; 256];
    let mut out = vec![0u8; 144];
    assert!(matches!(
        quantize(WeightType::Q4_K, &x, &mut out),
        Err(painters_kernels::KernelError::CannotQuantize {
            ty: WeightType::Q4_K
        })
    ));
    let e = QMatrix::from_f32(WeightType::Q6_K, 1, 256, &x).unwrap_err();
    assert!(e.to_string().contains("Q6_K"), "{e}");
    assert!(matches!(
        quantize(WeightType::Q8_0, &x[..31], &mut out),
        Err(painters_kernels::KernelError::PartialBlock { cols: 31, .. })
    ));
    let mut out = vec![0.0f32; 32];
    assert!(matches!(
        dequantize_with(Level::Scalar, WeightType::Q8_0, &[0; 33], &mut out),
        Err(painters_kernels::KernelError::ByteLength {
            expected: 34,
            got: 33,
            ..
        })
    ));
}
