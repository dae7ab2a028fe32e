//! The tensors of an HF export: which source tensor each exported tensor copies (layers
//! renumbered, a repeated block once per copy), how its bytes are made (copied as stored,
//! converted, or dequantised from GGUF), and the safetensors shards they are written to.
//!
//! Tensors an HF source stores are copied byte for byte unless a dtype is asked for; a GGUF
//! source's are dequantised (with llama.cpp's Q/K row permutation undone by [`GgufSource`]) and, for
//! Gemma, its stored `1 + w` norm weights turned back into `w`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use painters::weights::{SafetensorsCheckpoint, TensorSource};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::json;

use super::error::ExportError;
use super::options::ExportDtype;
use super::output::{pretty, write_text};
use super::source::HfSource;
use crate::config::{DecoderConfig, NormKind};
use crate::family::names::{MlpNames, QkvNames, TensorNames};
use crate::load::GgufSource;

/// Where an exported tensor's data comes from.
enum Origin {
    /// Stored bytes of an HF source: (file index, name).
    Raw(usize, String),
    /// An HF source's tensor converted to another dtype.
    Convert(String),
    /// A GGUF tensor, dequantised; `minus_one` for Gemma norms stored as `1 + w`.
    Gguf { name: String, minus_one: bool },
}

pub(crate) struct OutTensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    from: Origin,
}

impl OutTensor {
    fn bytes(&self) -> u64 {
        (self.shape.iter().product::<usize>() * self.dtype.bitsize() / 8) as u64
    }
}

pub(crate) fn safetensors_dtype(d: ExportDtype) -> Dtype {
    match d {
        ExportDtype::F32 => Dtype::F32,
        ExportDtype::Bf16 => Dtype::BF16,
        ExportDtype::F16 => Dtype::F16,
    }
}

/// Little-endian bytes of `values` in `dtype` (F32, BF16 or F16). The conversions run in the
/// `half` and `bytemuck` crates (built optimised even in debug builds): this touches every weight.
fn encode(values: &[f32], dtype: Dtype) -> Vec<u8> {
    use half::slice::HalfFloatSliceExt;
    fn le_bytes<T: bytemuck::Pod>(v: &[T], each: impl Fn(&T) -> Vec<u8>) -> Vec<u8> {
        if cfg!(target_endian = "little") {
            bytemuck::cast_slice(v).to_vec()
        } else {
            v.iter().flat_map(each).collect()
        }
    }
    match dtype {
        Dtype::BF16 => {
            let mut h = vec![half::bf16::ZERO; values.len()];
            h.convert_from_f32_slice(values);
            le_bytes(h.reinterpret_cast(), |x| x.to_le_bytes().to_vec())
        }
        Dtype::F16 => {
            let mut h = vec![half::f16::ZERO; values.len()];
            h.convert_from_f32_slice(values);
            le_bytes(h.reinterpret_cast(), |x| x.to_le_bytes().to_vec())
        }
        _ => le_bytes(values, |x| x.to_le_bytes().to_vec()),
    }
}

/// `{prefix}{i}.{rest}` → `(i, rest)`.
fn layer_of<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let (i, rest) = name.strip_prefix(prefix)?.split_once('.')?;
    Some((i.parse().ok()?, rest))
}

/// For each source block, the export's layers that copy it.
fn positions(blocks: &[usize], num_blocks: usize) -> Vec<Vec<usize>> {
    let mut at = vec![Vec::new(); num_blocks];
    for (j, &b) in blocks.iter().enumerate() {
        at[b].push(j);
    }
    at
}

/// Refuses an export layer that received no tensor: the source has none for its block although
/// its configuration counts the block (`prefix` + index names the block's tensors).
pub(crate) fn every_layer_has_tensors<T>(
    layers: &[Vec<T>],
    blocks: &[usize],
    path: &Path,
    prefix: &str,
    num_blocks: usize,
) -> Result<(), ExportError> {
    match layers.iter().position(Vec::is_empty) {
        None => Ok(()),
        Some(j) => Err(ExportError::Tensor {
            path: path.to_path_buf(),
            tensor: format!("{prefix}{}.*", blocks[j]),
            reason: format!(
                "the checkpoint has no tensors of block {}, though its configuration says {num_blocks} blocks: the config and the weights disagree",
                blocks[j]
            ),
        }),
    }
}

/// The exported tensors of an HF source, in model order (embeddings, layers, the rest).
pub(crate) fn plan_hf(
    src: &HfSource,
    maps: &[SafeTensors<'_>],
    blocks: &[usize],
    dtype: Option<ExportDtype>,
) -> Result<Vec<OutTensor>, ExportError> {
    let prefix = src.config.family.hf_names().layers;
    let at = positions(blocks, src.config.num_hidden_layers);
    let mut first = Vec::new();
    let mut layers: Vec<Vec<OutTensor>> = (0..blocks.len()).map(|_| Vec::new()).collect();
    let mut last = Vec::new();
    for (fi, st) in maps.iter().enumerate() {
        let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
        names.sort();
        for name in names {
            let view = st.tensor(&name).map_err(|e| ExportError::Tensor {
                path: src.files[fi].clone(),
                tensor: name.clone(),
                reason: e.to_string(),
            })?;
            let float = matches!(view.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16);
            let make = |out_name: String| OutTensor {
                name: out_name,
                dtype: match dtype {
                    Some(d) if float => safetensors_dtype(d),
                    _ => view.dtype(),
                },
                shape: view.shape().to_vec(),
                from: match dtype {
                    Some(d) if float && safetensors_dtype(d) != view.dtype() => {
                        Origin::Convert(name.clone())
                    }
                    _ => Origin::Raw(fi, name.clone()),
                },
            };
            match layer_of(&name, prefix) {
                Some((i, rest)) => {
                    let copies = at.get(i).ok_or_else(|| ExportError::Tensor {
                        path: src.files[fi].clone(),
                        tensor: name.clone(),
                        reason: format!(
                            "belongs to layer {i}, but config.json says {} layers: the config and the weights disagree",
                            src.config.num_hidden_layers
                        ),
                    })?;
                    for &j in copies {
                        layers[j].push(make(format!("{prefix}{j}.{rest}")));
                    }
                }
                None if name.contains("embed") => first.push(make(name.clone())),
                None => last.push(make(name.clone())),
            }
        }
    }
    let path = src
        .files
        .first()
        .map_or(src.dir.as_path(), PathBuf::as_path);
    every_layer_has_tensors(&layers, blocks, path, prefix, src.config.num_hidden_layers)?;
    Ok(first
        .into_iter()
        .chain(layers.into_iter().flatten())
        .chain(last)
        .collect())
}

/// GGUF module names → the family's HF module names, role by role.
pub(crate) fn module_map(
    gguf: &TensorNames,
    hf: &TensorNames,
) -> Result<HashMap<&'static str, &'static str>, String> {
    let mut m = HashMap::from([
        (gguf.attn_norm, hf.attn_norm),
        (gguf.o, hf.o),
        (gguf.q_norm, hf.q_norm),
        (gguf.k_norm, hf.k_norm),
        (gguf.post_attn_norm, hf.post_attn_norm),
        (gguf.mlp_norm, hf.mlp_norm),
        (gguf.down, hf.down),
        (gguf.post_mlp_norm, hf.post_mlp_norm),
    ]);
    match (gguf.qkv, hf.qkv) {
        (QkvNames::Separate(a, b, c), QkvNames::Separate(x, y, z)) => {
            m.extend([(a, x), (b, y), (c, z)])
        }
        (QkvNames::Fused(a), QkvNames::Fused(x)) => {
            m.insert(a, x);
        }
        (g, h) => {
            return Err(format!(
                "the GGUF stores Q/K/V as {g:?}, the HF family as {h:?}"
            ));
        }
    }
    match (gguf.mlp, hf.mlp) {
        (MlpNames::Gated(a, b), MlpNames::Gated(x, y)) => m.extend([(a, x), (b, y)]),
        (MlpNames::GatedFused(a), MlpNames::GatedFused(x))
        | (MlpNames::Plain(a), MlpNames::Plain(x)) => {
            m.insert(a, x);
        }
        (g, h) => {
            return Err(format!(
                "the GGUF stores the MLP as {g:?}, the HF family as {h:?}"
            ));
        }
    }
    Ok(m)
}

/// The exported tensors of a GGUF source, with HF names.
pub(crate) fn plan_gguf(
    src: &GgufSource,
    config: &DecoderConfig,
    blocks: &[usize],
    dtype: Dtype,
) -> Result<Vec<OutTensor>, ExportError> {
    let gguf = src.names();
    let hf = config.family.hf_names();
    let path = src.file().path().to_path_buf();
    let bad = |tensor: &str, reason: String| ExportError::Tensor {
        path: path.clone(),
        tensor: tensor.to_string(),
        reason,
    };
    let modules = module_map(gguf, hf).map_err(|r| bad("blk.0", r))?;
    let norms: Vec<&str> = [
        gguf.attn_norm,
        gguf.q_norm,
        gguf.k_norm,
        gguf.post_attn_norm,
        gguf.mlp_norm,
        gguf.post_mlp_norm,
    ]
    .into();
    let offset = src.norms_hold_offset() && config.arch.norm == NormKind::RmsUnitOffset;
    let at = positions(blocks, config.num_hidden_layers);
    let mut first = Vec::new();
    let mut layers: Vec<Vec<OutTensor>> = (0..blocks.len()).map(|_| Vec::new()).collect();
    let mut last = Vec::new();
    for name in TensorSource::names(src) {
        let info = src
            .file()
            .tensor_info(&name)
            .ok_or_else(|| bad(&name, "is listed but not described".into()))?;
        if !info.ggml_type.can_dequantize() {
            return Err(bad(
                &name,
                format!(
                    "is stored as {}, which painters cannot dequantise yet; a GGUF export (--format gguf) copies quantised tensors as they are",
                    info.ggml_type.name()
                ),
            ));
        }
        let shape = info.hf_shape();
        let make = |out_name: String, minus_one: bool| OutTensor {
            name: out_name,
            dtype,
            shape: shape.clone(),
            from: Origin::Gguf {
                name: name.clone(),
                minus_one,
            },
        };
        if let Some((i, rest)) = layer_of(&name, gguf.layers) {
            let (module, param) = rest
                .rsplit_once('.')
                .ok_or_else(|| bad(&name, "no parameter suffix".into()))?;
            let hf_module = modules.get(module).ok_or_else(|| {
                bad(
                    &name,
                    format!(
                        "no HF {} module corresponds to the GGUF's `{module}`",
                        config.family
                    ),
                )
            })?;
            let copies = at.get(i).ok_or_else(|| {
                bad(
                    &name,
                    format!(
                        "belongs to block {i}, but the file says {} blocks",
                        config.num_hidden_layers
                    ),
                )
            })?;
            for &j in copies {
                layers[j].push(make(
                    hf.block(j, hf_module, param),
                    offset && norms.contains(&module),
                ));
            }
            continue;
        }
        let target = match name.as_str() {
            "token_embd.weight" => format!("{}.weight", hf.embed),
            "output_norm.weight" => format!("{}.weight", hf.final_norm),
            "output.weight" => format!("{}.weight", hf.head),
            "rope_freqs.weight" => continue, // part of the RoPE configuration, refused there
            other => {
                return Err(bad(
                    other,
                    "painters does not know where it goes in an HF checkpoint".into(),
                ));
            }
        };
        let is_norm = name == "output_norm.weight";
        if name == "token_embd.weight" {
            first.push(make(target, false));
        } else {
            last.push(make(target, offset && is_norm));
        }
    }
    every_layer_has_tensors(
        &layers,
        blocks,
        &path,
        gguf.layers,
        config.num_hidden_layers,
    )?;
    Ok(first
        .into_iter()
        .chain(layers.into_iter().flatten())
        .chain(last)
        .collect())
}

/// The shards: consecutive runs of tensors of at most `max` bytes (a larger tensor alone).
pub(crate) fn shard(tensors: Vec<OutTensor>, max: u64) -> Vec<Vec<OutTensor>> {
    let mut out: Vec<Vec<OutTensor>> = Vec::new();
    let mut size = 0;
    for t in tensors {
        let b = t.bytes();
        match out.last_mut() {
            Some(s) if size + b <= max => {
                size += b;
                s.push(t);
            }
            _ => {
                size = b;
                out.push(vec![t]);
            }
        }
    }
    out
}

/// Data a shard's views borrow: slices of a mapped source, or converted bytes.
enum Payload<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

/// Readers of the source's tensors.
pub(crate) enum Reader<'a> {
    Hf {
        src: &'a HfSource,
        maps: &'a [SafeTensors<'a>],
        /// Reads f32 for tensors converted to another dtype.
        converted: Option<SafetensorsCheckpoint>,
    },
    Gguf(&'a GgufSource),
}

impl<'a> Reader<'a> {
    fn payload(&self, t: &OutTensor) -> Result<Payload<'a>, ExportError> {
        match (&t.from, self) {
            (Origin::Raw(fi, name), Reader::Hf { src, maps, .. }) => {
                let view = maps[*fi].tensor(name).map_err(|e| ExportError::Tensor {
                    path: src.files[*fi].clone(),
                    tensor: name.clone(),
                    reason: e.to_string(),
                })?;
                Ok(Payload::Borrowed(view.data()))
            }
            (
                Origin::Convert(name),
                Reader::Hf {
                    converted: Some(ck),
                    ..
                },
            ) => Ok(Payload::Owned(encode(&ck.read(name)?.data, t.dtype))),
            (Origin::Gguf { name, minus_one }, Reader::Gguf(g)) => {
                let mut v = g.read(name)?.data;
                if *minus_one {
                    v.iter_mut().for_each(|x| *x -= 1.0);
                }
                Ok(Payload::Owned(encode(&v, t.dtype)))
            }
            _ => Err(ExportError::Options(format!(
                "tensor `{}`: no reader for its source",
                t.name
            ))),
        }
    }
}

/// Writes the shards into `dir`; returns (tensors, bytes).
pub(crate) fn write_shards(
    dir: &Path,
    shards: Vec<Vec<OutTensor>>,
    reader: &Reader<'_>,
) -> Result<(usize, u64), ExportError> {
    let n = shards.len();
    let mut weight_map = BTreeMap::new();
    let (mut count, mut total) = (0, 0);
    for (k, shard) in shards.iter().enumerate() {
        let file = if n == 1 {
            "model.safetensors".to_string()
        } else {
            format!("model-{:05}-of-{n:05}.safetensors", k + 1)
        };
        let path = dir.join(&file);
        let payloads = shard
            .iter()
            .map(|t| reader.payload(t))
            .collect::<Result<Vec<_>, _>>()?;
        let views = shard
            .iter()
            .zip(&payloads)
            .map(|(t, p)| {
                let data = match p {
                    Payload::Borrowed(b) => b,
                    Payload::Owned(v) => v.as_slice(),
                };
                TensorView::new(t.dtype, t.shape.clone(), data)
                    .map(|v| (t.name.clone(), v))
                    .map_err(|e| ExportError::Safetensors {
                        path: path.clone(),
                        message: format!("tensor `{}`: {e}", t.name),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::serialize_to_file(views, Some(meta), &path).map_err(|e| {
            ExportError::Safetensors {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        // The safetensors crate writes through a private (0600) temporary file; give the shard
        // the permissions of the config.json written beside it (the user's umask).
        let config = dir.join("config.json");
        let perms = std::fs::metadata(&config)
            .map_err(ExportError::io(&config))?
            .permissions();
        std::fs::set_permissions(&path, perms).map_err(ExportError::io(&path))?;
        for t in shard {
            weight_map.insert(t.name.clone(), file.clone());
            count += 1;
            total += t.bytes();
        }
    }
    if n > 1 {
        let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        write_text(&dir.join("model.safetensors.index.json"), &pretty(&index))?;
    }
    Ok((count, total))
}
