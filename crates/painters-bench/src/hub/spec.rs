//! `hf:OWNER/NAME[@REVISION][:FILE.gguf]`, parsed.

use std::path::Path;
use std::str::FromStr;

use hf_hub::{Repo, RepoType};

use crate::hub::error::HubError;

/// The prefix that marks a `--model` argument as a hub repo.
pub const PREFIX: &str = "hf:";

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

    pub(crate) fn hf_repo(&self) -> Repo {
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
}
