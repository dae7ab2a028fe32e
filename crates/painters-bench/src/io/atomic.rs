//! Files that are whole or absent: written beside their place, synced, renamed over it.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be written (or a folder that will not take one).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct IoError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// `source` happened on `path`.
    pub fn new(path: &Path, source: std::io::Error) -> Self {
        IoError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Write `bytes` to `path` via a temporary file in the same folder, fsync, rename, and fsync of the
/// folder, so that readers never see half a file, a failed or killed run never clobbers an earlier
/// result, and a result reported as written survives a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_file_atomic(path, bytes).map_err(|source| IoError::new(path, source))
}

fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes).and_then(|()| f.sync_all())?;
    drop(f);
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    // The rename is durable once the folder's entry is on disk. Folders cannot be opened for
    // syncing on every platform; where they cannot, the rename is as durable as the OS makes it.
    if let Ok(d) = std::fs::File::open(folder_of(path)) {
        d.sync_all().or_else(ignore_unsupported)?;
    }
    Ok(())
}

/// Fail now, not after hours of work, when the file `path` could not be written: it must not be a
/// folder, and its folder must exist and accept a new file. Leaves nothing behind.
pub fn check_writable(path: &Path) -> Result<(), IoError> {
    if path.is_dir() {
        return Err(IoError::new(
            path,
            std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a folder; a file is expected here",
            ),
        ));
    }
    probe(folder_of(path)).map_err(|source| IoError::new(path, source))
}

/// Fail now, not after hours of work, when the folder `path` could not be written into: an
/// existing `path` must be a folder that accepts a new file; a missing one must be creatable (its
/// nearest existing ancestor a writable folder). Creates nothing, leaves nothing behind.
pub fn check_folder_writable(path: &Path) -> Result<(), IoError> {
    let not_a_folder = || {
        IoError::new(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a folder (an existing file); a folder is expected here",
            ),
        )
    };
    let mut at = path;
    loop {
        if at.is_dir() {
            return probe(at).map_err(|source| IoError::new(path, source));
        }
        if at.exists() {
            return Err(not_a_folder());
        }
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => return probe(Path::new(".")).map_err(|source| IoError::new(path, source)),
        }
    }
}

/// Create and remove an empty file in `folder`.
fn probe(folder: &Path) -> std::io::Result<()> {
    let probe = folder.join(format!(".painters-probe.{}.tmp", std::process::id()));
    std::fs::File::create(&probe)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Syncing a folder handle fails with "invalid input"/"unsupported" on some file systems; that is
/// not a failed write.
fn ignore_unsupported(e: std::io::Error) -> std::io::Result<()> {
    match e.kind() {
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported => Ok(()),
        _ => Err(e),
    }
}
