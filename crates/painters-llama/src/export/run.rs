//! Export entry points: which blocks a schedule stacks, and the export itself.

use std::path::Path;

use painters::LayerSchedule;
use painters::mergekit::plain_stack;

use super::error::ExportError;
use super::options::{ExportFormat, ExportOptions, ExportReport};
use super::provenance::Provenance;
use super::source::Source;
use super::{gguf, hf};
use crate::load::is_gguf;

/// The blocks an export of `schedule` would stack, for a model of `num_blocks` blocks: the same
/// check [`export`] makes before writing anything.
pub fn export_blocks(
    schedule: &LayerSchedule,
    num_blocks: usize,
) -> Result<Vec<usize>, ExportError> {
    Ok(plain_stack(schedule, num_blocks)?)
}

/// Export `model` (an HF folder or a `.gguf` file) under the sequence schedule `schedule` to `out`
/// (a folder for [`ExportFormat::Hf`], a `.gguf` file for [`ExportFormat::Gguf`]). See the
/// [module docs](crate::export).
pub fn export(
    model: &Path,
    schedule: &LayerSchedule,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let source = Source::open(model)?;
    let config = match &source {
        Source::Hf(h) => h.config.clone(),
        Source::Gguf(g) => g.config()?,
    };
    let blocks = plain_stack(schedule, config.num_hidden_layers)?;
    match (options.format, source) {
        (ExportFormat::Gguf, Source::Hf(_)) => Err(ExportError::Unsupported {
            what: "a GGUF export of an HF checkpoint".into(),
            format: "painters".into(),
            detail: "painters copies GGUF tensors as they are and does not quantise; export an HF folder, then run llama.cpp's convert_hf_to_gguf.py on it".into(),
        }),
        (ExportFormat::Gguf, Source::Gguf(src)) => {
            if options.dtype.is_some() {
                return Err(ExportError::Options(
                    "a GGUF export copies the source's tensors as stored (quant types kept); --dtype applies to HF exports".into(),
                ));
            }
            if !is_gguf(out) {
                return Err(ExportError::Options(format!(
                    "{}: a GGUF export is one file whose name ends in .gguf",
                    out.display()
                )));
            }
            let prov = Provenance::new(model, &[model.to_path_buf()], schedule, &blocks)?;
            gguf::export(&src, &config, &prov, out, options)
        }
        (ExportFormat::Hf, source) => {
            if is_gguf(out) {
                return Err(ExportError::Options(format!(
                    "{}: an HF export is a folder; a name ending in .gguf asks for --format gguf",
                    out.display()
                )));
            }
            let files = match &source {
                Source::Hf(h) => h.provenance_files(),
                Source::Gguf(_) => vec![model.to_path_buf()],
            };
            let prov = Provenance::new(model, &files, schedule, &blocks)?;
            hf::export(&source, &config, &prov, out, options)
        }
    }
}
