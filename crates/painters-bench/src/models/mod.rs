//! Models as the harness finds them: where packaged models live and whether a file is the expected
//! one ([`files`]), loading what a `--model` / `--device` pair names ([`source`]), hub specs
//! included, and a model's tokenizer on its own ([`tokenize()`], `painters tokenize`).

pub mod files;
pub mod source;
pub mod tokenize;

pub use files::{
    ModelError, check_sha256, default_models_dir, is_bert_folder, packaged_model_path, sha256_file,
    weight_file,
};
pub use source::{LoadError, ModelSource};
pub use tokenize::{Tokenized, tokenize};
