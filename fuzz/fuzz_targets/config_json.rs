//! HF `config.json` for Llama and BERT: any text gives a config or a typed error; a config that
//! parses yields usable derived values (each RoPE table's frequencies).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use painters_bert::BertConfig;
use painters_llama::LlamaConfig;

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/config.json");
    if let Ok(c) = LlamaConfig::from_hf_json(text, path) {
        // Derived values are computed at load time; they must not panic or allocate absurdly.
        for rope in c.ropes.iter().filter(|r| r.rotary_dims <= 1 << 16) {
            assert_eq!(rope.inv_freq().len(), rope.rotary_dims / 2);
        }
    }
    let _ = BertConfig::from_json_str(text, path);
});
