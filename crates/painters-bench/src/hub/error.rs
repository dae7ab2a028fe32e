//! Why a `hf:` model spec could not be resolved, and how to fix it.

use std::path::PathBuf;

/// Problems resolving a `hf:` model spec. Each names the repo and, where one is involved, the file
/// and URL; [`HubError::hint`] says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("`{spec}` is not a hub model spec: {reason}")]
    BadSpec { spec: String, reason: String },
    #[error(
        "no HF cache folder: none of HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HOME is set (hub files are cached there)"
    )]
    NoCacheDir,
    #[error(
        "`{file}` of hf:{repo}@{revision} is not in the HF cache {cache} and HF_HUB_OFFLINE is set, so it is not downloaded from {url}"
    )]
    Offline {
        repo: String,
        revision: String,
        file: String,
        url: String,
        cache: PathBuf,
    },
    #[error("hub repo `{repo}` not found (HTTP {status} from {url})")]
    RepoNotFound {
        repo: String,
        url: String,
        status: u16,
    },
    #[error("revision `{revision}` of hub repo `{repo}` not found (HTTP 404 from {url})")]
    RevisionNotFound {
        repo: String,
        revision: String,
        url: String,
    },
    #[error(
        "hub repo `{repo}` has no file `{file}` at revision `{revision}` (HTTP 404 from {url})"
    )]
    FileNotFound {
        repo: String,
        revision: String,
        file: String,
        url: String,
    },
    #[error(
        "hub repo `{repo}` has neither model.safetensors nor model.safetensors.index.json at revision `{revision}` (tried {url})"
    )]
    NoWeights {
        repo: String,
        revision: String,
        url: String,
    },
    #[error("access to hub repo `{repo}` denied (HTTP {status} from {url}): {message}")]
    Denied {
        repo: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("downloading `{file}` of hub repo `{repo}` failed: HTTP {status} from {url}")]
    Http {
        repo: String,
        file: String,
        url: String,
        status: u16,
    },
    #[error("cannot reach the hub for `{file}` of `{repo}` at {url}: {message}")]
    Unreachable {
        repo: String,
        file: String,
        url: String,
        message: String,
    },
    #[error("downloading `{file}` of hub repo `{repo}` from {url} failed: {message}")]
    Download {
        repo: String,
        file: String,
        url: String,
        message: String,
    },
    #[error("`{file}` of hub repo `{repo}` ({path}) is not a valid shard index: {message}")]
    BadIndex {
        repo: String,
        file: String,
        path: PathBuf,
        message: String,
    },
    #[error(
        "the files of hf:{repo}@{revision} ended up in different cache snapshots ({first} and {second}): the revision moved during the download"
    )]
    MovingRevision {
        repo: String,
        revision: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HubError {
    /// One line on how to fix it, for the CLI.
    pub fn hint(&self) -> String {
        match self {
            HubError::BadSpec { .. } => {
                "write --model hf:OWNER/NAME, hf:OWNER/NAME@REVISION or hf:OWNER/NAME[@REVISION]:FILE.gguf; a local path starting with `hf:` is written ./hf:…".into()
            }
            HubError::NoCacheDir => "set HF_HOME (the cache goes to $HF_HOME/hub)".into(),
            HubError::Offline { .. } => {
                "unset HF_HUB_OFFLINE (or set it to 0) to download it, or point HF_HOME / HF_HUB_CACHE at a cache that holds it".into()
            }
            HubError::RepoNotFound { .. } => {
                "check the repo id (OWNER/NAME, as in its hub URL); a private or gated repo needs HF_TOKEN".into()
            }
            HubError::RevisionNotFound { .. } => {
                "REVISION after @ is a branch, tag or commit hash of the repo".into()
            }
            HubError::FileNotFound { .. } => {
                "check the file name against the repo's file list (names are case-sensitive)".into()
            }
            HubError::NoWeights { .. } => {
                "name a .gguf file of the repo with hf:OWNER/NAME:FILE.gguf, or use a repo with safetensors weights".into()
            }
            HubError::Denied { .. } => {
                "set HF_TOKEN to a token that can read the repo (gated repos also need their terms accepted on the hub)".into()
            }
            HubError::Http { .. } | HubError::Unreachable { .. } | HubError::Download { .. } => {
                "check the network and HF_ENDPOINT; HF_HUB_OFFLINE=1 uses only files already in the cache".into()
            }
            HubError::BadIndex { .. } => {
                "the cached index may be damaged: delete the repo's folder in the HF cache and download again".into()
            }
            HubError::MovingRevision { .. } => {
                "run again, or pin a commit with hf:OWNER/NAME@COMMIT".into()
            }
            HubError::Io { .. } => {
                "the HF cache must be writable: check its permissions and free space, or set HF_HOME".into()
            }
        }
    }
}
