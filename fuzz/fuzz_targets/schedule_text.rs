//! The schedule text notation: parse, and for what parses, print → parse round trip, validation,
//! compilation and JSON round trip must agree and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use painters::{KvMode, LayerSchedule, Plan};

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = text.parse::<LayerSchedule>() else {
        return;
    };
    let printed = s.to_string();
    let again: LayerSchedule = printed
        .parse()
        .unwrap_or_else(|e| panic!("printed form {printed:?} of {text:?} does not parse: {e}"));
    assert_eq!(again, s, "print/parse round trip of {text:?}");
    let t = s.blocks_used().last().map_or(1, |b| b + 1);
    if s.validate(t).is_ok() {
        for kv in [KvMode::Exact, KvMode::PaperAveraged] {
            if let Ok(plan) = Plan::compile(&s, t, kv) {
                assert_eq!(plan.stats().block_applications, s.application_count());
            }
        }
        let back = LayerSchedule::from_json(&s.to_json()).expect("own JSON reads back");
        assert_eq!(back, s, "JSON round trip of {text:?}");
    }
});
