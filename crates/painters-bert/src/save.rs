//! Writing models back out as HF checkpoints (`config.json` + `model.safetensors`), with HF
//! tensor names and PyTorch's `[out, in]` linear layout, so that a fine-tuned model loads here
//! and in `transformers` alike.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::Tensor;
use painters::weights::HostTensor;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::config::BertConfig;
use crate::error::BertError;
use crate::host::to_host;
use crate::model::BertModel;

/// Named host tensors in HF layout, in the order they were added.
#[derive(Default)]
pub struct HfTensors {
    pub tensors: Vec<(String, HostTensor)>,
}

impl HfTensors {
    fn push<const D: usize>(&mut self, name: String, t: Tensor<D>) -> Result<(), BertError> {
        let shape = t.dims().to_vec();
        let data = to_host(t)?;
        self.tensors.push((name, HostTensor { shape, data }));
        Ok(())
    }

    pub(crate) fn param<const D: usize>(
        &mut self,
        name: String,
        p: &Param<Tensor<D>>,
    ) -> Result<(), BertError> {
        self.push(name, p.val())
    }

    /// burn keeps `[in, out]`; PyTorch and the checkpoint keep `[out, in]`.
    pub(crate) fn linear(&mut self, name: &str, l: &Linear) -> Result<(), BertError> {
        self.push(format!("{name}.weight"), l.weight.val().transpose())?;
        if let Some(b) = &l.bias {
            self.param(format!("{name}.bias"), b)?;
        }
        Ok(())
    }

    pub(crate) fn norm(&mut self, name: &str, n: &LayerNorm) -> Result<(), BertError> {
        self.param(format!("{name}.weight"), &n.gamma)?;
        if let Some(b) = &n.beta {
            self.param(format!("{name}.bias"), b)?;
        }
        Ok(())
    }

    fn embedding(&mut self, name: &str, e: &Embedding) -> Result<(), BertError> {
        self.param(format!("{name}.weight"), &e.weight)
    }

    /// Write as one f32 safetensors file.
    pub fn write(&self, path: &Path) -> Result<(), BertError> {
        let err = |message: String| BertError::Save {
            path: path.to_path_buf(),
            message,
        };
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(n, t)| {
                let b = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                (n.clone(), b, t.shape.clone())
            })
            .collect();
        let mut views = Vec::with_capacity(bytes.len());
        for (name, b, shape) in &bytes {
            let v = TensorView::new(Dtype::F32, shape.clone(), b)
                .map_err(|e| err(format!("{name}: {e}")))?;
            views.push((name.clone(), v));
        }
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::tensor::serialize_to_file(views, Some(meta), path)
            .map_err(|e| err(e.to_string()))
    }
}

/// Write `config` as `dir/config.json`.
pub(crate) fn write_config(dir: &Path, config: &BertConfig) -> Result<(), BertError> {
    let path = dir.join("config.json");
    let err = |message: String| BertError::Save {
        path: path.clone(),
        message,
    };
    let text = serde_json::to_string_pretty(config).map_err(|e| err(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| err(e.to_string()))
}

impl BertModel {
    /// The encoder (and pooler / MLM head when present) under HF names; `prefix` is `""` for a
    /// `BertModel` checkpoint and `"bert."` inside a task model.
    pub fn hf_tensors(&self, prefix: &str, out: &mut HfTensors) -> Result<(), BertError> {
        let e = format!("{prefix}embeddings");
        out.embedding(
            &format!("{e}.word_embeddings"),
            &self.embeddings.word_embeddings,
        )?;
        out.embedding(
            &format!("{e}.position_embeddings"),
            &self.embeddings.position_embeddings,
        )?;
        out.embedding(
            &format!("{e}.token_type_embeddings"),
            &self.embeddings.token_type_embeddings,
        )?;
        out.norm(&format!("{e}.LayerNorm"), &self.embeddings.layer_norm)?;
        for (i, l) in self.layers.iter().enumerate() {
            let n = format!("{prefix}encoder.layer.{i}");
            out.linear(&format!("{n}.attention.self.query"), &l.attention.query)?;
            out.linear(&format!("{n}.attention.self.key"), &l.attention.key)?;
            out.linear(&format!("{n}.attention.self.value"), &l.attention.value)?;
            out.linear(&format!("{n}.attention.output.dense"), &l.attention_output)?;
            out.norm(
                &format!("{n}.attention.output.LayerNorm"),
                &l.attention_norm,
            )?;
            out.linear(&format!("{n}.intermediate.dense"), &l.intermediate)?;
            out.linear(&format!("{n}.output.dense"), &l.output)?;
            out.norm(&format!("{n}.output.LayerNorm"), &l.output_norm)?;
        }
        if let Some(p) = &self.pooler {
            out.linear(&format!("{prefix}pooler.dense"), &p.dense)?;
        }
        if let Some(m) = &self.mlm {
            out.linear("cls.predictions.transform.dense", &m.dense)?;
            out.norm("cls.predictions.transform.LayerNorm", &m.layer_norm)?;
            out.param("cls.predictions.bias".into(), &m.bias)?;
        }
        Ok(())
    }

    /// Save as a HF model directory (`config.json`, `model.safetensors`). Models with an MLM head
    /// are saved as `BertForMaskedLM` (keys under `bert.`), others as `BertModel`.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), BertError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| BertError::Save {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let (prefix, arch) = match self.mlm {
            Some(_) => ("bert.", "BertForMaskedLM"),
            None => ("", "BertModel"),
        };
        let mut t = HfTensors::default();
        self.hf_tensors(prefix, &mut t)?;
        t.write(&dir.join("model.safetensors"))?;
        let mut config = self.config().clone();
        config.architectures = vec![arch.into()];
        write_config(dir, &config)
    }
}
