//! Models as the harness finds them: where packaged models live and whether a file is the expected
//! one ([`files`]), and loading what a `--model` / `--device` pair names ([`source`]), hub specs
//! included.

pub mod files;
pub mod source;

pub use files::{
    ModelError, check_sha256, default_models_dir, is_bert_folder, packaged_model_path, sha256_file,
    weight_file,
};
pub use source::{LoadError, ModelSource};
