//! # painters-data
//!
//! The task data of the painters harness — the lm-eval tasks (LAMBADA, ARC, HellaSwag,
//! WinoGrande, GSM8K, WikiText-2) and the GLUE tasks, normalized as `data/` of the repository
//! describes them, each folder with its `README.md` (source, licence, schema, checksums) — built
//! into the library as one compressed archive ([`ARCHIVE`], about 10 MB), so that a `painters`
//! installed with `cargo install` or a library added with `cargo add` has its data wherever it
//! runs.
//!
//! The evaluation code reads files from a folder; [`data_dir`] unpacks the archive once into the
//! user's cache ([`cache_dir`]) and returns that folder, laid out exactly as `data/`
//! (`<task>/<file>`). The folder is named after the archive's content ([`ID`]), so a newer data
//! set is unpacked beside an older one, never mixed into it.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The task data: a gzip stream of entries (path length `u32` LE, path, data length `u64` LE,
/// bytes), files in path order (see `build.rs`).
pub const ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/data.bin.gz"));

/// A hash of the archive's content (16 hex digits): the name of its cache folder.
pub const ID: &str = include_str!(concat!(env!("OUT_DIR"), "/data-id.txt"));

/// The environment variable of the cache root (default `$XDG_CACHE_HOME/painters`, else
/// `~/.cache/painters`).
pub const CACHE_VAR: &str = "PAINTERS_CACHE";

/// Why the data could not be read or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the built-in task data is damaged: {0}")]
    Damaged(String),
    #[error(
        "no cache folder for the built-in task data: set ${CACHE_VAR} (or $XDG_CACHE_HOME or $HOME), or pass --data-dir"
    )]
    NoCache,
}

/// Every file of the archive: (path relative to the data folder, bytes), in path order.
pub fn files() -> Result<Vec<(String, Vec<u8>)>, DataError> {
    read_archive(ARCHIVE)
}

/// The files of an archive in [`ARCHIVE`]'s format. Every path must be relative and stay inside
/// the data folder.
pub fn read_archive(archive: &[u8]) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(archive)
        .read_to_end(&mut raw)
        .map_err(|e| DataError::Damaged(e.to_string()))?;
    let mut out = Vec::new();
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<&[u8], DataError> {
        let end = at
            .checked_add(n)
            .filter(|&e| e <= raw.len())
            .ok_or_else(|| DataError::Damaged(format!("entry at byte {at} runs past the end")))?;
        let s = &raw[*at..end];
        *at = end;
        Ok(s)
    };
    while at < raw.len() {
        let mut len = [0u8; 4];
        len.copy_from_slice(take(&mut at, 4)?);
        let name = std::str::from_utf8(take(&mut at, u32::from_le_bytes(len) as usize)?)
            .map_err(|e| DataError::Damaged(format!("a path is not UTF-8: {e}")))?
            .to_string();
        if !safe_relative(&name) {
            return Err(DataError::Damaged(format!(
                "path `{name}` leaves the data folder"
            )));
        }
        let mut size = [0u8; 8];
        size.copy_from_slice(take(&mut at, 8)?);
        let size = usize::try_from(u64::from_le_bytes(size))
            .map_err(|_| DataError::Damaged(format!("{name}: size does not fit")))?;
        out.push((name, take(&mut at, size)?.to_vec()));
    }
    Ok(out)
}

/// A non-empty path of normal components only (no root, `..` or `.`).
fn safe_relative(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Write every file of the archive under `dir` (created if missing), as `data/` lays them out.
pub fn unpack_into(dir: &Path) -> Result<(), DataError> {
    for (name, bytes) in files()? {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| DataError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, bytes).map_err(|source| DataError::Io { path, source })?;
    }
    Ok(())
}

/// The cache root: `$PAINTERS_CACHE`, else `$XDG_CACHE_HOME/painters`, else
/// `$HOME/.cache/painters`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var(CACHE_VAR)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("painters")))
        .or_else(|| var("HOME").map(|h| h.join(".cache/painters")))
}

/// The data folder of the built-in data: `<cache>/data-<ID>`, unpacked there on first use. The
/// archive is unpacked into a temporary sibling folder that is then renamed into place, so a
/// folder of that name is always complete, and processes racing to unpack it do no harm.
pub fn data_dir() -> Result<PathBuf, DataError> {
    let root = cache_dir().ok_or(DataError::NoCache)?;
    let dir = root.join(format!("data-{ID}"));
    if dir.is_dir() {
        return Ok(dir);
    }
    let tmp = root.join(format!(".data-{ID}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    unpack_into(&tmp)?;
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another process put it in place first.
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(source) => Err(DataError::Io { path: dir, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The repository's `data/` folder: every file, by relative path.
    fn repo_files(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if e.path().is_dir() {
                repo_files(&e.path(), &rel, out);
            } else {
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }

    #[test]
    fn the_archive_holds_every_file_of_the_repository_data_unchanged() {
        let mut want = Vec::new();
        repo_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data"),
            "",
            &mut want,
        );
        let got = files().unwrap();
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&got), names(&want));
        for ((name, a), (_, b)) in got.iter().zip(&want) {
            assert!(a == b, "{name} differs");
        }
        for licensed in ["arc_easy/README.md", "glue-rte/README.md", "README.md"] {
            assert!(got.iter().any(|(n, _)| n == licensed), "{licensed}");
        }
        assert_eq!(ID.len(), 16);
    }

    #[test]
    fn unpacking_lays_the_files_out_as_data_and_refuses_paths_outside() {
        let dir = std::env::temp_dir().join(format!("painters-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        unpack_into(&dir).unwrap();
        let readme = std::fs::read(dir.join("lambada_openai/README.md")).unwrap();
        let repo =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/lambada_openai/README.md");
        assert_eq!(readme, std::fs::read(repo).unwrap());
        let _ = std::fs::remove_dir_all(&dir);

        let mut raw = Vec::new();
        for name in ["ok/file", "../escape"] {
            raw.extend((name.len() as u32).to_le_bytes());
            raw.extend(name.as_bytes());
            raw.extend(1u64.to_le_bytes());
            raw.push(b'x');
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let e = read_archive(&gz.finish().unwrap()).unwrap_err().to_string();
        assert!(e.contains("`../escape` leaves the data folder"), "{e}");
        assert!(matches!(
            read_archive(b"not gzip"),
            Err(DataError::Damaged(_))
        ));
    }
}
