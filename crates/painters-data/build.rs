//! Packs the task data (`data/` of the repository, or `data/` inside this crate's folder when it
//! was packaged on its own) into one gzip stream in `OUT_DIR`, which `src/lib.rs` includes.
//!
//! The stream is a sequence of entries, each `u32` (little endian) path length, the path (UTF-8,
//! `/`-separated, relative to `data/`), `u64` data length, the bytes; files in path order, hidden
//! files skipped. `data-id.txt` gets a 64-bit FNV-1a hash of the uncompressed stream: the name of
//! the cache folder the data is unpacked into, so a changed data set gets a new folder.

use std::io::Write;
use std::path::{Path, PathBuf};

fn files(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("cannot read {}", dir.display());
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if path.is_dir() {
            files(&path, &rel, out);
        } else {
            out.push((rel, path));
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let own = manifest.join("data");
    let source = if own.is_dir() {
        own
    } else {
        manifest.join("../../data")
    };
    println!("cargo:rerun-if-changed={}", source.display());
    let mut list = Vec::new();
    files(&source, "", &mut list);
    assert!(!list.is_empty(), "no task data under {}", source.display());

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let file = std::fs::File::create(out.join("data.bin.gz")).expect("OUT_DIR is writable");
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::new(6));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut put = |gz: &mut flate2::write::GzEncoder<std::fs::File>, bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        gz.write_all(bytes).expect("writing OUT_DIR");
    };
    for (rel, path) in &list {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = rel.as_bytes();
        put(&mut gz, &(name.len() as u32).to_le_bytes());
        put(&mut gz, name);
        put(&mut gz, &(bytes.len() as u64).to_le_bytes());
        put(&mut gz, &bytes);
    }
    gz.finish().expect("writing OUT_DIR");
    std::fs::write(out.join("data-id.txt"), format!("{hash:016x}")).expect("writing OUT_DIR");
}
