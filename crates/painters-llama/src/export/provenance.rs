//! What an export records about where it came from.

use std::path::{Path, PathBuf};

use painters::LayerSchedule;

use super::error::ExportError;
use super::output;

/// What the export records about where it came from.
pub(crate) struct Provenance {
    pub source: PathBuf,
    pub files: Vec<(String, String)>,
    pub schedule: String,
    pub blocks: Vec<usize>,
}

impl Provenance {
    pub(crate) fn new(
        source: &Path,
        files: &[PathBuf],
        schedule: &LayerSchedule,
        blocks: &[usize],
    ) -> Result<Self, ExportError> {
        let files = files
            .iter()
            .map(|f| {
                let name = f.file_name().map_or_else(
                    || f.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                Ok((name, output::sha256_file(f)?))
            })
            .collect::<Result<_, ExportError>>()?;
        Ok(Provenance {
            source: source.to_path_buf(),
            files,
            schedule: schedule.to_string(),
            blocks: blocks.to_vec(),
        })
    }
}
