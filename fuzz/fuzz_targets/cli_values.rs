//! The values the command line hands the library: schedules (text or JSON, resolved against a
//! block count, checked before any model), `--shuffle` ranges, `--shard i/n`, experiment names,
//! `--weights`, `--floor`/`--norm-metric` assignments and counts such as `--limit`. Any text gives
//! a value or a typed error naming what was written; what parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use painters_bench::schedules::{ScheduleSpec, parse_block_range};
use painters_bench::settings::at_least_one_if_given;
use painters_bench::sweep::{Experiment, NormConfig, Shard};
use painters_llama::WeightMode;

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let Some((&layers, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let layers = usize::from(layers % 65);
    let spec = ScheduleSpec::text(text);
    if spec.check().is_ok() {
        if let Ok(s) = spec.resolve(layers) {
            assert!(s.application_count() > 0, "{text:?} runs no blocks");
        }
    }
    if let Ok(r) = parse_block_range(text) {
        assert!(r.start() <= r.end());
    }
    if let Ok(shard) = text.parse::<Shard>() {
        assert!(shard.index < shard.count);
        assert_eq!(
            format!("{}/{}", shard.index, shard.count)
                .parse::<Shard>()
                .ok(),
            Some(shard)
        );
    }
    if let Ok(e) = text.parse::<Experiment>() {
        assert_eq!(e.name().parse::<Experiment>().ok(), Some(e));
    }
    if let Ok(w) = text.parse::<WeightMode>() {
        assert_eq!(w.name().parse::<WeightMode>().ok(), Some(w));
    }
    let tasks = ["arc_easy", "winogrande", "gsm8k"];
    let _ = NormConfig::with_flags(&tasks, &[text.to_string()], &[]);
    let _ = NormConfig::with_flags(&tasks, &[], &[text.to_string()]);
    if let Ok(n) = text.trim().parse::<usize>() {
        assert_eq!(
            at_least_one_if_given("--limit", Some(n), "documents").is_ok(),
            n > 0
        );
    }
});
