//! Hostile safetensors files: every lie in the header is a typed error naming the file, found before
//! anything larger than the file is allocated (the fuzz target `safetensors` checks the allocation
//! bound on random inputs; these are the cases a reader would think of first).

use painters::weights::{FileBytes, SafetensorsFile, TensorSource, WeightError};

/// A safetensors file from a header JSON and a data section.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

fn open(bytes: Vec<u8>) -> Result<SafetensorsFile, WeightError> {
    SafetensorsFile::from_bytes(FileBytes::Owned(bytes), "hostile.safetensors")
}

#[track_caller]
fn refused(bytes: Vec<u8>, why: &str) {
    match open(bytes) {
        Err(e @ WeightError::Format { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("hostile.safetensors"), "{why}: {msg}");
        }
        Err(e) => panic!("{why}: wrong error kind {e:?}"),
        Ok(_) => panic!("{why}: accepted"),
    }
}

#[test]
fn a_well_formed_file_reads() {
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let f = open(file(
        r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#,
        &data,
    ))
    .unwrap();
    assert_eq!(f.read("w").unwrap().data, [1.0, 2.0, 3.0, 4.0]);
    assert!(matches!(f.read("v"), Err(WeightError::Missing { .. })));
}

#[test]
fn lies_are_refused() {
    let data = [0u8; 16];
    refused(Vec::new(), "empty file");
    refused(vec![1, 2, 3], "shorter than the length field");
    let mut v = file(r#"{}"#, &[]);
    v[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    refused(v, "header length 2^64-1");
    let mut v = file(r#"{}"#, &[]);
    v[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    refused(v, "header length past the end");
    refused(file("not json", &[]), "header is not JSON");
    refused(
        file(
            r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}}"#,
            &data,
        ),
        "offsets past the end",
    );
    refused(
        file(
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            &data,
        ),
        "overlapping tensors",
    );
    refused(
        file(
            r#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,0]}}"#,
            &data,
        ),
        "end before start",
    );
    refused(
        file(
            r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#,
            &data,
        ),
        "shape whose element count overflows",
    );
    refused(
        file(
            r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#,
            &data,
        ),
        "shape disagrees with the byte range",
    );
    refused(
        file(
            r#"{"w":{"dtype":"Q9","shape":[4],"data_offsets":[0,16]}}"#,
            &data,
        ),
        "unknown dtype",
    );
}

#[test]
fn unsupported_dtypes_name_the_tensor() {
    let f = open(file(
        r#"{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#,
        &[1, 2, 3, 4],
    ))
    .unwrap();
    let e = f.read("w").unwrap_err().to_string();
    assert!(e.contains("`w`") || e.contains("w"), "{e}");
    assert!(e.contains("hostile.safetensors"), "{e}");
}

#[test]
fn shard_index_cannot_point_outside_the_folder() {
    use painters::weights::SafetensorsCheckpoint;
    let dir = std::env::temp_dir().join(format!("painters-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        r#"{"weight_map": {"w": "../elsewhere.safetensors"}}"#,
    )
    .unwrap();
    let e = SafetensorsCheckpoint::open(&dir).err().unwrap().to_string();
    assert!(e.contains("model.safetensors.index.json"), "{e}");
    assert!(e.contains("not a file name in this directory"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
