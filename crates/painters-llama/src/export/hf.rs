//! Writing an HF folder: `config.json` (checked by reading it back), the safetensors shards
//! ([`super::weights`]), tokenizer files, `generation_config.json` and a README.

use std::path::Path;

use painters::weights::{FileBytes, SafetensorsCheckpoint};
use safetensors::tensor::SafeTensors;
use serde_json::{Map, Value, json};

use super::check::check_config;
use super::error::ExportError;
use super::hf_config;
use super::options::{ExportDtype, ExportFormat, ExportOptions, ExportReport, PAINTERS_VERSION};
use super::output::{Staging, pretty, write_text};
use super::provenance::Provenance;
use super::source::Source;
use super::weights::{Reader, plan_gguf, plan_hf, safetensors_dtype, shard, write_shards};
use crate::config::DecoderConfig;

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

/// The tokenizer files an HF export writes, alone, into the existing folder `dir`: an HF source
/// folder's tokenizer files, or `tokenizer.json` and `tokenizer_config.json` built from a GGUF's
/// vocabulary (with its chat template). What a tool that loads tokenizers with transformers (e.g.
/// lm-eval's `tokenizer=DIR` against `painters serve`) reads for a GGUF model.
pub fn write_tokenizer_files(model: &Path, dir: &Path) -> Result<(), ExportError> {
    let source = Source::open(model)?;
    let config = match &source {
        Source::Hf(h) => h.config.clone(),
        Source::Gguf(g) => g.config()?,
    };
    tokenizer(&source, &config, dir)
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
    hf_config::special_token_ids(config, &mut g);
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
        source = prov
            .source
            .canonicalize()
            .unwrap_or_else(|_| prov.source.clone())
            .display(),
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
        Source::Gguf(g) => (
            hf_config::synthesized(
                config,
                blocks,
                options.dtype.unwrap_or(ExportDtype::F32),
                g.file().get_u32("tokenizer.ggml.padding_token_id").ok(),
            )?,
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
