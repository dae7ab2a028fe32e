//! The schedule JSON format (the fixtures' plus nesting extensions): parse, validate, compile, and
//! round-trip through the text notation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use painters::{KvMode, LayerSchedule, Plan};

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = LayerSchedule::from_json_str(text) else {
        return;
    };
    let t = s.blocks_used().last().map_or(1, |b| b + 1);
    if s.validate(t).is_err() {
        return;
    }
    let _ = Plan::compile(&s, t, KvMode::Exact);
    let printed = s.to_string();
    let again: LayerSchedule = printed
        .parse()
        .unwrap_or_else(|e| panic!("printed form {printed:?} does not parse: {e}"));
    assert_eq!(again, s);
    assert_eq!(LayerSchedule::from_json(&s.to_json()).ok(), Some(s));
});
