//! A conformance manifest (`painters conformance MANIFEST`): any file content gives case results or
//! a typed error, never a panic. The manifest is written beside the repository's tiny fixture
//! models, inputs and golden files (linked into the scratch folder), so cases that name them load
//! the models and run them: every field a case reads is exercised, not only the JSON syntax.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use painters_bench::conformance::run_manifest;

/// The scratch folder with `models/`, `inputs/` and `golden/` linked to `tests/fixtures/`.
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = painters_fuzz::scratch_dir().join("conformance");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let _ = std::fs::create_dir_all(&dir);
        for sub in ["models", "inputs", "golden"] {
            let _ = std::os::unix::fs::symlink(fixtures.join(sub), dir.join(sub));
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    painters_fuzz::cap_allocations(data.len());
    let manifest = root().join("manifest.json");
    if std::fs::write(&manifest, data).is_err() {
        return;
    }
    if let Ok(results) = run_manifest(
        &manifest,
        root().join("models"),
        None,
        Device::flex(),
        |_| {},
    ) {
        for r in &results {
            assert!(!r.line().is_empty());
        }
    }
});
