//! The conformance runner: executes every case of a golden-fixture manifest and compares each output
//! tensor with the PyTorch/HF reference under the case's tolerance.
//!
//! The manifest format is the one of `tests/fixtures/manifest.json` (documented in that folder's
//! README): kinds `forward`, `generate_greedy` and `cosine_matrix`; models given by `dir` (relative to
//! the manifest) or, for packaged real models, by `package`, found under a models folder laid out as
//! `scripts/fetch-models.sh` makes it. The same runner serves users (`painters conformance`), the test
//! suite and CI.
//!
//! With a weight mode other than f32 ([`Runner::with_weights`]), the goldens do not apply: each
//! decoder `forward` case instead runs twice on the same device — in that mode and on the exact f32
//! path (which the goldens hold) — and its logits must agree within the mode's stated
//! [`WeightMode::logit_tolerance`], relative to the largest |f32 logit|. Other cases are not run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::tensor::{Device, Tensor};
use painters::exec::{HiddenStates, ObservePoint, Transformer};
use painters::weights::{SafetensorsFile, TensorSource};
use painters::{KvMode, LayerSchedule, Plan};
use painters_bert::{BertInput, BertModel, sentence};
use painters_llama::generate::{GenerateOptions, Sampling, generate};
use painters_llama::{ExecSettings, LlamaInput, LlamaModel, LoadOptions, WeightMode};
use serde_json::Value;

use crate::{analysis, models};

/// Why the runner could not start (a case that fails or cannot run is a failed [`CaseResult`]).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a fixture manifest: {message}")]
    Manifest { path: PathBuf, message: String },
    /// The weight mode cannot run on the device.
    #[error(transparent)]
    Weights(#[from] painters_llama::LlamaError),
}

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub id: String,
    pub passed: bool,
    /// The tensor with the largest error relative to its tolerance, and its max absolute error.
    pub worst: Option<(String, f64)>,
    /// Why the case failed, when it did.
    pub message: Option<String>,
}

impl CaseResult {
    /// One line: `PASS id  worst=tensor max_err=…` or `FAIL id  reason`.
    pub fn line(&self) -> String {
        let worst = match &self.worst {
            Some((t, e)) => format!("  worst={t} max_err={e:.3e}"),
            None => String::new(),
        };
        match (&self.passed, &self.message) {
            (true, _) => format!("PASS {}{worst}", self.id),
            (false, Some(m)) => format!("FAIL {}{worst}  {m}", self.id),
            (false, None) => format!("FAIL {}{worst}", self.id),
        }
    }
}

/// Input tensors of one case, by role (`input_ids`, `attention_mask`, …): shape and i64 values.
type Inputs = HashMap<String, (Vec<usize>, Vec<i64>)>;

/// Output tensors of one case, by golden name: f32 values with their shape.
type Outputs = HashMap<String, (Vec<usize>, Vec<f64>)>;

/// Runs cases of a manifest; loaded models are kept for the cases that share them.
pub struct Runner {
    root: PathBuf,
    models_dir: PathBuf,
    device: Device,
    llama: HashMap<(PathBuf, WeightMode), Rc<LlamaModel>>,
    bert: HashMap<PathBuf, Rc<BertModel>>,
    query_chunk: Option<Option<usize>>,
    weights: WeightMode,
}

impl Runner {
    pub fn new(manifest: &Path, models_dir: PathBuf, device: Device) -> Self {
        Runner {
            root: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
            models_dir,
            device,
            llama: HashMap::new(),
            bert: HashMap::new(),
            query_chunk: None,
            weights: WeightMode::F32,
        }
    }

    /// Checks decoders with their matrices stored as `mode` against this build's f32 path (see
    /// the module documentation); f32 is the goldens check.
    pub fn with_weights(mut self, mode: WeightMode) -> Self {
        self.weights = mode;
        self
    }

    /// Whether `case` is checked under this runner's weight mode: every case on f32; otherwise the
    /// decoder `forward` cases that produce logits.
    pub fn checks(&self, case: &Value) -> bool {
        if self.weights == WeightMode::F32 {
            return true;
        }
        let decoder = case["model"]["arch"]
            .as_str()
            .is_some_and(|a| painters_llama::Family::from_model_type(a).is_some());
        let logits = case["output"]["tensors"]
            .as_object()
            .is_some_and(|t| t.contains_key("logits") || t.contains_key("last_logits"));
        decoder && case["kind"].as_str() == Some("forward") && logits
    }

    /// Runs Llama cases with this many query positions per attention call (see
    /// [`ExecSettings::query_chunk`]) instead of the model's default.
    pub fn with_query_chunk(mut self, positions: Option<usize>) -> Self {
        self.query_chunk = Some(positions);
        self.llama.clear();
        self
    }

    /// Read a manifest's cases, keeping those whose id contains `filter`.
    pub fn cases(manifest: &Path, filter: Option<&str>) -> Result<Vec<Value>, ConformanceError> {
        let text = std::fs::read_to_string(manifest).map_err(|source| ConformanceError::Io {
            path: manifest.to_path_buf(),
            source,
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| ConformanceError::Manifest {
            path: manifest.to_path_buf(),
            message: e.to_string(),
        })?;
        let cases =
            v.get("cases")
                .and_then(Value::as_array)
                .ok_or_else(|| ConformanceError::Manifest {
                    path: manifest.to_path_buf(),
                    message: "no \"cases\" array".into(),
                })?;
        Ok(cases
            .iter()
            .filter(|c| {
                filter.is_none_or(|f| {
                    c.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| id.contains(f))
                })
            })
            .cloned()
            .collect())
    }

    /// Run one case and compare its outputs.
    pub fn run_case(&mut self, case: &Value) -> CaseResult {
        let id = case
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("<no id>")
            .to_string();
        match self.try_case(case) {
            Ok(r) => CaseResult { id, ..r },
            Err(message) => CaseResult {
                id,
                passed: false,
                worst: None,
                message: Some(message),
            },
        }
    }

    fn try_case(&mut self, case: &Value) -> Result<CaseResult, String> {
        let arch = case["model"]["arch"].as_str().unwrap_or("");
        let kind = case["kind"].as_str().unwrap_or("");
        let schedule = LayerSchedule::from_json(&case["schedule"]).map_err(|e| e.to_string())?;
        let inputs = self.inputs(case)?;
        let wanted: Vec<String> = case["output"]["tensors"]
            .as_object()
            .ok_or("case has no output tensors")?
            .keys()
            .cloned()
            .collect();
        let outputs = match arch {
            decoder if painters_llama::Family::from_model_type(decoder).is_some() => {
                if self.weights != WeightMode::F32 {
                    return self.against_f32(case, &schedule, &inputs);
                }
                let model = self.llama_model(case, WeightMode::F32)?;
                let plan = Plan::compile(&schedule, model.num_blocks(), KvMode::Exact)
                    .map_err(|e| e.to_string())?;
                match kind {
                    "forward" => llama_forward(&model, &plan, &inputs, &wanted)?,
                    "generate_greedy" => {
                        let n = case["generation"]["max_new_tokens"].as_u64().unwrap_or(8) as usize;
                        llama_generate(&model, &plan, &inputs, n)?
                    }
                    "cosine_matrix" => llama_cosine(&model, &plan, &inputs)?,
                    other => return Err(format!("unknown case kind `{other}`")),
                }
            }
            "bert" => {
                let model = self.bert_model(case)?;
                let plan = model.plan(&schedule).map_err(|e| e.to_string())?;
                match kind {
                    "forward" => bert_forward(&model, &plan, &inputs, &wanted)?,
                    other => return Err(format!("case kind `{other}` is not defined for BERT")),
                }
            }
            other => {
                return Err(format!(
                    "architecture `{other}` is not supported ({}, bert)",
                    painters_llama::Family::MODEL_TYPES.join(", ")
                ));
            }
        };
        let mask = inputs.get("attention_mask").map(|(_, m)| m.clone());
        self.compare(case, &outputs, mask.as_deref())
    }

    /// The case's input tensors (ids, masks, token types) as i64.
    fn inputs(&self, case: &Value) -> Result<Inputs, String> {
        let file = case["input"]["file"]
            .as_str()
            .ok_or("case has no input file")?;
        let f = SafetensorsFile::open(self.root.join(file)).map_err(|e| e.to_string())?;
        let mut out = HashMap::new();
        for (role, name) in case["input"]["tensors"]
            .as_object()
            .ok_or("no input tensors")?
        {
            let name = name.as_str().ok_or("input tensor name is not a string")?;
            out.insert(role.clone(), f.read_i64(name).map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    fn model_path(&self, case: &Value) -> Result<PathBuf, String> {
        let m = &case["model"];
        if let Some(dir) = m["dir"].as_str() {
            return Ok(self.root.join(dir));
        }
        let path = if let Some(rel) = m["models_dir_path"].as_str() {
            // A path relative to the models folder wins over the package name.
            let path = self.models_dir.join(rel);
            if !path.exists() {
                return Err(format!(
                    "{} is missing; run scripts/fetch-models.sh (or pass --models-dir)",
                    path.display()
                ));
            }
            path
        } else {
            let package = m["package"]
                .as_str()
                .ok_or("model has neither `dir`, `models_dir_path` nor `package`")?;
            models::packaged_model_path(&self.models_dir, package).map_err(|e| e.to_string())?
        };
        if let Some(sha) = m["sha256"].as_str() {
            models::check_sha256(&path, sha).map_err(|e| e.to_string())?;
        }
        Ok(path)
    }

    /// A decoder `forward` case's logits in this runner's weight mode against the f32 path's.
    fn against_f32(
        &mut self,
        case: &Value,
        schedule: &LayerSchedule,
        inputs: &Inputs,
    ) -> Result<CaseResult, String> {
        let mode = self.weights;
        if !self.checks(case) {
            return Err(format!(
                "--weights {mode} checks decoder forward cases with logits only"
            ));
        }
        let logits = |model: &LlamaModel| {
            let plan = Plan::compile(schedule, model.num_blocks(), KvMode::Exact)
                .map_err(|e| e.to_string())?;
            let mut out = llama_forward(model, &plan, inputs, &["logits".to_string()])?;
            out.remove("logits").ok_or_else(|| "no logits".to_string())
        };
        let (shape, exact) = logits(&*self.llama_model(case, WeightMode::F32)?)?;
        let (_, got) = logits(&*self.llama_model(case, mode)?)?;
        // Padded positions (attention_mask 0) are not compared, as in the goldens check.
        let mask = inputs.get("attention_mask").map(|(_, m)| m.as_slice());
        let vocab = shape.last().copied().unwrap_or(1).max(1);
        let kept = |i: usize| mask.is_none_or(|m| m.get(i / vocab).is_none_or(|&x| x != 0));
        let scale = (0..exact.len())
            .filter(|&i| kept(i))
            .fold(0f64, |m, i| m.max(exact[i].abs()));
        let diff = (0..exact.len())
            .filter(|&i| kept(i))
            .fold(0f64, |m, i| m.max((got[i] - exact[i]).abs()));
        let rel = if scale > 0.0 { diff / scale } else { diff };
        let tol = f64::from(mode.logit_tolerance());
        let passed = rel <= tol && rel.is_finite();
        Ok(CaseResult {
            id: String::new(),
            passed,
            worst: Some((format!("logits ({mode} vs f32, relative)"), rel)),
            message: (!passed).then(|| {
                format!("largest logit difference {rel:.3e} of the largest |logit| > {tol:e}")
            }),
        })
    }

    fn llama_model(&mut self, case: &Value, weights: WeightMode) -> Result<Rc<LlamaModel>, String> {
        let path = self.model_path(case)?;
        let key = (path, weights);
        if let Some(m) = self.llama.get(&key) {
            return Ok(m.clone());
        }
        let path = key.0.clone();
        let mut settings = ExecSettings::for_device(&self.device);
        if let Some(chunk) = self.query_chunk {
            settings.query_chunk = chunk;
        }
        let options = LoadOptions {
            weights,
            exec: Some(settings),
        };
        let m = LlamaModel::load_with(&path, &self.device, options).map_err(|e| e.to_string())?;
        let m = Rc::new(m);
        self.llama.insert(key, m.clone());
        Ok(m)
    }

    fn bert_model(&mut self, case: &Value) -> Result<Rc<BertModel>, String> {
        let path = self.model_path(case)?;
        if let Some(m) = self.bert.get(&path) {
            return Ok(m.clone());
        }
        let m = Rc::new(BertModel::load(&path, &self.device).map_err(|e| e.to_string())?);
        self.bert.insert(path, m.clone());
        Ok(m)
    }

    fn compare(
        &self,
        case: &Value,
        outputs: &Outputs,
        mask: Option<&[i64]>,
    ) -> Result<CaseResult, String> {
        let file = case["output"]["file"]
            .as_str()
            .ok_or("case has no golden file")?;
        let golden = SafetensorsFile::open(self.root.join(file)).map_err(|e| e.to_string())?;
        let mut worst: Option<(String, f64, f64)> = None;
        let mut failures = Vec::new();
        for (name, spec) in case["output"]["tensors"]
            .as_object()
            .ok_or("no output tensors")?
        {
            let (shape, got) = outputs
                .get(name)
                .ok_or_else(|| format!("runner produced no `{name}`"))?;
            let exact = spec["tolerance"].as_str() == Some("exact");
            let (gshape, want): (Vec<usize>, Vec<f64>) = if exact {
                let (s, v) = golden.read_i64(name).map_err(|e| e.to_string())?;
                (s, v.into_iter().map(|x| x as f64).collect())
            } else {
                let t = golden.read(name).map_err(|e| e.to_string())?;
                (t.shape, t.data.into_iter().map(f64::from).collect())
            };
            if *shape != gshape {
                failures.push(format!("{name}: shape {shape:?}, golden {gshape:?}"));
                continue;
            }
            let (atol, rtol) = if exact {
                (0.0, 0.0)
            } else {
                (
                    spec["tolerance"]["atol"].as_f64().unwrap_or(1e-5),
                    spec["tolerance"]["rtol"].as_f64().unwrap_or(1e-4),
                )
            };
            // Positions where attention_mask == 0 are not compared (per-position tensors [B, L, …]).
            let per_pos = mask.filter(|m| shape.len() >= 2 && shape[0] * shape[1] == m.len());
            let inner: usize = shape.iter().skip(2).product();
            let (mut max_err, mut max_ratio) = (0.0f64, 0.0f64);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                if per_pos.is_some_and(|m| m[i / inner.max(1)] == 0) {
                    continue;
                }
                let err = (g - w).abs();
                let ratio = if atol + rtol * w.abs() == 0.0 {
                    if err == 0.0 { 0.0 } else { f64::INFINITY }
                } else {
                    err / (atol + rtol * w.abs())
                };
                if err.is_nan() || ratio.is_nan() {
                    max_ratio = f64::INFINITY;
                    max_err = f64::NAN;
                    break;
                }
                max_err = max_err.max(err);
                max_ratio = max_ratio.max(ratio);
            }
            if max_ratio > 1.0 {
                failures.push(format!(
                    "{name}: max_err {max_err:.3e} > atol {atol:e} + rtol {rtol:e}·|golden|"
                ));
            }
            if worst.as_ref().is_none_or(|w| max_ratio > w.2) {
                worst = Some((name.clone(), max_err, max_ratio));
            }
        }
        Ok(CaseResult {
            id: String::new(),
            passed: failures.is_empty(),
            worst: worst.map(|(n, e, _)| (n, e)),
            message: (!failures.is_empty()).then(|| failures.join("; ")),
        })
    }
}

fn to_host<const D: usize>(t: &Tensor<D>) -> Result<(Vec<usize>, Vec<f64>), String> {
    let shape = t.dims().to_vec();
    let v = t
        .clone()
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    Ok((shape, v.into_iter().map(f64::from).collect()))
}

fn llama_input(inputs: &Inputs) -> Result<LlamaInput, String> {
    let (shape, ids) = inputs.get("input_ids").ok_or("no input_ids")?;
    let &[batch, seq] = shape.as_slice() else {
        return Err(format!(
            "input_ids has shape {shape:?}, expected [batch, seq]"
        ));
    };
    let ids = ids
        .iter()
        .map(|&i| u32::try_from(i).map_err(|_| format!("token id {i} out of range")))
        .collect::<Result<Vec<_>, _>>()?;
    let attention_mask = inputs
        .get("attention_mask")
        .map(|(_, m)| m.iter().map(|&x| (x != 0) as u8).collect());
    Ok(LlamaInput {
        ids,
        batch,
        seq,
        attention_mask,
    })
}

fn llama_forward(
    model: &LlamaModel,
    plan: &Plan,
    inputs: &Inputs,
    wanted: &[String],
) -> Result<Outputs, String> {
    let input = llama_input(inputs)?;
    let mut obs = HiddenStates::default();
    let logits = model
        .forward(plan, &input, None, &mut obs)
        .map_err(|e| e.to_string())?;
    let mut out = Outputs::new();
    let last_step = plan.stats().steps.checked_sub(1);
    for name in wanted {
        let t: Tensor<3> = match name.as_str() {
            "logits" => logits.clone(),
            "last_logits" => {
                let [b, s, v] = logits.dims();
                let (_, data) = to_host(&logits.clone().narrow(1, s - 1, 1).reshape([b, v]))?;
                out.insert(name.clone(), (vec![b, v], data));
                continue;
            }
            "hidden.emb" => state(&obs, ObservePoint::Embedding)?,
            "hidden.final_norm" | "final_hidden" => state(&obs, ObservePoint::FinalNorm)?,
            "last_block_output" => match last_step {
                Some(j) => state(&obs, ObservePoint::Step(j))?,
                None => state(&obs, ObservePoint::Embedding)?,
            },
            other => match other
                .strip_prefix("hidden.block.")
                .and_then(|j| j.parse().ok())
            {
                Some(j) => state(&obs, ObservePoint::Step(j))?,
                None => {
                    return Err(format!(
                        "unknown output tensor `{other}` for a llama forward case"
                    ));
                }
            },
        };
        out.insert(name.clone(), to_host(&t)?);
    }
    Ok(out)
}

fn bert_forward(
    model: &BertModel,
    plan: &Plan,
    inputs: &Inputs,
    wanted: &[String],
) -> Result<Outputs, String> {
    let (shape, ids) = inputs.get("input_ids").ok_or("no input_ids")?;
    let &[batch, seq] = shape.as_slice() else {
        return Err(format!(
            "input_ids has shape {shape:?}, expected [batch, seq]"
        ));
    };
    let get = |k: &str| inputs.get(k).map(|(_, v)| v.clone());
    let input = BertInput::new(
        batch,
        seq,
        ids.clone(),
        get("token_type_ids"),
        get("attention_mask"),
    )
    .map_err(|e| e.to_string())?;
    let mut obs = HiddenStates::default();
    let last = model
        .encode(plan, &input, &mut obs)
        .map_err(|e| e.to_string())?;
    let mut out = Outputs::new();
    for name in wanted {
        let host = match name.as_str() {
            "logits" => to_host(
                &model
                    .mlm_logits(last.clone())
                    .ok_or("the model has no MLM head")?,
            )?,
            "last_hidden_state" => to_host(&last)?,
            "mean_pooled" | "mean_pooled_l2norm" => {
                let pooled = sentence::mean_pool(last.clone(), input.mask_tensor(&model.device()));
                let pooled = if name == "mean_pooled" {
                    pooled
                } else {
                    sentence::l2_normalize(pooled)
                };
                to_host(&pooled)?
            }
            "hidden.emb" => to_host(&state(&obs, ObservePoint::Embedding)?)?,
            other => match other
                .strip_prefix("hidden.block.")
                .and_then(|j| j.parse().ok())
            {
                Some(j) => to_host(&state(&obs, ObservePoint::Step(j))?)?,
                None => {
                    return Err(format!(
                        "unknown output tensor `{other}` for a bert forward case"
                    ));
                }
            },
        };
        out.insert(name.clone(), host);
    }
    Ok(out)
}

fn state(obs: &HiddenStates, at: ObservePoint) -> Result<Tensor<3>, String> {
    obs.get(at)
        .cloned()
        .ok_or_else(|| format!("no hidden state at {at:?}"))
}

fn llama_generate(
    model: &LlamaModel,
    plan: &Plan,
    inputs: &Inputs,
    max_new_tokens: usize,
) -> Result<Outputs, String> {
    let input = llama_input(inputs)?;
    if input.batch != 1 {
        return Err("generation cases must have batch 1".into());
    }
    let opts = GenerateOptions {
        max_new_tokens,
        sampling: Sampling::Greedy,
        eos_ids: Vec::new(),
        keep_logits: true,
        ..Default::default()
    };
    let g = generate(model, plan, &input.ids, &opts, |_| false).map_err(|e| e.to_string())?;
    let n = g.new_ids.len();
    let vocab = model.config().vocab_size;
    let ids = |v: &[u32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let full: Vec<u32> = input.ids.iter().chain(&g.new_ids).copied().collect();
    let mut out = Outputs::new();
    out.insert("new_ids".into(), (vec![1, n], ids(&g.new_ids)));
    out.insert("full_ids".into(), (vec![1, full.len()], ids(&full)));
    out.insert(
        "step_logits".into(),
        (
            vec![n, vocab],
            g.step_logits.concat().into_iter().map(f64::from).collect(),
        ),
    );
    Ok(out)
}

/// `cosine[a][b]` = mean over token positions of cos(s_a[t], s_b[t]) over the T+1 states (embedding
/// output, then every step's output, before the final norm), computed in f64 from f32 states: the
/// layer analysis' token-mean mode over every position.
fn llama_cosine(model: &LlamaModel, plan: &Plan, inputs: &Inputs) -> Result<Outputs, String> {
    let input = llama_input(inputs)?;
    let mut obs = HiddenStates::default();
    model
        .forward(plan, &input, None, &mut obs)
        .map_err(|e| e.to_string())?;
    let states = analysis::residual_states(&obs);
    let [batch, seq, d] = states
        .first()
        .ok_or("the model reported no hidden states")?
        .dims();
    let host: Vec<Vec<f32>> = states
        .into_iter()
        .map(|t| {
            t.into_data()
                .try_to_vec::<f32>()
                .map_err(|e| format!("{e:?}"))
        })
        .collect::<Result<_, _>>()?;
    let views: Vec<&[f32]> = host.iter().map(Vec::as_slice).collect();
    let grams =
        analysis::sample_grams_host(&views, batch, seq, d, None).map_err(|e| e.to_string())?;
    let m = analysis::cosine_matrix(&grams, analysis::SimilarityMode::TokenMean)
        .map_err(|e| e.to_string())?;
    let n = m.len();
    let mut out = Outputs::new();
    out.insert("cosine".into(), (vec![n, n], m.concat()));
    Ok(out)
}

/// Run every case (matching `filter`) of a manifest against its goldens, printing one line per case
/// as it finishes.
pub fn run_manifest(
    manifest: &Path,
    models_dir: PathBuf,
    filter: Option<&str>,
    device: Device,
    print: impl FnMut(&CaseResult),
) -> Result<Vec<CaseResult>, ConformanceError> {
    run_manifest_with_weights(manifest, models_dir, filter, device, WeightMode::F32, print)
}

/// [`run_manifest`] with decoders' matrices stored as `weights`: the cases that mode checks (see
/// [`Runner::checks`]), against the f32 path unless `weights` is f32.
pub fn run_manifest_with_weights(
    manifest: &Path,
    models_dir: PathBuf,
    filter: Option<&str>,
    device: Device,
    weights: WeightMode,
    mut print: impl FnMut(&CaseResult),
) -> Result<Vec<CaseResult>, ConformanceError> {
    let cases = Runner::cases(manifest, filter)?;
    weights.check_on(&device)?;
    let mut runner = Runner::new(manifest, models_dir, device).with_weights(weights);
    let mut results = Vec::with_capacity(cases.len());
    let cases: Vec<&Value> = cases.iter().filter(|c| runner.checks(c)).collect();
    for c in cases {
        let r = runner.run_case(c);
        print(&r);
        results.push(r);
    }
    Ok(results)
}
