//! What kind of device a burn `Device` is: the one place painters asks.

use burn::tensor::Device;

/// Whether `device` computes on the calling thread (burn's CPU backends, also under autodiff), where
/// splitting work across rayon's threads helps and tensor data can be read in place; GPU backends
/// queue work asynchronously and gain nothing from it.
pub fn runs_on_host(device: &Device) -> bool {
    // burn 0.22 has no public "is this a CPU backend" query; its Debug form names the backend
    // (`Device<Flex(Cpu)>`). The test below checks that a flex device is recognised.
    let name = format!("{device:?}");
    name.contains("Flex(") || name.contains("NdArray(")
}

/// Runs `f` on one of rayon's worker threads (the pool burn's CPU backend and the kernels split
/// work over), returning its result; on a worker already, `f` simply runs.
///
/// Called from outside the pool, every parallel operation inside `f` would hand its work to the
/// workers and put the calling thread to sleep until they finish: two cross-thread wake-ups per
/// operation, and one thread more than there are cores. A decoded token runs a few hundred small
/// operations, so that cost shows: SmolLM2-135M Q4_1 decoding on 2 cores went from ≈ 87 to
/// ≈ 129 tokens/s when the whole generation ran on a worker (docs/performance.md). Wrap whole
/// jobs (a generation, an evaluation), not single operations.
pub fn on_compute_threads<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flex_runs_on_host() {
        assert!(super::runs_on_host(&burn::tensor::Device::flex()));
    }

    #[test]
    fn work_moves_onto_a_worker_and_stays_there() {
        assert_eq!(rayon::current_thread_index(), None);
        let outer = super::on_compute_threads(|| {
            let inner = super::on_compute_threads(rayon::current_thread_index);
            (rayon::current_thread_index(), inner)
        });
        assert!(outer.0.is_some(), "{outer:?}");
        assert_eq!(outer.0, outer.1, "a nested call stays on the same worker");
    }
}
