//! The GGUF reader: header, metadata (nested arrays), tensor infos and offsets, every tensor's
//! dequantisation, the Llama hyper-parameters and the tokenizer built from the metadata.
#![no_main]

use libfuzzer_sys::fuzz_target;
use painters::weights::FileBytes;
use painters_llama::gguf::{GgufFile, llama_config_from_gguf};
use painters_llama::tokenizer::TextTokenizer;

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let Ok(f) = GgufFile::from_bytes(FileBytes::Owned(data.to_vec()), "fuzz.gguf") else {
        return;
    };
    for (_key, value) in f.metadata_entries() {
        let _ = (value.as_integer(), value.as_float(), value.as_str());
    }
    for info in f.tensors().to_vec() {
        if let Ok((shape, values)) = f.tensor_f32(&info.name) {
            // A zero dimension beside huge ones is a valid empty tensor; multiply only without it
            // (the target's own first find: `product()` overflowed on dims [0, 2^40, 2^40]).
            if shape.contains(&0) {
                assert!(values.is_empty(), "{}", info.name);
            } else {
                let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                assert_eq!(n, Some(values.len()), "{}", info.name);
            }
        }
    }
    let _ = llama_config_from_gguf(&f);
    if let Ok(t) = TextTokenizer::from_gguf(&f) {
        if let Ok(ids) = t.encode("The capital of France is 12 <|im_start|>") {
            let _ = t.decode(&ids, true);
        }
    }
});
