//! Issue 23, item 2: a sweep's points are counted before any is built. The count equals the points
//! an enumeration builds, and a sweep over the limit (`--max-points`) is refused with its count
//! before a single point exists: this binary counts every heap byte (the harness's counting
//! allocator), and refusing a 10⁹-point sweep allocates almost nothing.

use std::path::PathBuf;

use painters_bench::perf::{CountingAlloc, peak_alloc};
use painters_bench::sweep::{
    Experiment, ExperimentOptions, SweepError, SweepRun, SweepRunError, count_points, sweep_points,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The counting allocator sees every thread of this binary: the tests run one at a time so that a
/// peak measured in one is not another's allocation.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn opts(seeds: usize, max_loops: usize, loops: usize) -> ExperimentOptions {
    ExperimentOptions {
        seeds,
        max_loops,
        loops,
        ..ExperimentOptions::default()
    }
}

#[test]
fn counts_equal_the_points_an_enumeration_builds() {
    let _serial = serial();
    let all: Vec<Experiment> = Experiment::NAMES
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    let sets: Vec<Vec<Experiment>> = all
        .iter()
        .map(|e| vec![*e])
        .chain([
            vec![Experiment::Grid, Experiment::LoopedParallel],
            vec![Experiment::Summary, Experiment::Skip, Experiment::Random],
            all.clone(),
        ])
        .collect();
    for layers in [2, 3, 6, 7, 30] {
        for o in [opts(1, 1, 1), opts(3, 4, 2), opts(2, 2, 5), opts(10, 28, 3)] {
            for set in &sets {
                let built = sweep_points(set, layers, &o).unwrap().len();
                assert_eq!(
                    count_points(set, layers, &o).unwrap(),
                    built as u128,
                    "{set:?} on {layers} blocks with {o:?}"
                );
            }
        }
    }
}

#[test]
fn a_billion_point_sweep_is_refused_before_any_point_is_built() {
    let _serial = serial();
    for (set, o) in [
        (vec![Experiment::Grid], opts(10, 1_000_000_000, 3)),
        (vec![Experiment::Random], opts(1_000_000_000, 28, 3)),
        (
            vec![Experiment::All],
            opts(usize::MAX, usize::MAX, usize::MAX),
        ),
    ] {
        let (result, peak) = peak_alloc(|| sweep_points(&set, 32, &o));
        let peak = peak.expect("the counting allocator is this binary's");
        match result {
            Err(SweepError::TooManyPoints { count, limit, .. }) => {
                assert!(count > 1_000_000_000, "{count}");
                assert_eq!(limit, ExperimentOptions::default().max_points);
            }
            other => panic!(
                "{set:?}: expected a refusal, got {:?}",
                other.map(|p| p.len())
            ),
        }
        assert!(peak < 16 << 10, "{set:?}: refusing allocated {peak} bytes");
    }
    let e = sweep_points(&[Experiment::Grid], 32, &opts(10, 1_000_000_000, 3))
        .unwrap_err()
        .to_string();
    assert!(e.contains("16000000001 schedule points"), "{e}");
    assert!(e.contains("at most 10000"), "{e}");
}

#[test]
fn a_sweep_run_refuses_before_loading_the_model() {
    let _serial = serial();
    let tiny =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-llama");
    let out = std::env::temp_dir().join(format!("painters-sweep-points-{}", std::process::id()));
    let mut run = SweepRun::new(&tiny, &["grid"], &["lambada_openai"], &out);
    run.experiment_options.max_loops = 1_000_000_000;
    let (result, peak) = peak_alloc(|| run.execute_with(&mut |_| {}));
    match result {
        Err(SweepRunError::Sweep(SweepError::TooManyPoints { count, .. })) => {
            assert_eq!(count, 3 * 1_000_000_000 + 1)
        }
        other => panic!("expected a refusal: {other:?}"),
    }
    // Reading the config, no weights, no points.
    assert!(peak.unwrap() < 1 << 20, "{peak:?}");
    assert!(!out.exists(), "nothing is written before the refusal");
}
