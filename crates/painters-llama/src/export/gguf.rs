//! GGUF → GGUF: the source's metadata (tokenizer included) with `{arch}.block_count` updated and
//! `painters.export.*` provenance keys added, tensors renamed `blk.{j}.*` in the new order with
//! their stored bytes (quant types kept).
//!
//! llama.cpp derives some layer properties from the layer index alone — Gemma 2 alternates
//! sliding and global layers, Gemma 3 makes every sixth layer global with its own RoPE base — so a
//! schedule that moves a block to a position of the other kind cannot be written as GGUF. The
//! written file is read back with painters' GGUF loader (which follows llama.cpp there) and checked
//! layer by layer; such an export is refused naming the layer, the block and the property.

use std::path::Path;

use painters::LayerSchedule;

use super::check::check_config;
use super::error::ExportError;
use super::gguf_writer::{GgufOut, GgufTensorOut, write};
use super::options::{ExportFormat, ExportOptions, ExportReport, PAINTERS_VERSION};
use super::output::Staging;
use super::provenance::Provenance;
use super::weights::every_layer_has_tensors;
use crate::config::DecoderConfig;
use crate::gguf::{GgufArray, GgufValue};
use crate::load::GgufSource;

/// Metadata keys an export writes (replacing those of an exported source).
const PROVENANCE_PREFIX: &str = "painters.export.";

/// `value`'s integer type holding `n`.
fn same_int_type(
    value: &GgufValue,
    n: usize,
    key: &str,
    path: &Path,
) -> Result<GgufValue, ExportError> {
    let too_big = || ExportError::Tensor {
        path: path.to_path_buf(),
        tensor: key.to_string(),
        reason: format!("{n} layers do not fit its integer type"),
    };
    Ok(match value {
        GgufValue::U8(_) => GgufValue::U8(n.try_into().map_err(|_| too_big())?),
        GgufValue::U16(_) => GgufValue::U16(n.try_into().map_err(|_| too_big())?),
        GgufValue::I16(_) => GgufValue::I16(n.try_into().map_err(|_| too_big())?),
        GgufValue::I32(_) => GgufValue::I32(n.try_into().map_err(|_| too_big())?),
        GgufValue::U64(_) => GgufValue::U64(n as u64),
        GgufValue::I64(_) => GgufValue::I64(n.try_into().map_err(|_| too_big())?),
        _ => GgufValue::U32(n.try_into().map_err(|_| too_big())?),
    })
}

/// Writes the GGUF file `out` for `src` stacking `prov.blocks`.
pub(crate) fn export(
    src: &GgufSource,
    config: &DecoderConfig,
    prov: &Provenance,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let file = src.file();
    let path = file.path();
    let arch = file
        .get_str("general.architecture")
        .map_err(crate::DecoderError::from)?;
    let block_key = format!("{arch}.block_count");
    let per_layer_prefix = format!("{arch}.");
    let n_src = config.num_hidden_layers;
    let blocks = &prov.blocks;

    let mut metadata = Vec::new();
    for (key, value) in file.metadata_entries() {
        if key.starts_with(PROVENANCE_PREFIX) {
            continue;
        }
        if key == block_key {
            metadata.push((
                key.to_string(),
                same_int_type(value, blocks.len(), key, path)?,
            ));
            continue;
        }
        if key.starts_with(&per_layer_prefix)
            && let GgufValue::Array(a) = value
            && a.len() == n_src
        {
            return Err(ExportError::UnknownPerLayerKey {
                path: path.to_path_buf(),
                key: key.to_string(),
                len: n_src,
            });
        }
        metadata.push((key.to_string(), value.clone()));
    }
    let source_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let sha = prov
        .files
        .first()
        .map(|(_, h)| h.clone())
        .unwrap_or_default();
    let blocks_u32 = blocks.iter().map(|&b| b as u32).collect();
    let recipe = painters::mergekit::to_yaml(
        &LayerSchedule::seq(blocks.iter().map(|&b| LayerSchedule::block(b))),
        &source_name,
        Some(n_src),
        None,
    )
    .unwrap_or_default();
    for (k, v) in [
        ("source", GgufValue::String(source_name)),
        ("source_sha256", GgufValue::String(sha)),
        ("schedule", GgufValue::String(prov.schedule.clone())),
        ("blocks", GgufValue::Array(GgufArray::U32(blocks_u32))),
        ("mergekit_recipe", GgufValue::String(recipe)),
        (
            "painters_version",
            GgufValue::String(PAINTERS_VERSION.into()),
        ),
    ] {
        metadata.push((format!("{PROVENANCE_PREFIX}{k}"), v));
    }

    let mut at = vec![Vec::new(); n_src];
    for (j, &b) in blocks.iter().enumerate() {
        at[b].push(j);
    }
    let mut before = Vec::new();
    let mut layers: Vec<Vec<GgufTensorOut<'_>>> = (0..blocks.len()).map(|_| Vec::new()).collect();
    let mut after = Vec::new();
    let mut seen_block = false;
    for t in file.tensors() {
        let data = file
            .tensor_bytes(&t.name)
            .map_err(crate::DecoderError::from)?;
        let out_tensor = |name: String| GgufTensorOut {
            name,
            dims: t.dims.clone(),
            ggml_type: t.ggml_type,
            data,
        };
        let layer = t
            .name
            .strip_prefix("blk.")
            .and_then(|r| r.split_once('.'))
            .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)));
        match layer {
            Some((i, rest)) => {
                seen_block = true;
                let copies = at.get(i).ok_or_else(|| ExportError::Tensor {
                    path: path.to_path_buf(),
                    tensor: t.name.clone(),
                    reason: format!("belongs to block {i}, but {block_key} is {n_src}"),
                })?;
                for &j in copies {
                    layers[j].push(out_tensor(format!("blk.{j}.{rest}")));
                }
            }
            None if seen_block => after.push(out_tensor(t.name.clone())),
            None => before.push(out_tensor(t.name.clone())),
        }
    }
    every_layer_has_tensors(&layers, blocks, path, "blk.", n_src)?;
    let tensors: Vec<_> = before
        .into_iter()
        .chain(layers.into_iter().flatten())
        .chain(after)
        .collect();
    let count = tensors.len();
    let gguf = GgufOut {
        alignment: file.alignment(),
        metadata,
        tensors,
    };
    let staging = Staging::new(out, &prov.source, false, options.overwrite)?;
    let bytes = write(staging.path(), &gguf).map_err(ExportError::io(staging.path()))?;
    let got = GgufSource::open(staging.path())?.config()?;
    check_config(
        config,
        blocks,
        &got,
        &format!("a GGUF file of architecture {arch}"),
    )?;
    let out = staging.commit()?;
    Ok(ExportReport {
        out,
        format: ExportFormat::Gguf,
        blocks: blocks.clone(),
        tensors: count,
        tensor_bytes: bytes,
        source_sha256: prov.files.clone(),
    })
}

#[cfg(test)]
mod tests {
    use painters::LayerSchedule;

    use crate::export::{ExportError, ExportFormat, ExportOptions, export};
    use crate::gguf::GgufFile;
    use crate::gguf::test_util::GgufBuilder;

    /// A Gemma 3 GGUF of `blocks` blocks as llama.cpp writes it (metadata, the embedding and one
    /// norm per block, each block's norm filled with its index).
    fn gemma3(blocks: u32) -> std::path::PathBuf {
        let mut b = GgufBuilder::new()
            .kv_str("general.architecture", "gemma3")
            .kv_u32("gemma3.block_count", blocks)
            .kv_u32("gemma3.context_length", 64)
            .kv_u32("gemma3.embedding_length", 8)
            .kv_u32("gemma3.feed_forward_length", 16)
            .kv_u32("gemma3.attention.head_count", 2)
            .kv_u32("gemma3.attention.head_count_kv", 1)
            .kv_u32("gemma3.attention.sliding_window", 4)
            .kv_f32("gemma3.attention.layer_norm_rms_epsilon", 1e-6)
            .kv_f32("gemma3.rope.freq_base", 1e6)
            .tensor_f32("token_embd.weight", &[8, 16], &[0.5; 128]);
        for i in 0..blocks {
            b = b.tensor_f32(&format!("blk.{i}.attn_norm.weight"), &[8], &[i as f32; 8]);
        }
        b.tensor_f32("output_norm.weight", &[8], &[1.0; 8])
            .write("gemma3-export")
    }

    #[test]
    fn gemma3_gguf_keeps_the_pattern_or_is_refused_by_layer() {
        let src = gemma3(12);
        let dir = std::env::temp_dir().join(format!("painters-export-gguf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = ExportOptions::new(ExportFormat::Gguf);
        // Repeating a whole period of six keeps the five-sliding-one-global pattern: written.
        let out = dir.join("pruned.gguf");
        let r = export(&src, &"0..6, 0..6".parse().unwrap(), &out, &opts).unwrap();
        assert_eq!(r.blocks.len(), 12);
        let f = GgufFile::open(&out).unwrap();
        assert_eq!(f.get_u32("gemma3.block_count").unwrap(), 12);
        assert_eq!(
            f.tensor_f32("blk.9.attn_norm.weight").unwrap().1,
            vec![3.0; 8]
        );
        assert_eq!(
            f.get_str("painters.export.schedule").unwrap(),
            "0..=5, 0..=5"
        );
        assert!(
            f.get_str("painters.export.mergekit_recipe")
                .unwrap()
                .contains("layer_range: [0, 6]")
        );
        assert_eq!(f.tensors().first().unwrap().name, "token_embd.weight");
        assert_eq!(f.tensors().last().unwrap().name, "output_norm.weight");
        // Block 5 (global) at layer 3: llama.cpp makes layer 3 sliding.
        let bad = dir.join("moved.gguf");
        let e = export(
            &src,
            &"0, 1, 2, 5, 4, 3".parse::<LayerSchedule>().unwrap(),
            &bad,
            &opts,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                ExportError::Inexpressible {
                    layer: 3,
                    block: 5,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(e.contains("layer 3 of the export (source block 5): its attention type cannot be expressed in a GGUF file of architecture gemma3"), "{e}");
        assert!(!bad.exists());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "only the first export is left"
        );
        // --dtype does not apply to GGUF.
        let e = export(
            &src,
            &LayerSchedule::full(12),
            &dir.join("x.gguf"),
            &ExportOptions {
                dtype: Some(crate::export::ExportDtype::F16),
                ..opts.clone()
            },
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("--dtype applies to HF exports"),
            "{e}"
        );
    }
}
