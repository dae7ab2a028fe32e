//! Reader tests on small synthetic files: well-formed files of every value type, and truncated or
//! lying files that must produce the specific error (never a panic or a huge allocation).

use super::test_util::{GgufBuilder, enc_arr, enc_i32_arr, enc_str, llama_builder, ty, write_tmp};
use super::*;

fn open_err(b: &GgufBuilder, name: &str) -> GgufError {
    let path = b.write(name);
    match GgufFile::open(&path) {
        Ok(_) => panic!("{name}: expected an error"),
        Err(e) => {
            // every error names the file
            assert!(
                e.to_string().contains(&path.display().to_string()),
                "{name}: message lacks path: {e}"
            );
            e
        }
    }
}

fn open_ok(b: &GgufBuilder, name: &str) -> GgufFile {
    let path = b.write(name);
    GgufFile::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A file using every value type, nested arrays and three tensors.
fn rich_builder() -> GgufBuilder {
    let nested = {
        let inner1 = enc_i32_arr(&[1, 2]);
        let inner2 = enc_i32_arr(&[3]);
        let mut elems = inner1;
        elems.extend(inner2);
        enc_arr(ty::ARRAY, 2, &elems)
    };
    GgufBuilder::new()
        .kv("u8", ty::U8, vec![200])
        .kv("i8", ty::I8, vec![0xFE])
        .kv("u16", ty::U16, 60000u16.to_le_bytes().to_vec())
        .kv("i16", ty::I16, (-300i16).to_le_bytes().to_vec())
        .kv_u32("u32", 4_000_000_000)
        .kv("i32", ty::I32, (-5i32).to_le_bytes().to_vec())
        .kv_f32("f32", 1.5)
        .kv_bool("bool", true)
        .kv_str("str", "héllo")
        .kv("u64", ty::U64, (1u64 << 40).to_le_bytes().to_vec())
        .kv("i64", ty::I64, (-7i64).to_le_bytes().to_vec())
        .kv("f64", ty::F64, 0.25f64.to_le_bytes().to_vec())
        .kv_str_arr("strs", &["a", "", "ccc"])
        .kv("i32s", ty::ARRAY, enc_i32_arr(&[-1, 0, 7]))
        .kv("u8s", ty::ARRAY, enc_arr(ty::U8, 3, &[1, 2, 3]))
        .kv("bools", ty::ARRAY, enc_arr(ty::BOOL, 2, &[0, 1]))
        .kv(
            "f32s",
            ty::ARRAY,
            enc_arr(
                ty::F32,
                2,
                &[0.5f32.to_le_bytes(), (-2f32).to_le_bytes()].concat(),
            ),
        )
        .kv("nested", ty::ARRAY, nested)
        .kv("empty", ty::ARRAY, enc_arr(ty::U64, 0, &[]))
        // GGUF dims [3, 2]: rows of 3, 2 rows -> HF shape [2, 3]
        .tensor_f32("w", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .tensor(
            "h",
            &[2],
            1,
            [half::f16::from_f32(0.5), half::f16::from_f32(-4.0)]
                .iter()
                .flat_map(|h| h.to_bits().to_le_bytes())
                .collect(),
        )
        .tensor_f32("scalar", &[], &[42.0])
}

#[test]
fn reads_every_value_type_and_tensors() {
    let f = open_ok(&rich_builder(), "rich");
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.data_offset() % 32, 0);
    assert_eq!(f.metadata("u8"), Some(&GgufValue::U8(200)));
    assert_eq!(f.metadata("i8"), Some(&GgufValue::I8(-2)));
    assert_eq!(f.metadata("u16"), Some(&GgufValue::U16(60000)));
    assert_eq!(f.metadata("i16"), Some(&GgufValue::I16(-300)));
    assert_eq!(f.get_u32("u32").unwrap(), 4_000_000_000);
    assert_eq!(f.metadata("i32"), Some(&GgufValue::I32(-5)));
    assert_eq!(f.get_f32("f32").unwrap(), 1.5);
    assert!(f.get_bool("bool").unwrap());
    assert_eq!(f.get_str("str").unwrap(), "héllo");
    assert_eq!(f.get_u64("u64").unwrap(), 1 << 40);
    assert_eq!(f.get_i64("i64").unwrap(), -7);
    assert_eq!(f.get_f64("f64").unwrap(), 0.25);
    assert_eq!(f.get_f32("f64").unwrap(), 0.25);
    assert_eq!(f.get_str_array("strs").unwrap(), ["a", "", "ccc"]);
    assert_eq!(f.get_i32_array("i32s").unwrap(), [-1, 0, 7]);
    assert_eq!(f.get_i32_array("u8s").unwrap(), [1, 2, 3]);
    assert_eq!(
        f.get_array("bools").unwrap(),
        &GgufArray::Bool(vec![false, true])
    );
    assert_eq!(f.get_f32_array("f32s").unwrap(), [0.5, -2.0]);
    assert_eq!(
        f.get_array("nested").unwrap(),
        &GgufArray::Array(vec![GgufArray::I32(vec![1, 2]), GgufArray::I32(vec![3])])
    );
    let empty = f.get_array("empty").unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.element_type(), GgufValueType::U64);
    // small integers convert across widths; key order is kept
    assert_eq!(f.get_u32("u8").unwrap(), 200);
    assert_eq!(f.get_usize("u64").unwrap(), 1 << 40);
    let keys: Vec<&str> = f.metadata_entries().map(|(k, _)| k).collect();
    assert_eq!(keys[..3], ["u8", "i8", "u16"]);

    assert_eq!(f.tensors().len(), 3);
    let w = f.tensor_info("w").unwrap();
    assert_eq!(w.dims, [3, 2]);
    assert_eq!(w.ggml_type, GgmlType::F32);
    assert_eq!((w.n_elements, w.n_bytes), (6, 24));
    let (shape, vals) = f.tensor_f32("w").unwrap();
    assert_eq!(shape, [2, 3]);
    assert_eq!(vals, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let (shape, vals) = f.tensor_f32("h").unwrap();
    assert_eq!((shape, vals), (vec![2], vec![0.5, -4.0]));
    assert_eq!(f.tensor_info("h").unwrap().offset % 32, 0);
    let (shape, vals) = f.tensor_f32("scalar").unwrap();
    assert_eq!((shape, vals), (vec![], vec![42.0]));
    assert_eq!(f.tensor_bytes("w").unwrap().len(), 24);
}

#[test]
fn version_2_is_read_like_version_3() {
    let mut b = rich_builder();
    b.version = 2;
    let f = open_ok(&b, "v2");
    assert_eq!(f.version(), 2);
    assert_eq!(f.tensor_f32("w").unwrap().1[5], 6.0);
}

#[test]
fn other_versions_and_magic_are_refused() {
    for v in [0u32, 1, 4, 99] {
        let mut b = rich_builder();
        b.version = v;
        let e = open_err(&b, "version");
        assert!(
            matches!(e, GgufError::UnsupportedVersion { version, .. } if version == v),
            "{e}"
        );
    }
    let mut b = rich_builder();
    b.version = 3u32.swap_bytes();
    assert!(matches!(open_err(&b, "be"), GgufError::BigEndian { .. }));
    let mut b = rich_builder();
    b.magic = *b"GGML";
    assert!(matches!(
        open_err(&b, "magic"),
        GgufError::BadMagic { found, .. } if &found == b"GGML"
    ));
}

#[test]
fn custom_alignment_is_honoured() {
    let mut b = rich_builder().kv_u32("general.alignment", 64);
    b.alignment = 64;
    let f = open_ok(&b, "align64");
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.data_offset() % 64, 0);
    assert_eq!(f.tensor_info("h").unwrap().offset, 64);
    assert_eq!(f.tensor_f32("h").unwrap().1, [0.5, -4.0]);
}

#[test]
fn bad_alignment_is_refused() {
    for (name, value, t) in [
        ("zero", 0u32.to_le_bytes().to_vec(), ty::U32),
        ("npot", 48u32.to_le_bytes().to_vec(), ty::U32),
        ("u64", 32u64.to_le_bytes().to_vec(), ty::U64),
    ] {
        let b = rich_builder().kv("general.alignment", t, value);
        let e = open_err(&b, name);
        assert!(
            matches!(e, GgufError::InvalidAlignment { .. }),
            "{name}: {e}"
        );
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = rich_builder().build();
    for len in 0..bytes.len() {
        let path = write_tmp("trunc", &bytes[..len]);
        let e = GgufFile::open(&path).expect_err("truncated file must not open");
        assert!(
            matches!(
                e,
                GgufError::Truncated { .. }
                    | GgufError::CountTooLarge { .. }
                    | GgufError::TensorOutOfBounds { .. }
            ),
            "len {len}: unexpected {e}"
        );
        let _ = std::fs::remove_file(path);
    }
    let path = write_tmp("short", b"GGUF");
    assert!(matches!(
        GgufFile::open(&path),
        Err(GgufError::Truncated {
            needed: 24,
            available: 4,
            ..
        })
    ));
}

#[test]
fn missing_file_is_an_io_error() {
    let e = GgufFile::open("/nonexistent/painters/model.gguf").unwrap_err();
    assert!(matches!(e, GgufError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/painters/model.gguf"));
}

#[test]
fn lying_string_length_is_refused_before_allocating() {
    // the value of "str" claims 2^40 bytes
    let mut huge = (1u64 << 40).to_le_bytes().to_vec();
    huge.extend(b"abc");
    let b = GgufBuilder::new().kv("str", ty::STRING, huge);
    match open_err(&b, "strlen") {
        GgufError::Truncated { what, needed, .. } => {
            assert!(what.contains("'str'"), "{what}");
            assert_eq!(needed, 1 << 40);
        }
        e => panic!("{e}"),
    }
    // a lying key length
    let mut b = GgufBuilder::new().kv_u32("k", 1);
    b.kvs[0].0 = vec![b'k'; 3];
    let mut bytes = b.build();
    bytes[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    let path = write_tmp("keylen", &bytes);
    match GgufFile::open(&path).unwrap_err() {
        GgufError::Truncated { what, .. } => assert!(what.contains("metadata entry 0"), "{what}"),
        e => panic!("{e}"),
    }
}

#[test]
fn lying_array_length_is_refused_before_allocating() {
    for (elem, name) in [
        (ty::STRING, "strings"),
        (ty::U64, "u64s"),
        (ty::ARRAY, "arrays"),
    ] {
        let b = GgufBuilder::new().kv(
            "tokenizer.ggml.tokens",
            ty::ARRAY,
            enc_arr(elem, u64::MAX, &[]),
        );
        match open_err(&b, name) {
            GgufError::CountTooLarge { what, count, .. } => {
                assert!(what.contains("tokenizer.ggml.tokens"), "{what}");
                assert_eq!(count, u64::MAX);
            }
            e => panic!("{name}: {e}"),
        }
    }
    // a count that fits the bytes for u8 but not for u32 elements
    let b = GgufBuilder::new().kv("a", ty::ARRAY, enc_arr(ty::U32, 5, &[0; 8]));
    assert!(matches!(
        open_err(&b, "u32s"),
        GgufError::CountTooLarge {
            count: 5,
            max: 2,
            ..
        }
    ));
}

#[test]
fn lying_counts_are_refused() {
    let mut b = rich_builder();
    b.kv_count = Some(u64::MAX);
    match open_err(&b, "kvcount") {
        GgufError::CountTooLarge { what, .. } => assert!(what.contains("metadata"), "{what}"),
        e => panic!("{e}"),
    }
    let mut b = rich_builder();
    b.tensor_count = Some(1 << 50);
    match open_err(&b, "tcount") {
        GgufError::CountTooLarge { what, .. } => assert!(what.contains("tensor"), "{what}"),
        e => panic!("{e}"),
    }
    // one more tensor than described: the padding is read as a fourth (empty) description,
    // which pushes the data section so that the real tensors no longer fit
    let mut b = rich_builder();
    b.tensor_count = Some(4);
    let e = open_err(&b, "tcount4");
    assert!(matches!(e, GgufError::TensorOutOfBounds { .. }), "{e}");
}

#[test]
fn bad_dimensions_are_refused() {
    let b = GgufBuilder::new().tensor("t5", &[1, 1, 1, 1, 1], 0, vec![0; 4]);
    assert!(matches!(
        open_err(&b, "dims5"),
        GgufError::TooManyDims { ref tensor, n_dims: 5, .. } if tensor == "t5"
    ));
    let b = GgufBuilder::new().tensor("big", &[1 << 32, 1 << 32], 0, vec![]);
    assert!(matches!(
        open_err(&b, "overflow"),
        GgufError::DimsOverflow { ref tensor, .. } if tensor == "big"
    ));
    // fits u64 but not ggml's int64
    let b = GgufBuilder::new().tensor("big", &[1 << 32, 1 << 31], 0, vec![]);
    assert!(matches!(
        open_err(&b, "i64"),
        GgufError::DimsOverflow { .. }
    ));
    // element count fine, byte size overflows
    let b = GgufBuilder::new().tensor("bytes", &[1 << 31, 1 << 31], 0, vec![]);
    assert!(matches!(
        open_err(&b, "bytes"),
        GgufError::DimsOverflow { .. }
    ));
    // Q8_0 rows must be whole 32-element blocks
    let b = GgufBuilder::new().tensor("q", &[33, 2], 8, vec![0; 68]);
    assert!(matches!(
        open_err(&b, "block"),
        GgufError::RowNotBlockAligned { ref tensor, row_len: 33, block_size: 32, .. } if tensor == "q"
    ));
}

#[test]
fn unknown_types_are_refused() {
    let b = GgufBuilder::new().tensor("old", &[32], 4, vec![0; 20]);
    assert!(matches!(
        open_err(&b, "q4_2"),
        GgufError::UnknownTensorType { ref tensor, type_id: 4, .. } if tensor == "old"
    ));
    let b = GgufBuilder::new().kv("weird", 13, vec![0; 8]);
    assert!(matches!(
        open_err(&b, "vtype"),
        GgufError::UnknownValueType { ref key, type_id: 13, .. } if key == "weird"
    ));
    let b = GgufBuilder::new().kv("arr", ty::ARRAY, enc_arr(77, 1, &[0; 8]));
    assert!(matches!(
        open_err(&b, "etype"),
        GgufError::UnknownValueType { ref key, type_id: 77, .. } if key == "arr"
    ));
}

#[test]
fn invalid_bool_and_utf8_are_refused() {
    let b = GgufBuilder::new().kv("flag", ty::BOOL, vec![2]);
    assert!(matches!(
        open_err(&b, "bool"),
        GgufError::InvalidBool { ref key, value: 2, .. } if key == "flag"
    ));
    let b = GgufBuilder::new().kv("flags", ty::ARRAY, enc_arr(ty::BOOL, 2, &[1, 9]));
    assert!(matches!(
        open_err(&b, "bools"),
        GgufError::InvalidBool { value: 9, .. }
    ));
    let mut b = GgufBuilder::new().kv_u32("x", 1);
    b.kvs[0].0 = vec![0xFF, 0xFE];
    assert!(matches!(
        open_err(&b, "utf8key"),
        GgufError::InvalidUtf8 { .. }
    ));
    let mut bad = 2u64.to_le_bytes().to_vec();
    bad.extend([0xC3, 0x28]);
    let b = GgufBuilder::new().kv("s", ty::STRING, bad);
    match open_err(&b, "utf8val") {
        GgufError::InvalidUtf8 { what, .. } => assert!(what.contains("'s'"), "{what}"),
        e => panic!("{e}"),
    }
}

#[test]
fn deep_nesting_is_refused() {
    let mut v = enc_arr(ty::U8, 0, &[]);
    for _ in 0..MAX_ARRAY_NESTING + 2 {
        v = enc_arr(ty::ARRAY, 1, &v);
    }
    let b = GgufBuilder::new().kv("deep", ty::ARRAY, v);
    assert!(matches!(
        open_err(&b, "deep"),
        GgufError::NestingTooDeep { ref key, .. } if key == "deep"
    ));
}

#[test]
fn duplicates_are_refused() {
    let b = GgufBuilder::new().kv_u32("k", 1).kv_u32("k", 2);
    assert!(matches!(
        open_err(&b, "dupkey"),
        GgufError::DuplicateKey { ref key, .. } if key == "k"
    ));
    let b = GgufBuilder::new()
        .tensor_f32("t", &[1], &[1.0])
        .tensor_f32("t", &[1], &[2.0]);
    assert!(matches!(
        open_err(&b, "duptensor"),
        GgufError::DuplicateTensor { ref tensor, .. } if tensor == "t"
    ));
}

#[test]
fn bad_offsets_are_refused() {
    let mut b = rich_builder();
    b.tensors[1].offset = Some(4);
    assert!(matches!(
        open_err(&b, "misaligned"),
        GgufError::MisalignedTensor { ref tensor, offset: 4, alignment: 32, .. } if tensor == "h"
    ));
    let mut b = rich_builder();
    b.tensors[0].offset = Some(1 << 40);
    assert!(matches!(
        open_err(&b, "past_end"),
        GgufError::TensorOutOfBounds { ref tensor, size: 24, .. } if tensor == "w"
    ));
    // data_offset + offset overflows u64
    let mut b = rich_builder();
    b.tensors[0].offset = Some(u64::MAX - 31);
    assert!(matches!(
        open_err(&b, "overflow"),
        GgufError::TensorOutOfBounds { .. }
    ));
    // the last tensor's bytes are cut off
    let mut bytes = rich_builder().build();
    bytes.truncate(bytes.len() - 1);
    let path = write_tmp("cut", &bytes);
    assert!(matches!(
        GgufFile::open(&path),
        Err(GgufError::TensorOutOfBounds { ref tensor, .. }) if tensor == "scalar"
    ));
}

#[test]
fn unsupported_tensor_type_names_tensor_and_id() {
    // IQ4_XS (id 23): sized and readable as bytes, but not dequantisable
    let b = GgufBuilder::new().tensor("blk.0.ffn_up.weight", &[256], 23, vec![0; 136]);
    let f = open_ok(&b, "iq4xs");
    assert_eq!(f.tensor_bytes("blk.0.ffn_up.weight").unwrap().len(), 136);
    let e = f.tensor_f32("blk.0.ffn_up.weight").unwrap_err();
    assert!(
        matches!(
            e,
            GgufError::UnsupportedTensorType { ref tensor, type_id: 23, type_name: "IQ4_XS", .. }
                if tensor == "blk.0.ffn_up.weight"
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("blk.0.ffn_up.weight") && msg.contains("23"),
        "{msg}"
    );
    assert!(matches!(
        f.tensor_matrix("blk.0.ffn_up.weight"),
        Err(GgufError::UnsupportedTensorType { type_id: 23, .. })
    ));
    assert!(matches!(
        f.tensor_f32("nope"),
        Err(GgufError::TensorNotFound { ref tensor, .. }) if tensor == "nope"
    ));
}

/// gguf-py's reference blocks for every block type (the fixture painters-kernels checks its
/// formats against), written into a GGUF file and read back through `tensor_f32`: bit-identical
/// to gguf-py's `quants.dequantize`, including the types issue 20 added (Q5_0, Q5_1, Q2_K, Q3_K,
/// Q5_K).
#[test]
fn every_block_type_reads_through_the_file_like_gguf_py() {
    const FIXTURE: &[u8] =
        include_bytes!("../../../painters-kernels/tests/fixtures/quants.safetensors");
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

#[test]
fn quantised_tensor_reads_through_file() {
    // two Q8_0 rows of 32: GGUF dims [32, 2] -> HF [2, 32]
    let mut data = Vec::new();
    for (d, base) in [(0.5f32, 0i8), (2.0, -16)] {
        data.extend(half::f16::from_f32(d).to_bits().to_le_bytes());
        data.extend((0..32).map(|i| (base + i as i8) as u8));
    }
    let b = GgufBuilder::new().tensor("q", &[32, 2], 8, data);
    let f = open_ok(&b, "q8");
    let (shape, v) = f.tensor_f32("q").unwrap();
    assert_eq!(shape, [2, 32]);
    assert_eq!(v[1], 0.5);
    assert_eq!(v[32], -32.0);
    assert_eq!(v[63], 30.0);
}

#[test]
fn typed_getters_report_missing_wrong_and_out_of_range() {
    let f = open_ok(&rich_builder(), "getters");
    assert!(matches!(
        f.get_u32("absent"),
        Err(GgufError::MissingKey { ref key, .. }) if key == "absent"
    ));
    match f.get_str("u32") {
        Err(GgufError::WrongType {
            key,
            expected,
            found,
            ..
        }) => {
            assert_eq!(
                (key.as_str(), expected, found.as_str()),
                ("u32", "string", "u32")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.get_u32("i32"),
        Err(GgufError::ValueOutOfRange { ref key, target: "u32", .. }) if key == "i32"
    ));
    assert!(matches!(
        f.get_u32("u64"),
        Err(GgufError::ValueOutOfRange { .. })
    ));
    assert!(matches!(f.get_f32("u32"), Err(GgufError::WrongType { .. })));
    assert!(matches!(
        f.get_str_array("i32s"),
        Err(GgufError::WrongType { ref found, .. }) if found == "array of i32"
    ));
    assert!(matches!(
        f.get_i32_array("strs"),
        Err(GgufError::WrongType { .. })
    ));
    assert!(matches!(f.get_bool("u8"), Err(GgufError::WrongType { .. })));
}

#[test]
fn llama_meta_reads_and_validates() {
    let f = open_ok(&llama_builder(), "llama");
    let m = llama_config_from_gguf(&f).unwrap();
    assert_eq!(
        m,
        GgufLlamaMeta {
            block_count: 2,
            embedding_length: 64,
            feed_forward_length: 128,
            head_count: 4,
            head_count_kv: 2,
            rope_freq_base: 10000.0,
            rms_eps: 1e-5,
            context_length: 128,
            vocab_size: 4,
            rope_dimension_count: Some(16),
        }
    );
    assert_eq!(m.head_dim(), 16);

    for key in [
        "general.architecture",
        "llama.block_count",
        "llama.embedding_length",
        "llama.feed_forward_length",
        "llama.attention.head_count",
        "llama.rope.freq_base",
        "llama.attention.layer_norm_rms_epsilon",
        "llama.context_length",
        "tokenizer.ggml.tokens",
    ] {
        let mut b = llama_builder();
        b.kvs.retain(|(k, _, _)| k != key.as_bytes());
        let f = open_ok(&b, "llama-missing");
        match llama_config_from_gguf(&f) {
            Err(GgufError::MissingKey { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        }
    }

    // head_count_kv and rope.dimension_count are optional
    let mut b = llama_builder();
    b.kvs.retain(|(k, _, _)| {
        k != b"llama.attention.head_count_kv" && k != b"llama.rope.dimension_count"
    });
    let m = llama_config_from_gguf(&open_ok(&b, "llama-opt")).unwrap();
    assert_eq!((m.head_count_kv, m.rope_dimension_count), (4, None));

    let mut b = llama_builder();
    b.kvs[0] = (
        b"general.architecture".to_vec(),
        ty::STRING,
        enc_str("bert"),
    );
    assert!(matches!(
        llama_config_from_gguf(&open_ok(&b, "llama-arch")),
        Err(GgufError::WrongArchitecture { ref found, .. }) if found == "bert"
    ));

    for (key, bad, name) in [
        ("llama.attention.head_count", 3u32.to_le_bytes(), "heads"),
        (
            "llama.attention.head_count_kv",
            3u32.to_le_bytes(),
            "kvheads",
        ),
        ("llama.block_count", 0u32.to_le_bytes(), "blocks"),
        ("llama.rope.dimension_count", 17u32.to_le_bytes(), "ropedim"),
        (
            "llama.attention.layer_norm_rms_epsilon",
            (-1f32).to_le_bytes(),
            "eps",
        ),
    ] {
        let mut b = llama_builder();
        for kv in &mut b.kvs {
            if kv.0 == key.as_bytes() {
                kv.2 = bad.to_vec();
            }
        }
        match llama_config_from_gguf(&open_ok(&b, name)) {
            Err(GgufError::InvalidMetadata { key: k, .. }) => assert_eq!(k, key, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }

    let mut b = llama_builder();
    b.kvs[1] = (b"llama.block_count".to_vec(), ty::STRING, enc_str("two"));
    assert!(matches!(
        llama_config_from_gguf(&open_ok(&b, "llama-type")),
        Err(GgufError::WrongType { ref key, .. }) if key == "llama.block_count"
    ));
}

/// The converter's permutation written the numpy way: index of `w.reshape(H, 2, half,
/// cols).swapaxes(1, 2)` at `[h, i, j, c]` is the source element `[h, j, i, c]`.
fn numpy_permute(w: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let half = rows / heads / 2;
    let mut out = vec![0.0; w.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                for c in 0..cols {
                    let dst = ((h * half + i) * 2 + j) * cols + c;
                    let src = ((h * 2 + j) * half + i) * cols + c;
                    out[dst] = w[src];
                }
            }
        }
    }
    out
}

#[test]
fn rope_unpermute_inverts_permute() {
    for (rows, cols, heads) in [(8, 3, 1), (12, 5, 3), (16, 2, 2), (2, 1, 1)] {
        let w: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let p = permute_rope_rows(&w, rows, cols, heads).unwrap();
        assert_eq!(
            p,
            numpy_permute(&w, rows, cols, heads),
            "{rows}x{cols}/{heads}"
        );
        assert_eq!(unpermute_rope_rows(&p, rows, cols, heads).unwrap(), w);
        let u = unpermute_rope_rows(&w, rows, cols, heads).unwrap();
        assert_eq!(permute_rope_rows(&u, rows, cols, heads).unwrap(), w);
    }
    // head of 4 rows (half 2): HF rows [0,1,2,3] become GGUF rows [0,2,1,3]
    let w: Vec<f32> = vec![0.0, 1.0, 2.0, 3.0];
    assert_eq!(
        permute_rope_rows(&w, 4, 1, 1).unwrap(),
        [0.0, 2.0, 1.0, 3.0]
    );
    assert!(matches!(
        unpermute_rope_rows(&w, 4, 1, 3),
        Err(GgufError::BadRopeShape { .. })
    ));
    assert!(matches!(
        unpermute_rope_rows(&w, 4, 2, 1),
        Err(GgufError::BadRopeShape { .. })
    ));
    assert!(matches!(
        unpermute_rope_rows(&w, 4, 1, 0),
        Err(GgufError::BadRopeShape { .. })
    ));
}
