//! Fetching what a spec needs into the HF cache (or finding it there): the `.gguf` file, or the
//! files of a HF-layout repo, sharded weights included.

use std::path::{Path, PathBuf};

use hf_hub::Cache;
use hf_hub::api::sync::{Api, ApiBuilder, ApiError, ApiRepo};

use crate::hub::error::HubError;
use crate::hub::options::HubOptions;
use crate::hub::spec::HubSpec;

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
