//! Where an export is written: a temporary sibling of the output, renamed into place only when
//! everything was written and checked, so a failed or interrupted export never leaves a
//! half-written model under the requested name. Also the provenance an export records (sha256 of
//! the source files).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ExportError;

/// A temporary output beside the final one. Dropped without [`Staging::commit`], it is removed.
pub(crate) struct Staging {
    tmp: PathBuf,
    out: PathBuf,
    committed: bool,
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

fn remove(path: &Path) -> Result<(), ExportError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ExportError::io(path)(e)),
    };
    if meta.is_dir() {
        std::fs::remove_dir_all(path).map_err(ExportError::io(path))
    } else {
        std::fs::remove_file(path).map_err(ExportError::io(path))
    }
}

impl Staging {
    /// Checks that `out` may be written (absent, an empty directory, or `overwrite`), that it is
    /// not the source, and creates the temporary sibling (a directory when `dir`).
    pub(crate) fn new(
        out: &Path,
        source: &Path,
        dir: bool,
        overwrite: bool,
    ) -> Result<Self, ExportError> {
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b || b.starts_with(&a),
            _ => false,
        };
        if same(out, source) {
            return Err(ExportError::OutputIsSource {
                out: out.to_path_buf(),
            });
        }
        if out.exists() && !is_empty_dir(out) && !overwrite {
            return Err(ExportError::OutputExists {
                path: out.to_path_buf(),
            });
        }
        let name = out
            .file_name()
            .ok_or_else(|| ExportError::Options(format!("{} names no file", out.display())))?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(ExportError::io(&parent))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".painters-export-{}", std::process::id()));
        let tmp = parent.join(tmp_name);
        remove(&tmp)?;
        if dir {
            std::fs::create_dir(&tmp).map_err(ExportError::io(&tmp))?;
        }
        Ok(Staging {
            tmp,
            out: out.to_path_buf(),
            committed: false,
        })
    }

    /// The temporary path to write into (a directory, or the file to create).
    pub(crate) fn path(&self) -> &Path {
        &self.tmp
    }

    /// Moves the finished output into place, replacing what was there (only an empty directory,
    /// unless overwriting was asked for and checked in [`Staging::new`]).
    pub(crate) fn commit(mut self) -> Result<PathBuf, ExportError> {
        remove(&self.out)?;
        std::fs::rename(&self.tmp, &self.out).map_err(ExportError::io(&self.out))?;
        self.committed = true;
        Ok(self.out.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the export already failed with its own error.
            let _ = remove(&self.tmp);
        }
    }
}

/// The sha256 of a file, in lower-case hex, read in 1 MiB pieces.
pub(crate) fn sha256_file(path: &Path) -> Result<String, ExportError> {
    let mut f = std::fs::File::open(path).map_err(ExportError::io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(ExportError::io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Pretty JSON with a final newline, as transformers writes its JSON files.
pub(crate) fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes `text` to `path`.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), ExportError> {
    std::fs::write(path, text).map_err(ExportError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("painters-staging-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn an_existing_output_is_kept_unless_overwriting() {
        let d = scratch("exists");
        let src = d.join("src");
        std::fs::create_dir(&src).unwrap();
        let out = d.join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("keep"), "x").unwrap();
        let e = Staging::new(&out, &src, true, false).err().unwrap();
        assert!(matches!(e, ExportError::OutputExists { .. }), "{e}");
        let s = Staging::new(&out, &src, true, true).unwrap();
        std::fs::write(s.path().join("new"), "y").unwrap();
        s.commit().unwrap();
        assert!(out.join("new").is_file() && !out.join("keep").exists());
        // A failed export leaves nothing behind.
        let out2 = d.join("out2");
        let s = Staging::new(&out2, &src, true, false).unwrap();
        let tmp = s.path().to_path_buf();
        assert!(tmp.is_dir());
        drop(s);
        assert!(!tmp.exists() && !out2.exists());
        let e = Staging::new(&src, &src, true, true).err().unwrap();
        assert!(matches!(e, ExportError::OutputIsSource { .. }), "{e}");
    }

    #[test]
    fn sha256_of_a_known_text() {
        let d = scratch("sha");
        std::fs::write(d.join("abc"), "abc").unwrap();
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_file(&d.join("abc")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
