//! `painters tokenize`: texts through a model's own tokenizer, special tokens added as the model
//! adds them by default (HF's `tokenizer(text)`: BOS for Gemma and Llama 2, none for SmolLM2,
//! `[CLS] … [SEP]` for BERT), with the token strings — to check what a model reads.

use std::path::Path;

use painters_bert::{BertConfig, BertError, BertTokenizer};
use serde::Serialize;

use crate::models::source::{LoadError, ModelSource};

/// One text as the tokenizer encodes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tokenized {
    pub input_ids: Vec<u32>,
    /// The vocabulary's string of each id.
    pub tokens: Vec<String>,
}

/// The tokenizer of the model `source` names (a decoder's, or a BERT folder's `tokenizer.json`)
/// applied to each of `texts`.
pub fn tokenize(source: &ModelSource, texts: &[String]) -> Result<Vec<Tokenized>, LoadError> {
    let path = source.local_path()?;
    let hf = hf_tokenizer(&path)?;
    texts
        .iter()
        .map(|t| {
            let e = hf
                .encode(t.as_str(), true)
                .map_err(|e| LoadError::Encode(e.to_string()))?;
            Ok(Tokenized {
                input_ids: e.get_ids().to_vec(),
                tokens: e.get_tokens().to_vec(),
            })
        })
        .collect()
}

/// The HF tokenizer of the model at the local `path`.
fn hf_tokenizer(path: &Path) -> Result<tokenizers::Tokenizer, LoadError> {
    if ModelSource::is_bert(path) {
        let config = BertConfig::from_file(path).map_err(BertError::from)?;
        return Ok(BertTokenizer::for_model(path, &config)?.inner().clone());
    }
    Ok(ModelSource::llama_tokenizer(path)?.into_hf())
}
