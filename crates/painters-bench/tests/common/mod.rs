//! Helpers shared by the test binaries that run the real models or the `painters` binary. Each test
//! binary uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A real model fetched by `scripts/fetch-models.sh`; a missing one fails the test, never skips it.
fn fetched(rel: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(
        p.exists(),
        "{} missing; run scripts/fetch-models.sh",
        p.display()
    );
    p
}

/// SmolLM2-135M-Instruct (GGUF Q4_1).
pub fn smollm2() -> PathBuf {
    fetched("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The all-MiniLM-L6-v2 folder.
pub fn minilm() -> PathBuf {
    fetched("models/all-minilm-l6-v2/model.safetensors");
    root().join("models/all-minilm-l6-v2")
}

/// An empty scratch folder for one test, unique to this process.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("painters-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the `painters` binary from the repository root: (success, stdout, stderr).
pub fn painters(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_painters"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
