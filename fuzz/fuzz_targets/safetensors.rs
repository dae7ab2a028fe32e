//! The safetensors reader: header, tensor table and every tensor's bytes read as f32 / i64.
#![no_main]

use libfuzzer_sys::fuzz_target;
use painters::weights::{FileBytes, SafetensorsFile, TensorSource};

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let Ok(f) = SafetensorsFile::from_bytes(FileBytes::Owned(data.to_vec()), "fuzz.safetensors")
    else {
        return;
    };
    for name in f.names() {
        let shape = f.shape(&name);
        if let Ok(t) = f.read(&name) {
            let n: usize = shape.map_or(0, |s| s.iter().product());
            assert_eq!(t.data.len(), n, "tensor {name}");
        }
        let _ = f.read_i64(&name);
    }
});
