//! Writing an HF folder: safetensors shards (layers renumbered, repeated blocks as real copies),
//! `config.json`, tokenizer files, `generation_config.json` and a README.
//!
//! Tensors an HF source stores are copied byte for byte unless a dtype is asked for; a GGUF
//! source's are dequantised (with llama.cpp's Q/K row permutation undone by [`GgufSource`]) and, for
//! Gemma, its stored `1 + w` norm weights turned back into `w`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use painters::weights::{FileBytes, SafetensorsCheckpoint, TensorSource};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::{Map, Value, json};

use super::output::{Staging, write_text};
use super::{
    ExportDtype, ExportError, ExportFormat, ExportOptions, ExportReport, PAINTERS_VERSION,
    Provenance, Source, check_config, hf_config, reordered,
};
use crate::config::{DecoderConfig, NormKind};
use crate::family::names::{MlpNames, QkvNames, TensorNames};
use crate::load::GgufSource;

/// Files of an HF folder that describe the tokenizer; copied when present.
const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
];

/// An HF checkpoint folder, its `config.json` as JSON and as a configuration, and its weight files.
pub(crate) struct HfSource {
    pub dir: PathBuf,
    pub json: Map<String, Value>,
    pub config: DecoderConfig,
    files: Vec<PathBuf>,
    index_file: Option<PathBuf>,
}

impl HfSource {
    pub(crate) fn open(dir: &Path) -> Result<Self, ExportError> {
        if !dir.is_dir() {
            return Err(ExportError::Options(format!(
                "{}: not a folder with config.json and safetensors, nor a .gguf file",
                dir.display()
            )));
        }
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(ExportError::io(&config_path))?;
        let config =
            DecoderConfig::from_hf_json(&text, &config_path).map_err(crate::DecoderError::from)?;
        let json = match serde_json::from_str(&text) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(ExportError::Options(format!(
                    "{}: the top level is not a JSON object",
                    config_path.display()
                )));
            }
        };
        let index = dir.join("model.safetensors.index.json");
        let (files, index_file) = if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(ExportError::io(&index))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| ExportError::Tensor {
                path: index.clone(),
                tensor: "weight_map".into(),
                reason: e.to_string(),
            })?;
            let mut shards: Vec<String> = v
                .get("weight_map")
                .and_then(Value::as_object)
                .map(|m| {
                    m.values()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            if shards
                .iter()
                .any(|s| s.contains('/') || s.contains('\\') || s.contains(".."))
            {
                return Err(ExportError::Tensor {
                    path: index.clone(),
                    tensor: "weight_map".into(),
                    reason: "a shard name is not a file name in this folder".into(),
                });
            }
            (shards.iter().map(|s| dir.join(s)).collect(), Some(index))
        } else {
            (vec![dir.join("model.safetensors")], None)
        };
        Ok(HfSource {
            dir: dir.to_path_buf(),
            json,
            config,
            files,
            index_file,
        })
    }

    /// The files whose sha256 the export records: config and weights.
    pub(crate) fn provenance_files(&self) -> Vec<PathBuf> {
        let mut v = vec![self.dir.join("config.json")];
        v.extend(self.index_file.iter().cloned());
        v.extend(self.files.iter().cloned());
        v
    }
}

/// Where an exported tensor's data comes from.
enum Origin {
    /// Stored bytes of an HF source: (file index, name).
    Raw(usize, String),
    /// An HF source's tensor converted to another dtype.
    Convert(String),
    /// A GGUF tensor, dequantised; `minus_one` for Gemma norms stored as `1 + w`.
    Gguf { name: String, minus_one: bool },
}

struct OutTensor {
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

fn safetensors_dtype(d: ExportDtype) -> Dtype {
    match d {
        ExportDtype::F32 => Dtype::F32,
        ExportDtype::Bf16 => Dtype::BF16,
        ExportDtype::F16 => Dtype::F16,
    }
}

fn encode(values: &[f32], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::BF16 => values
            .iter()
            .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
            .collect(),
        Dtype::F16 => values
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect(),
        _ => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
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

/// The exported tensors of an HF source, in model order (embeddings, layers, the rest).
fn plan_hf(
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
    Ok(first
        .into_iter()
        .chain(layers.into_iter().flatten())
        .chain(last)
        .collect())
}

/// GGUF module names → the family's HF module names, role by role.
fn module_map(
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
fn plan_gguf(
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
        let shape = src
            .shape(&name)
            .ok_or_else(|| bad(&name, "has no shape".into()))?;
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
    Ok(first
        .into_iter()
        .chain(layers.into_iter().flatten())
        .chain(last)
        .collect())
}

/// The shards: consecutive runs of tensors of at most `max` bytes (a larger tensor alone).
fn shard(tensors: Vec<OutTensor>, max: u64) -> Vec<Vec<OutTensor>> {
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
enum Reader<'a> {
    Hf {
        src: &'a HfSource,
        maps: &'a [SafeTensors<'a>],
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
fn write_shards(
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

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Tokenizer files: copied from an HF source; written from a GGUF's vocabulary.
fn tokenizer(source: &Source, config: &DecoderConfig, dir: &Path) -> Result<(), ExportError> {
    match source {
        Source::Hf(h) => {
            for f in TOKENIZER_FILES {
                let from = h.dir.join(f);
                if from.is_file() {
                    std::fs::copy(&from, dir.join(f)).map_err(ExportError::io(&from))?;
                }
            }
            Ok(())
        }
        Source::Gguf(g) => {
            let path = g.file().path();
            let tok = crate::load_tokenizer(path).map_err(|e| ExportError::Tokenizer {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            let out = dir.join("tokenizer.json");
            tok.hf()
                .save(&out, false)
                .map_err(|e| ExportError::Tokenizer {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            let special = tok.special_tokens();
            let name = |id: Option<u32>| {
                id.and_then(|i| tok.hf().id_to_token(i))
                    .map_or(Value::Null, Value::from)
            };
            let mut cfg = json!({
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": name(special.bos),
                "eos_token": name(special.eos),
                "unk_token": name(special.unk),
                "pad_token": name(special.pad),
                "add_bos_token": tok.adds_bos(),
                "add_eos_token": tok.adds_eos(),
                "model_max_length": config.max_position_embeddings,
                "clean_up_tokenization_spaces": false,
            });
            if let Ok(t) = g.file().get_str("tokenizer.chat_template") {
                cfg["chat_template"] = t.into();
            }
            write_text(&dir.join("tokenizer_config.json"), &pretty(&cfg))
        }
    }
}

fn generation_config(
    source: &Source,
    config: &DecoderConfig,
    dir: &Path,
) -> Result<(), ExportError> {
    if let Source::Hf(h) = source {
        let from = h.dir.join("generation_config.json");
        if from.is_file() {
            std::fs::copy(&from, dir.join("generation_config.json"))
                .map_err(ExportError::io(&from))?;
            return Ok(());
        }
    }
    let mut g = Map::new();
    if let Some(b) = config.bos_token_id {
        g.insert("bos_token_id".into(), b.into());
    }
    match config.eos_token_ids.as_slice() {
        [] => {}
        [e] => {
            g.insert("eos_token_id".into(), (*e).into());
        }
        many => {
            g.insert("eos_token_id".into(), json!(many));
        }
    }
    write_text(
        &dir.join("generation_config.json"),
        &pretty(&Value::Object(g)),
    )
}

fn readme(prov: &Provenance, config: &DecoderConfig, dtype: &str, tokenizer: bool) -> String {
    let name = prov.source.file_name().map_or_else(
        || prov.source.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let files: String = prov
        .files
        .iter()
        .map(|(f, h)| format!("| `{f}` | `{h}` |\n"))
        .collect();
    let layers: Vec<String> = prov
        .blocks
        .iter()
        .enumerate()
        .map(|(j, b)| format!("{j}←{b}"))
        .collect();
    let recipe = painters::mergekit::to_yaml(
        &painters::LayerSchedule::seq(
            prov.blocks
                .iter()
                .map(|&b| painters::LayerSchedule::block(b)),
        ),
        &name,
        Some(config.num_hidden_layers),
        None,
    )
    .unwrap_or_default();
    format!(
        "---\nlibrary_name: transformers\ntags:\n- painters\n- layer-schedule\n---\n\n\
# {name}, painted\n\n\
This checkpoint was exported by painters {PAINTERS_VERSION} from `{source}` ({family}, {n} layers) \
under a layer schedule. Its plain forward computes what painters computes for the source model \
under that schedule: layer `j` here is a copy of source block `blocks[j]`.\n\n\
- Schedule (painters text notation): `{schedule}`\n\
- Layers: {count} (`new←source`: {layers})\n\
- Weights: safetensors, {dtype}\n\
- Tokenizer: {tok}\n\n\
## Source files\n\n| file | sha256 |\n|---|---|\n{files}\n\
## The same layers as a mergekit recipe\n\n```yaml\n{recipe}```\n",
        source = prov.source.display(),
        family = config.family,
        n = config.num_hidden_layers,
        schedule = prov.schedule,
        count = prov.blocks.len(),
        layers = layers.join(", "),
        tok = if tokenizer {
            "included"
        } else {
            "not included (exported without it)"
        },
    )
}

/// Writes the HF folder `out` for `source` stacking `prov.blocks`.
pub(crate) fn export(
    source: &Source,
    config: &DecoderConfig,
    prov: &Provenance,
    out: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let blocks = &prov.blocks;
    let expected = reordered(config, blocks);
    let (json, format) = match source {
        Source::Hf(h) => (
            hf_config::edited(
                &h.json,
                config,
                blocks,
                options.dtype,
                &h.dir.join("config.json"),
            )?,
            format!("the {} config.json of the export", config.family),
        ),
        Source::Gguf(_) => (
            hf_config::synthesized(config, blocks, options.dtype.unwrap_or(ExportDtype::F32))?,
            format!("an HF {} config.json", config.family),
        ),
    };
    let text = pretty(&Value::Object(json));
    let staging = Staging::new(out, &prov.source, true, options.overwrite)?;
    let dir = staging.path().to_path_buf();
    let config_path = dir.join("config.json");
    write_text(&config_path, &text)?;
    let got =
        DecoderConfig::from_hf_json(&text, &config_path).map_err(crate::DecoderError::from)?;
    check_config(config, blocks, &got, &format)?;
    debug_assert_eq!(expected.layers.len(), got.layers.len());

    let (tensors, bytes, dtype_text) = match source {
        Source::Hf(h) => {
            let bytes: Vec<FileBytes> = h
                .files
                .iter()
                .map(|f| {
                    let file = std::fs::File::open(f).map_err(ExportError::io(f))?;
                    FileBytes::map(&file).map_err(ExportError::io(f))
                })
                .collect::<Result<_, _>>()?;
            let maps = bytes
                .iter()
                .zip(&h.files)
                .map(|(b, f)| {
                    SafeTensors::deserialize(b).map_err(|e| ExportError::Tensor {
                        path: f.clone(),
                        tensor: String::new(),
                        reason: format!("not a valid safetensors file: {e}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let plan = plan_hf(h, &maps, blocks, options.dtype)?;
            let converted = match options.dtype {
                Some(_) => Some(SafetensorsCheckpoint::open(&h.dir)?),
                None => None,
            };
            let reader = Reader::Hf {
                src: h,
                maps: &maps,
                converted,
            };
            let (t, b) = write_shards(&dir, shard(plan, options.max_shard_bytes), &reader)?;
            let d = options
                .dtype
                .map_or("as stored in the source", ExportDtype::torch_name);
            (t, b, d.to_string())
        }
        Source::Gguf(g) => {
            let d = options.dtype.unwrap_or(ExportDtype::F32);
            let plan = plan_gguf(g, config, blocks, safetensors_dtype(d))?;
            let (t, b) =
                write_shards(&dir, shard(plan, options.max_shard_bytes), &Reader::Gguf(g))?;
            (
                t,
                b,
                format!("{} (dequantised from the GGUF)", d.torch_name()),
            )
        }
    };
    if !options.skip_tokenizer {
        tokenizer(source, config, &dir)?;
    }
    generation_config(source, config, &dir)?;
    write_text(
        &dir.join("README.md"),
        &readme(prov, config, &dtype_text, !options.skip_tokenizer),
    )?;
    let out = staging.commit()?;
    Ok(ExportReport {
        out,
        format: ExportFormat::Hf,
        blocks: blocks.clone(),
        tensors,
        tensor_bytes: bytes,
        source_sha256: prov.files.clone(),
    })
}
