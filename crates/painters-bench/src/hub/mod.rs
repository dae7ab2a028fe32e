//! Models from the Hugging Face hub: `--model hf:OWNER/NAME[@REVISION][:FILE.gguf]`.
//!
//! A spec is downloaded with `hf-hub`'s blocking API into the usual HF cache (`$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), shared with Python's `huggingface_hub`, and
//! resolves to a local path the loaders already take: the snapshot folder of a HF-layout repo
//! (`config.json`, `tokenizer.json` and `generation_config.json` when the repo has them, and
//! `model.safetensors` or the shards listed in `model.safetensors.index.json`), or the one named
//! `.gguf` file. Files already in the cache are used without a request; `HF_HUB_OFFLINE=1` uses only
//! the cache. `HF_ENDPOINT` picks another hub (a mirror, or a test server), `HF_TOKEN` (else the
//! token file `$HF_HOME/token`) authenticates for private and gated repos.
//!
//! The explicit `hf:` prefix keeps a local folder from ever being taken for a repo id: a local path
//! that really starts with `hf:` is written `./hf:…`.

pub mod error;
pub mod fetch;
pub mod options;
pub mod spec;

pub use error::HubError;
pub use fetch::{resolve, resolve_model_arg};
pub use options::{DEFAULT_ENDPOINT, HubOptions};
pub use spec::{HubSpec, PREFIX};
