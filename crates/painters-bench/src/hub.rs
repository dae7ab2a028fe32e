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

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hf_hub::api::sync::{Api, ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};

/// The prefix that marks a `--model` argument as a hub repo.
pub const PREFIX: &str = "hf:";
/// The hub used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

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

/// A parsed `hf:OWNER/NAME[@REVISION][:FILE.gguf]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpec {
    /// `OWNER/NAME`.
    pub repo: String,
    /// A branch, tag or commit; `main` when not given.
    pub revision: String,
    /// The `.gguf` file to fetch; `None` for a HF-layout (safetensors) repo.
    pub file: Option<String>,
}

impl HubSpec {
    /// The spec in a `--model` argument, if it starts with `hf:` (`None`: a local path).
    pub fn from_arg(arg: &Path) -> Option<Result<HubSpec, HubError>> {
        arg.to_str()
            .filter(|s| s.starts_with(PREFIX))
            .map(str::parse)
    }

    fn hf_repo(&self) -> Repo {
        Repo::with_revision(self.repo.clone(), RepoType::Model, self.revision.clone())
    }
}

impl std::fmt::Display for HubSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}{}@{}", self.repo, self.revision)?;
        if let Some(file) = &self.file {
            write!(f, ":{file}")?;
        }
        Ok(())
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl FromStr for HubSpec {
    type Err = HubError;

    /// Parses `[hf:]OWNER/NAME[@REVISION][:FILE.gguf]`.
    fn from_str(text: &str) -> Result<Self, HubError> {
        let bad = |reason: &str| HubError::BadSpec {
            spec: text.to_string(),
            reason: reason.to_string(),
        };
        let body = text.strip_prefix(PREFIX).unwrap_or(text);
        // Git ref names cannot contain ':', so the first one starts the file.
        let (repo_rev, file) = match body.split_once(':') {
            Some((r, f)) => (r, Some(f)),
            None => (body, None),
        };
        let (repo, revision) = match repo_rev.split_once('@') {
            Some((r, rev)) => (r, Some(rev)),
            None => (repo_rev, None),
        };
        let mut parts = repo.split('/');
        let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("the repo id must be OWNER/NAME"));
        };
        if !valid_name(owner) || !valid_name(name) {
            return Err(bad(
                "OWNER and NAME are letters, digits, '-', '_' and '.' (the repo id as in its hub URL)",
            ));
        }
        let revision = match revision {
            None => "main".to_string(),
            Some(r)
                if !r.is_empty()
                    && !r.chars().any(|c| c.is_whitespace() || c == '\\')
                    && !r.split('/').any(|p| p.is_empty() || p == "..") =>
            {
                r.to_string()
            }
            Some(_) => return Err(bad("REVISION after @ must be a branch, tag or commit")),
        };
        let file = match file {
            None => None,
            Some(f) => {
                if f.is_empty()
                    || f.contains('\\')
                    || f.split('/').any(|p| p.is_empty() || p == "." || p == "..")
                {
                    return Err(bad("FILE after ':' must be a path inside the repo"));
                }
                if !f.to_ascii_lowercase().ends_with(".gguf") {
                    return Err(bad(
                        "only a .gguf file can be named after ':'; drop `:FILE` for a repo with config.json and safetensors",
                    ));
                }
                Some(f.to_string())
            }
        };
        Ok(HubSpec {
            repo: repo.to_string(),
            revision,
            file,
        })
    }
}

/// Where and how to reach the hub.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The hub's base URL (`HF_ENDPOINT`).
    pub endpoint: String,
    /// The hub cache folder, holding `models--OWNER--NAME/` (`$HF_HOME/hub`).
    pub cache_dir: PathBuf,
    /// A user access token (`HF_TOKEN`, else the token file `$HF_HOME/token`).
    pub token: Option<String>,
    /// Use only the cache, never the network (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Draw a progress bar on stderr while downloading.
    pub progress: bool,
}

impl HubOptions {
    /// The default hub, no token, online, no progress bar, caching in `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        HubOptions {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            cache_dir: cache_dir.into(),
            token: None,
            offline: false,
            progress: false,
        }
    }

    /// Options from the process environment, as `huggingface_hub` reads them (progress bar on).
    pub fn from_env() -> Result<Self, HubError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Options from environment variables given by `var` (empty values count as unset): `HF_ENDPOINT`,
    /// `HF_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME`, `HOME`/`USERPROFILE`, `HF_TOKEN`, `HF_HUB_OFFLINE`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, HubError> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let hf_home = var("HF_HOME").map(PathBuf::from).or_else(|| {
            var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    var("HOME")
                        .or_else(|| var("USERPROFILE"))
                        .map(|h| Path::new(&h).join(".cache"))
                })
                .map(|c| c.join("huggingface"))
        });
        let cache_dir = match (var("HF_HUB_CACHE"), &hf_home) {
            (Some(c), _) => PathBuf::from(c),
            (None, Some(home)) => home.join("hub"),
            (None, None) => return Err(HubError::NoCacheDir),
        };
        let token = var("HF_TOKEN").map(|t| t.trim().to_string()).or_else(|| {
            let path = var("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .or_else(|| hf_home.as_ref().map(|h| h.join("token")))?;
            let t = std::fs::read_to_string(path).ok()?;
            Some(t.trim().to_string()).filter(|t| !t.is_empty())
        });
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        Ok(HubOptions {
            endpoint: var("HF_ENDPOINT")
                .map(|e| e.trim().trim_end_matches('/').to_string())
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            cache_dir,
            token,
            offline,
            progress: true,
        })
    }
}

/// Resolve a `--model` argument: a local path comes back unchanged; `hf:…` is fetched into (or found
/// in) the HF cache with [`HubOptions::from_env`], and its local path comes back.
pub fn resolve_model_arg(arg: &Path, progress: bool) -> Result<PathBuf, HubError> {
    match HubSpec::from_arg(arg) {
        None => Ok(arg.to_path_buf()),
        Some(spec) => {
            let spec = spec?;
            let mut opts = HubOptions::from_env()?;
            opts.progress = progress;
            resolve(&spec, &opts)
        }
    }
}

/// Fetch what a spec needs (or find it in the cache) and return the path the loaders take: the
/// `.gguf` file, or the snapshot folder of a HF-layout repo.
pub fn resolve(spec: &HubSpec, opts: &HubOptions) -> Result<PathBuf, HubError> {
    let hub = Hub::new(spec, opts);
    if let Some(file) = &spec.file {
        return hub.required(file);
    }
    // Two passes at most: a file found in the cache at an older commit while others download at a
    // newer one lands in another snapshot; the second pass completes the newest one.
    let mut last = None;
    for _ in 0..2 {
        let files = hub.layout_files()?;
        let mut dirs = files
            .iter()
            .map(|f| f.parent().map(Path::to_path_buf).unwrap_or_default());
        let first = dirs.next().unwrap_or_default();
        match dirs.find(|d| *d != first) {
            None => return Ok(first),
            Some(other) => last = Some((first, other)),
        }
    }
    let (first, second) = last.unwrap_or_default();
    Err(HubError::MovingRevision {
        repo: spec.repo.clone(),
        revision: spec.revision.clone(),
        first,
        second,
    })
}

/// What looking for one file found.
enum Found {
    Present(PathBuf),
    /// The repo has no such file at this revision.
    Absent,
    /// Offline and not in the cache: whether the repo has it is unknown.
    Unknown,
}

struct Hub<'a> {
    spec: &'a HubSpec,
    opts: &'a HubOptions,
    cache: Cache,
    /// `None` offline; the client, or why it could not be built.
    api: Option<Result<ApiRepo, String>>,
}

impl<'a> Hub<'a> {
    fn new(spec: &'a HubSpec, opts: &'a HubOptions) -> Self {
        let cache = Cache::new(opts.cache_dir.clone());
        let api = (!opts.offline).then(|| {
            ApiBuilder::from_cache(cache.clone())
                .with_endpoint(opts.endpoint.clone())
                .with_token(opts.token.clone())
                .with_progress(opts.progress)
                .with_retries(3)
                .with_user_agent("painters", env!("CARGO_PKG_VERSION"))
                .build()
                .map(|api: Api| api.repo(spec.hf_repo()))
                .map_err(|e| e.to_string())
        });
        Hub {
            spec,
            opts,
            cache,
            api,
        }
    }

    fn url(&self, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{file}",
            self.opts.endpoint,
            self.spec.repo,
            self.spec.revision.replace('/', "%2F")
        )
    }

    /// `models--OWNER--NAME` in the cache.
    fn repo_dir(&self) -> PathBuf {
        self.cache.path().join(self.spec.hf_repo().folder_name())
    }

    /// The commit the cache's ref for the revision points at.
    fn cached_commit(&self) -> Option<String> {
        let r = std::fs::read_to_string(self.repo_dir().join("refs").join(&self.spec.revision));
        r.ok()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
    }

    /// `huggingface_hub`'s marker for "this revision has no such file".
    fn no_exist_marker(&self, commit: &str, file: &str) -> PathBuf {
        self.repo_dir().join(".no_exist").join(commit).join(file)
    }

    fn find(&self, file: &str) -> Result<Found, HubError> {
        if let Some(path) = self.cache.repo(self.spec.hf_repo()).get(file) {
            return Ok(Found::Present(path));
        }
        // A revision that is a commit hash names its snapshot folder even without a ref.
        let rev = &self.spec.revision;
        let commit = if rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
            let path = self.repo_dir().join("snapshots").join(rev).join(file);
            if path.exists() {
                return Ok(Found::Present(path));
            }
            Some(rev.clone())
        } else {
            self.cached_commit()
        };
        if let Some(commit) = commit
            && self.no_exist_marker(&commit, file).exists()
        {
            return Ok(Found::Absent);
        }
        if self.opts.offline {
            return Ok(Found::Unknown);
        }
        let api = match &self.api {
            Some(Ok(api)) => api,
            Some(Err(e)) => {
                return Err(self.download_error(file, format!("cannot build the HTTP client: {e}")));
            }
            None => return Ok(Found::Unknown),
        };
        match api.download(file) {
            Ok(path) => Ok(Found::Present(path)),
            Err(e) => self.classify(file, e),
        }
    }

    fn required(&self, file: &str) -> Result<PathBuf, HubError> {
        match self.find(file)? {
            Found::Present(p) => Ok(p),
            Found::Absent => Err(self.file_not_found(file)),
            Found::Unknown => Err(self.offline_error(file)),
        }
    }

    /// config.json, tokenizer.json and generation_config.json when present, and the weights.
    fn layout_files(&self) -> Result<Vec<PathBuf>, HubError> {
        let mut files = vec![self.required("config.json")?];
        for optional in ["tokenizer.json", "generation_config.json"] {
            if let Found::Present(p) = self.find(optional)? {
                files.push(p);
            }
        }
        let single = self.find("model.safetensors")?;
        if let Found::Present(p) = single {
            files.push(p);
            return Ok(files);
        }
        const INDEX: &str = "model.safetensors.index.json";
        let index = match (self.find(INDEX)?, single) {
            (Found::Present(p), _) => p,
            (Found::Absent, Found::Absent) => {
                return Err(HubError::NoWeights {
                    repo: self.spec.repo.clone(),
                    revision: self.spec.revision.clone(),
                    url: self.url("model.safetensors"),
                });
            }
            _ => return Err(self.offline_error("model.safetensors")),
        };
        for shard in self.shards(&index, INDEX)? {
            files.push(self.required(&shard)?);
        }
        files.push(index);
        Ok(files)
    }

    /// The shard files an index's `weight_map` names, sorted, each once.
    fn shards(&self, index: &Path, name: &str) -> Result<Vec<String>, HubError> {
        let bad = |message: String| HubError::BadIndex {
            repo: self.spec.repo.clone(),
            file: name.to_string(),
            path: index.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(index).map_err(|source| HubError::Io {
            path: index.to_path_buf(),
            source,
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("no \"weight_map\" object".into()))?;
        let mut shards = Vec::new();
        for f in map.values() {
            let f = f
                .as_str()
                .ok_or_else(|| bad(format!("shard {f} is not a string")))?;
            if f.is_empty() || f.contains(['/', '\\']) || f == "." || f == ".." {
                return Err(bad(format!("shard name {f:?} is not a file name")));
            }
            shards.push(f.to_string());
        }
        shards.sort();
        shards.dedup();
        if shards.is_empty() {
            return Err(bad("the weight_map is empty".into()));
        }
        Ok(shards)
    }

    fn classify(&self, file: &str, e: ApiError) -> Result<Found, HubError> {
        let (repo, url) = (self.spec.repo.clone(), self.url(file));
        let e = match e {
            ApiError::RequestError(e) => *e,
            ApiError::TooManyRetries(inner) => {
                return Err(self.download_error(file, format!("too many retries: {inner}")));
            }
            ApiError::IoError(source) => {
                return Err(HubError::Io {
                    path: self.repo_dir(),
                    source,
                });
            }
            ApiError::MissingHeader(h) | ApiError::InvalidHeader(h) => {
                return Err(self.download_error(
                    file,
                    format!(
                        "the answer has no valid `{h}` header: is HF_ENDPOINT a Hugging Face hub?"
                    ),
                ));
            }
            other => return Err(self.download_error(file, other.to_string())),
        };
        let resp = match e {
            ureq::Error::Status(_, resp) => resp,
            ureq::Error::Transport(t) => {
                return Err(HubError::Unreachable {
                    repo,
                    file: file.to_string(),
                    url,
                    message: match t.message() {
                        Some(m) => format!("{}: {m}", t.kind()),
                        None => t.kind().to_string(),
                    },
                });
            }
        };
        let status = resp.status();
        let code = resp.header("x-error-code").unwrap_or("").to_string();
        let commit = resp.header("x-repo-commit").map(str::to_string);
        let message = resp.header("x-error-message").unwrap_or("").to_string();
        match (status, code.as_str()) {
            (_, "RepoNotFound") | (401, "") => Err(HubError::RepoNotFound { repo, url, status }),
            (_, "RevisionNotFound") => Err(HubError::RevisionNotFound {
                repo,
                revision: self.spec.revision.clone(),
                url,
            }),
            (404, "EntryNotFound") | (404, "") => {
                if let Some(commit) = commit {
                    // Remember the absence, as huggingface_hub does, so later runs ask no more.
                    let marker = self.no_exist_marker(commit.trim(), file);
                    if let Some(parent) = marker.parent() {
                        let _ = std::fs::create_dir_all(parent)
                            .and_then(|()| std::fs::write(&marker, b""));
                    }
                }
                Ok(Found::Absent)
            }
            (401 | 403, _) | (_, "GatedRepo") => Err(HubError::Denied {
                repo,
                url,
                status,
                message: if message.is_empty() { code } else { message },
            }),
            _ => Err(HubError::Http {
                repo,
                file: file.to_string(),
                url,
                status,
            }),
        }
    }

    fn download_error(&self, file: &str, message: String) -> HubError {
        HubError::Download {
            repo: self.spec.repo.clone(),
            file: file.to_string(),
            url: self.url(file),
            message,
        }
    }

    fn file_not_found(&self, file: &str) -> HubError {
        HubError::FileNotFound {
            repo: self.spec.repo.clone(),
            revision: self.spec.revision.clone(),
            file: file.to_string(),
            url: self.url(file),
        }
    }

    fn offline_error(&self, file: &str) -> HubError {
        HubError::Offline {
            repo: self.spec.repo.clone(),
            revision: self.spec.revision.clone(),
            file: file.to_string(),
            url: self.url(file),
            cache: self.opts.cache_dir.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s: HubSpec = "hf:HuggingFaceTB/SmolLM2-135M-Instruct".parse().unwrap();
        assert_eq!(s.repo, "HuggingFaceTB/SmolLM2-135M-Instruct");
        assert_eq!(s.revision, "main");
        assert_eq!(s.file, None);
        let s: HubSpec = "hf:o/n@refs/pr/1:sub/M.Q4_1.GGUF".parse().unwrap();
        assert_eq!(s.revision, "refs/pr/1");
        assert_eq!(s.file.as_deref(), Some("sub/M.Q4_1.GGUF"));
        assert_eq!(s.to_string(), "hf:o/n@refs/pr/1:sub/M.Q4_1.GGUF");
        let s: HubSpec = "hf:o/n:m.gguf".parse().unwrap();
        assert_eq!(
            (s.revision.as_str(), s.file.as_deref()),
            ("main", Some("m.gguf"))
        );
        for bad in [
            "hf:",
            "hf:gpt2",
            "hf:a/b/c",
            "hf:a/",
            "hf:a/b@",
            "hf:a/b:",
            "hf:a/b:model.safetensors",
            "hf:a/b:../x.gguf",
            "hf:a b/c",
            "hf:a/b@x/../y",
        ] {
            let e = bad.parse::<HubSpec>().unwrap_err();
            assert!(matches!(e, HubError::BadSpec { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn local_paths_are_not_specs() {
        for p in ["models/x.gguf", "./hf:x/y", "/abs/hf:a/b", "hf"] {
            assert!(HubSpec::from_arg(Path::new(p)).is_none(), "{p}");
        }
        assert!(HubSpec::from_arg(Path::new("hf:a/b")).is_some());
    }

    #[test]
    fn options_follow_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let o = HubOptions::from_vars(env(&[("HOME", "/h")])).unwrap();
        assert_eq!(o.cache_dir, Path::new("/h/.cache/huggingface/hub"));
        assert_eq!(o.endpoint, DEFAULT_ENDPOINT);
        assert!(!o.offline && o.progress);
        let o = HubOptions::from_vars(env(&[
            ("HOME", "/h"),
            ("HF_HOME", "/hf"),
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_TOKEN", "hf_x"),
            ("HF_HUB_OFFLINE", "1"),
        ]))
        .unwrap();
        assert_eq!(o.cache_dir, Path::new("/hf/hub"));
        assert_eq!(o.endpoint, "http://127.0.0.1:9");
        assert_eq!(o.token.as_deref(), Some("hf_x"));
        assert!(o.offline);
        let o = HubOptions::from_vars(env(&[
            ("HF_HOME", "/hf"),
            ("HF_HUB_CACHE", "/c"),
            ("HF_HUB_OFFLINE", "0"),
        ]))
        .unwrap();
        assert_eq!(o.cache_dir, Path::new("/c"));
        assert!(!o.offline);
        assert!(matches!(
            HubOptions::from_vars(|_| None),
            Err(HubError::NoCacheDir)
        ));
    }
}
