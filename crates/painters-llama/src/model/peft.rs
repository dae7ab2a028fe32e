//! Adapters on disk in PEFT's layout, so that `peft.PeftModel.from_pretrained(base, dir)` reads
//! what painters trained, and painters reads what PEFT trained:
//!
//! * `adapter_model.safetensors`: `base_model.model.{module}.lora_A.weight` (`[r, in]`) and
//!   `….lora_B.weight` (`[out, r]`), f32, where `{module}` is the HF module path
//!   (`model.layers.3.self_attn.q_proj`);
//! * `adapter_config.json`: `peft_type: LORA`, `r`, `lora_alpha`, `use_rslora`, `target_modules`,
//!   `layers_to_transform`, `bias: none`, `fan_in_fan_out: false`.
//!
//! Full-rank deltas (blocks fine-tuned in full) have no PEFT form; they go to
//! `full_deltas.safetensors` under the HF weight names (`model.layers.3.mlp.up_proj.weight`,
//! `[out, in]`), each to be *added* to the base weight. Adapters of an untied list (see
//! [`AdaptedModel::untied`](super::AdaptedModel::untied)) are numbered by their position in that
//! list; the file's metadata records which base block each position copies.
//!
//! Only families whose checkpoints keep q/k/v and gate/up as separate modules (Llama, Mistral,
//! Qwen, Gemma) have PEFT names for every target; fused modules are refused by name.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use painters::weights::{SafetensorsFile, TensorSource};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::{Value, json};

use super::lora::{AdapterLayout, Adapters, LoraError, LoraTarget, Site};
use crate::config::DecoderConfig;
use crate::family::names::{MlpNames, QkvNames, TensorNames};

/// The LoRA weights file of a PEFT adapter folder.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The config file of a PEFT adapter folder.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// Full-rank deltas (not a PEFT file).
pub const FULL_DELTAS: &str = "full_deltas.safetensors";

const PREFIX: &str = "base_model.model.";
const UNTIED_KEY: &str = "painters_untied_from";

/// The HF module path of `target` in block `block` (`model.layers.3.self_attn.q_proj`).
fn module_path(names: &TensorNames, block: usize, target: LoraTarget) -> Result<String, LoraError> {
    let fused = |what: &str| {
        LoraError::Unsupported(format!(
            "this family's checkpoints fuse {what} into one module; PEFT adapters on `{}` have no name there",
            target.name()
        ))
    };
    let module = match (target, names.qkv, names.mlp) {
        (LoraTarget::Q, QkvNames::Separate(q, _, _), _) => q,
        (LoraTarget::K, QkvNames::Separate(_, k, _), _) => k,
        (LoraTarget::V, QkvNames::Separate(_, _, v), _) => v,
        (LoraTarget::Q | LoraTarget::K | LoraTarget::V, _, _) => return Err(fused("q/k/v")),
        (LoraTarget::O, _, _) => names.o,
        (LoraTarget::Gate, _, MlpNames::Gated(g, _)) => g,
        (LoraTarget::Up, _, MlpNames::Gated(_, u) | MlpNames::Plain(u)) => u,
        (LoraTarget::Gate | LoraTarget::Up, _, _) => return Err(fused("gate/up")),
        (LoraTarget::Down, _, _) => names.down,
    };
    Ok(format!("{}{block}.{module}", names.layers))
}

/// `[r, c]` f32 host data of a 2-D tensor transposed to `[c, r]`, as little-endian bytes.
fn transposed_bytes(t: Tensor<2>) -> (Vec<usize>, Vec<u8>) {
    let [r, c] = t.dims();
    let data = t.transpose().into_data();
    let bytes = match data.try_to_vec::<f32>() {
        Ok(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        // The adapters are f32 tensors; anything else is written as its raw bytes.
        Err(_) => data.as_bytes().to_vec(),
    };
    (vec![c, r], bytes)
}

fn write_safetensors(
    path: &Path,
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
) -> Result<(), LoraError> {
    let err = |message: String| LoraError::File {
        path: path.to_path_buf(),
        message,
    };
    let mut views = Vec::with_capacity(tensors.len());
    for (name, shape, bytes) in &tensors {
        let v = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| err(format!("{name}: {e}")))?;
        views.push((name.clone(), v));
    }
    let bytes =
        safetensors::tensor::serialize(views, Some(meta)).map_err(|e| err(e.to_string()))?;
    write_file(path, &bytes)
}

/// Write whole or not at all: a temporary file renamed into place.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LoraError> {
    let err = |e: std::io::Error| LoraError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

impl Adapters {
    /// Write the adapters into `dir` (created if missing) in PEFT's layout for a model of
    /// `config`; `base` names the base model in the config (`base_model_name_or_path`). With
    /// `untied_from` (base block of each untied position), the positions are recorded. Returns
    /// the files written.
    pub fn save_peft(
        &self,
        dir: &Path,
        config: &DecoderConfig,
        base: Option<&str>,
        untied_from: Option<&[usize]>,
    ) -> Result<Vec<PathBuf>, LoraError> {
        std::fs::create_dir_all(dir).map_err(|e| LoraError::File {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let names = config.family.hf_names();
        let adapters = self.valid();
        let mut meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        if let Some(order) = untied_from {
            meta.insert(UNTIED_KEY.into(), json!(order).to_string());
        }
        let mut written = Vec::new();
        let mut tensors = Vec::new();
        for (s, p) in adapters.layout.lora.iter().zip(&adapters.lora) {
            let module = module_path(names, s.block, s.target)?;
            let (shape, bytes) = transposed_bytes(p.a.val());
            tensors.push((format!("{PREFIX}{module}.lora_A.weight"), shape, bytes));
            let (shape, bytes) = transposed_bytes(p.b.val());
            tensors.push((format!("{PREFIX}{module}.lora_B.weight"), shape, bytes));
        }
        if !tensors.is_empty() {
            let path = dir.join(ADAPTER_WEIGHTS);
            write_safetensors(&path, tensors, meta.clone())?;
            written.push(path);
            let mut targets: Vec<&str> = adapters
                .layout
                .lora
                .iter()
                .map(|s| s.target.name())
                .collect();
            targets.sort_unstable();
            targets.dedup();
            let mut layers: Vec<usize> = adapters.layout.lora.iter().map(|s| s.block).collect();
            layers.dedup();
            let cfg = json!({
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "base_model_name_or_path": base,
                "r": adapters.layout.rank,
                "lora_alpha": adapters.layout.alpha,
                "use_rslora": adapters.layout.rslora,
                "lora_dropout": 0.0,
                "target_modules": targets,
                "layers_to_transform": layers,
                "bias": "none",
                "fan_in_fan_out": false,
                "use_dora": false,
                "inference_mode": true,
                "init_lora_weights": true,
                "modules_to_save": null,
                "rank_pattern": {},
                "alpha_pattern": {},
            });
            let path = dir.join(ADAPTER_CONFIG);
            let text = serde_json::to_string_pretty(&cfg).map_err(|e| LoraError::File {
                path: path.clone(),
                message: e.to_string(),
            })?;
            write_file(&path, text.as_bytes())?;
            written.push(path);
        }
        if !adapters.full.is_empty() {
            let mut tensors = Vec::new();
            for (s, d) in adapters.layout.full.iter().zip(&adapters.full) {
                let module = module_path(names, s.block, s.target)?;
                let (shape, bytes) = transposed_bytes(d.val());
                tensors.push((format!("{module}.weight"), shape, bytes));
            }
            let path = dir.join(FULL_DELTAS);
            write_safetensors(&path, tensors, meta)?;
            written.push(path);
        }
        Ok(written)
    }

    /// Read adapters written by [`Adapters::save_peft`] or by PEFT (LoRA without DoRA, biases or
    /// per-module ranks) from `dir` for a model of `config`, onto `device`. Every tensor in the
    /// files must be an adapter of a known module, with its pair. Returns the adapters and, for
    /// adapters of an untied block list, the base block of each position (the adapters then cover
    /// that list; otherwise the model's blocks).
    pub fn load_peft(
        dir: &Path,
        config: &DecoderConfig,
        device: &Device,
    ) -> Result<(Adapters, Option<Vec<usize>>), LoraError> {
        let names = config.family.hf_names();
        let untied = untied_order(dir)?;
        let blocks = untied.as_ref().map_or(config.num_hidden_layers, Vec::len);
        if let Some(b) = untied
            .iter()
            .flatten()
            .find(|&&b| b >= config.num_hidden_layers)
        {
            return Err(LoraError::BadBlock {
                block: *b,
                blocks: config.num_hidden_layers,
            });
        }
        // Module path → site, for every site a list of `blocks` blocks can have.
        let mut sites: HashMap<String, Site> = HashMap::new();
        for block in 0..blocks {
            for target in LoraTarget::ALL {
                if target.dims(config).is_none() {
                    continue;
                }
                if let Ok(m) = module_path(names, block, target) {
                    sites.insert(m, Site { block, target });
                }
            }
        }
        let cfg_path = dir.join(ADAPTER_CONFIG);
        let weights_path = dir.join(ADAPTER_WEIGHTS);
        let full_path = dir.join(FULL_DELTAS);
        let has_lora = cfg_path.is_file() || weights_path.is_file();
        if !has_lora && !full_path.is_file() {
            return Err(LoraError::File {
                path: dir.to_path_buf(),
                message: format!("no {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS}, nor {FULL_DELTAS}"),
            });
        }
        let (rank, alpha, rslora) = if has_lora {
            read_config(&cfg_path)?
        } else {
            (1, 1.0, false)
        };
        let mut lora: BTreeMap<Site, (Option<Tensor<2>>, Option<Tensor<2>>)> = BTreeMap::new();
        if has_lora {
            let file = SafetensorsFile::open(&weights_path)?;
            for name in file.names() {
                let bad = |message: String| LoraError::File {
                    path: weights_path.clone(),
                    message: format!("tensor `{name}`: {message}"),
                };
                let (module, part) = name
                    .strip_prefix(PREFIX)
                    .and_then(|m| {
                        m.strip_suffix(".lora_A.weight")
                            .map(|m| (m, 0))
                            .or_else(|| m.strip_suffix(".lora_B.weight").map(|m| (m, 1)))
                    })
                    .ok_or_else(|| {
                        bad(format!(
                            "not a LoRA matrix (`{PREFIX}MODULE.lora_A.weight` / `.lora_B.weight`)"
                        ))
                    })?;
                let site = *sites.get(module).ok_or_else(|| {
                    bad(format!(
                        "`{module}` is no adaptable module of a {blocks}-block {} model",
                        config.family.model_type()
                    ))
                })?;
                let (i, o) = site.target.dims(config).unwrap_or((0, 0));
                let expected = if part == 0 { [rank, i] } else { [o, rank] };
                let t: Tensor<2> = file
                    .read_shaped(&name, &expected)?
                    .transposed()
                    .to_device(device);
                let entry = lora.entry(site).or_default();
                if part == 0 {
                    entry.0 = Some(t);
                } else {
                    entry.1 = Some(t);
                }
            }
        }
        let mut pairs = Vec::with_capacity(lora.len());
        let mut lora_sites = Vec::with_capacity(lora.len());
        for (site, (a, b)) in lora {
            let (Some(a), Some(b)) = (a, b) else {
                return Err(LoraError::File {
                    path: weights_path.clone(),
                    message: format!(
                        "block {} {}: lora_A and lora_B must both be present",
                        site.block,
                        site.target.name()
                    ),
                });
            };
            lora_sites.push(site);
            pairs.push((a, b));
        }
        let mut full = Vec::new();
        let mut full_sites = Vec::new();
        if full_path.is_file() {
            let file = SafetensorsFile::open(&full_path)?;
            let mut found: BTreeMap<Site, Tensor<2>> = BTreeMap::new();
            for name in file.names() {
                let site = name
                    .strip_suffix(".weight")
                    .and_then(|m| sites.get(m))
                    .copied()
                    .ok_or_else(|| LoraError::File {
                        path: full_path.clone(),
                        message: format!("tensor `{name}` is no projection weight of this model"),
                    })?;
                let (i, o) = site.target.dims(config).unwrap_or((0, 0));
                let t = file
                    .read_shaped(&name, &[o, i])?
                    .transposed()
                    .to_device(device);
                found.insert(site, t);
            }
            for (s, t) in found {
                full_sites.push(s);
                full.push(t);
            }
        }
        let layout = AdapterLayout {
            rank,
            alpha,
            rslora,
            blocks,
            lora: lora_sites,
            full: full_sites,
        };
        Ok((Adapters::from_tensors(config, layout, pairs, full)?, untied))
    }
}

/// The untied block order recorded in the metadata of `dir`'s adapter files, if any (the files
/// of one folder must agree).
fn untied_order(dir: &Path) -> Result<Option<Vec<usize>>, LoraError> {
    let mut found: Option<Vec<usize>> = None;
    for file in [ADAPTER_WEIGHTS, FULL_DELTAS] {
        let path = dir.join(file);
        if !path.is_file() {
            continue;
        }
        let bad = |message: String| LoraError::File {
            path: path.clone(),
            message,
        };
        let bytes = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let Some(text) = meta.metadata().as_ref().and_then(|m| m.get(UNTIED_KEY)) else {
            continue;
        };
        let order: Vec<usize> =
            serde_json::from_str(text).map_err(|e| bad(format!("metadata `{UNTIED_KEY}`: {e}")))?;
        if found.as_ref().is_some_and(|f| *f != order) {
            return Err(bad(format!(
                "metadata `{UNTIED_KEY}` disagrees with the folder's other adapter file"
            )));
        }
        found = Some(order);
    }
    Ok(found)
}

/// `(r, lora_alpha, use_rslora)` from a PEFT `adapter_config.json`, refusing what painters does
/// not compute (DoRA, trained biases, per-module ranks or alphas, `fan_in_fan_out`).
fn read_config(path: &Path) -> Result<(usize, f64, bool), LoraError> {
    let bad = |message: String| LoraError::File {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let key = |k: &str| v.get(k).filter(|x| !x.is_null());
    if let Some(t) = key("peft_type").and_then(Value::as_str)
        && t != "LORA"
    {
        return Err(bad(format!(
            "peft_type is `{t}`; only LORA adapters are read"
        )));
    }
    let rank = key("r")
        .and_then(Value::as_u64)
        .filter(|&r| r > 0)
        .ok_or_else(|| bad("key `r`: expected a positive integer".into()))? as usize;
    let alpha = match key("lora_alpha") {
        None => 8.0,
        Some(a) => a
            .as_f64()
            .filter(|a| a.is_finite() && *a > 0.0)
            .ok_or_else(|| bad(format!("key `lora_alpha`: `{a}` is not a positive number")))?,
    };
    let flag = |k: &str| key(k).and_then(Value::as_bool).unwrap_or(false);
    for k in ["use_dora", "fan_in_fan_out"] {
        if flag(k) {
            return Err(bad(format!(
                "key `{k}` is true; painters computes plain LoRA"
            )));
        }
    }
    if let Some(b) = key("bias").and_then(Value::as_str)
        && b != "none"
    {
        return Err(bad(format!(
            "key `bias` is `{b}`; adapters with trained biases are not read"
        )));
    }
    for k in ["rank_pattern", "alpha_pattern"] {
        if key(k)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            return Err(bad(format!(
                "key `{k}` sets per-module values; one rank and alpha for all are read"
            )));
        }
    }
    if key("modules_to_save").is_some_and(|m| m.as_array().is_none_or(|a| !a.is_empty())) {
        return Err(bad(
            "key `modules_to_save`: whole trained modules are not read".into(),
        ));
    }
    Ok((rank, alpha, flag("use_rslora")))
}
