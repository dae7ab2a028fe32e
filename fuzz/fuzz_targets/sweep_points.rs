//! Sweep point enumeration (`painters sweep --experiment … --seeds --max-loops --loops
//! --max-points`): the count computed from the options alone equals the points an enumeration
//! builds, and a sweep over the limit is refused before a point is built — the allocation cap
//! (32 MiB) would abort on a sweep of millions of points built by mistake.
#![no_main]

use libfuzzer_sys::fuzz_target;
use painters_bench::sweep::{
    Experiment, ExperimentOptions, SweepError, count_points, sweep_points,
};

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    if data.len() < 6 {
        return;
    }
    let bits = u16::from_le_bytes([data[0], data[1]]);
    let experiments: Vec<Experiment> = Experiment::NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .filter_map(|(_, n)| n.parse().ok())
        .collect();
    // Small values mostly (so that the enumeration runs), and now and then an enormous one.
    let big = |b: u8| -> usize {
        if b >= 250 {
            usize::MAX >> (b - 250)
        } else {
            usize::from(b % 40)
        }
    };
    let layers = usize::from(data[2] % 70);
    let opts = ExperimentOptions {
        seeds: big(data[3]),
        max_loops: big(data[4]),
        loops: big(data[5]),
        max_points: 3000,
    };
    let count = count_points(&experiments, layers, &opts);
    match sweep_points(&experiments, layers, &opts) {
        Ok(points) => {
            assert_eq!(
                count,
                Some(points.len() as u128),
                "{experiments:?} {layers} {opts:?}"
            );
            assert!(points.len() <= opts.max_points);
            assert_eq!(points[0].label, "full");
        }
        Err(SweepError::TooManyPoints { count: c, .. }) => {
            assert!(count.is_none_or(|n| n == c && n > 3000));
        }
        Err(_) => {}
    }
});
