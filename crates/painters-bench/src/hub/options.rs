//! Where and how to reach the hub: endpoint, cache, token, offline mode, as `huggingface_hub`
//! reads them from the environment.

use std::path::{Path, PathBuf};

use crate::hub::error::HubError;

/// The hub used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

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

#[cfg(test)]
mod tests {
    use super::*;

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
