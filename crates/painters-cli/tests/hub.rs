//! `--model hf:…` against a local stand-in for the Hugging Face hub: an in-process HTTP server that
//! answers the hub's `resolve` endpoint (`GET/HEAD /{owner}/{name}/resolve/{revision}/{file}`, with
//! the `x-repo-commit`, `etag`/`x-linked-etag`, `content-range` headers and the `x-error-code` 404s
//! that hf-hub and huggingface_hub read) from local folders, counting requests. No test reaches the
//! network; every cache is a fresh temp folder.
//!
//! Serves the tiny fixture Llama (a HF folder without tokenizer), a two-shard copy of it, and the real
//! SmolLM2 GGUF (never skipped: a missing model fails, run `scripts/fetch-models.sh`).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan};
use painters_bench::hub::{HubError, HubOptions, HubSpec, resolve};
use painters_bench::models;
use painters_llama::{LlamaInput, LlamaModel};
use sha2::{Digest, Sha256};

const GGUF: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tiny_dir() -> PathBuf {
    root().join("tests/fixtures/models/tiny-llama")
}

fn smollm2_dir() -> PathBuf {
    let dir = root().join("models/smollm2-135m-instruct");
    assert!(
        dir.join(GGUF).is_file(),
        "{} missing; run scripts/fetch-models.sh",
        dir.join(GGUF).display()
    );
    dir
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("painters-hub-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One repo on the fake hub: its commit and files (name → local file, etag).
struct FakeRepo {
    commit: String,
    files: BTreeMap<String, (PathBuf, String)>,
}

impl FakeRepo {
    /// Every file of `dir`, at a commit derived from the repo id.
    fn from_dir(repo: &str, dir: &Path) -> Self {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let etag = models::sha256_file(&path).unwrap();
                files.insert(name, (path, etag));
            }
        }
        FakeRepo {
            commit: fake_commit(repo),
            files,
        }
    }
}

/// The commit hash the fake hub gives `repo`.
fn fake_commit(repo: &str) -> String {
    sha256_hex(repo)[..40].to_string()
}

/// The fake hub: its base URL and the requests it has answered (method and path).
struct FakeHub {
    endpoint: String,
    log: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
}

impl FakeHub {
    fn start(repos: Vec<(&str, FakeRepo)>) -> Self {
        let repos: Arc<HashMap<String, FakeRepo>> = Arc::new(
            repos
                .into_iter()
                .map(|(id, r)| (id.to_string(), r))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (log2, count2) = (log.clone(), count.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (repos, log, count) = (repos.clone(), log2.clone(), count2.clone());
                std::thread::spawn(move || {
                    let _ = answer(stream, &repos, &log, &count);
                });
            }
        });
        FakeHub {
            endpoint,
            log,
            count,
        }
    }

    fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn options(&self, cache: &Path) -> HubOptions {
        let mut o = HubOptions::new(cache);
        o.endpoint = self.endpoint.clone();
        o
    }
}

/// Answer one request and close the connection.
fn answer(
    stream: TcpStream,
    repos: &HashMap<String, FakeRepo>,
    log: &Mutex<Vec<String>>,
    count: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    log.lock().unwrap().push(format!("{method} {target}"));
    let mut out = stream;
    let not_found = |out: &mut TcpStream, code: &str, commit: Option<&str>| {
        let commit = commit
            .map(|c| format!("x-repo-commit: {c}\r\n"))
            .unwrap_or_default();
        write!(
            out,
            "HTTP/1.1 404 Not Found\r\nx-error-code: {code}\r\nx-error-message: {code}\r\n{commit}content-length: 0\r\nconnection: close\r\n\r\n"
        )
    };
    // /{owner}/{name}/resolve/{revision}/{file}
    let segs: Vec<&str> = target.trim_start_matches('/').splitn(5, '/').collect();
    let [owner, name, "resolve", revision, file] = segs[..] else {
        return not_found(&mut out, "RepoNotFound", None);
    };
    let Some(repo) = repos.get(&format!("{owner}/{name}")) else {
        return not_found(&mut out, "RepoNotFound", None);
    };
    if revision != "main" && revision != repo.commit {
        return not_found(&mut out, "RevisionNotFound", None);
    }
    let Some((path, etag)) = repo.files.get(file) else {
        return not_found(&mut out, "EntryNotFound", Some(&repo.commit));
    };
    let size = std::fs::metadata(path)?.len();
    let (status, start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let a: u64 = a.parse().unwrap_or(0);
            let b: u64 = b.parse().unwrap_or(size - 1).min(size - 1);
            ("206 Partial Content", a, b)
        }
        None => ("200 OK", 0, size - 1),
    };
    let len = end + 1 - start;
    // Large files are LFS on the hub: their etag comes as x-linked-etag.
    let lfs = file.ends_with(".safetensors") || file.ends_with(".gguf");
    let etag_header = if lfs {
        format!("x-linked-etag: \"{etag}\"\r\netag: \"git-{etag}\"\r\n")
    } else {
        format!("etag: \"{etag}\"\r\n")
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nx-repo-commit: {}\r\n{etag_header}accept-ranges: bytes\r\ncontent-range: bytes {start}-{end}/{size}\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n",
        repo.commit
    )?;
    if method != "HEAD" {
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        std::io::copy(&mut f.take(len), &mut out)?;
    }
    out.flush()
}

fn spec(text: &str) -> HubSpec {
    text.parse().unwrap()
}

/// Full-model logits of the tiny Llama at `path`, as bit patterns.
fn logits_bits(path: &Path) -> Vec<u32> {
    let model = LlamaModel::load(path, &Device::flex()).unwrap();
    let n = model.num_blocks();
    let plan = Plan::compile(&LayerSchedule::full(n), n, KvMode::Exact).unwrap();
    let input = LlamaInput::new(&[vec![5, 17, 200, 3, 99]]).unwrap();
    model
        .forward(&plan, &input, None, &mut ())
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

#[test]
fn hf_layout_repo_downloads_and_loads_bit_identically() {
    let repo = "painters-test/tiny-llama";
    let hub = FakeHub::start(vec![(repo, FakeRepo::from_dir(repo, &tiny_dir()))]);
    let cache = scratch("layout");
    let opts = hub.options(&cache);
    let dir = resolve(&spec("hf:painters-test/tiny-llama"), &opts).unwrap();
    assert!(dir.starts_with(cache.join("models--painters-test--tiny-llama/snapshots")));
    for f in ["config.json", "generation_config.json", "model.safetensors"] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(tiny_dir().join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(!dir.join("tokenizer.json").exists());
    let log = hub.log();
    assert!(
        log.iter().any(|l| l.ends_with("/tokenizer.json")),
        "{log:?}"
    );
    assert!(!log.iter().any(|l| l.contains("index.json")), "{log:?}");
    assert_eq!(logits_bits(&dir), logits_bits(&tiny_dir()));

    // Again, online: everything (including tokenizer.json's absence) comes from the cache.
    let before = hub.requests();
    assert_eq!(
        resolve(&spec("hf:painters-test/tiny-llama"), &opts).unwrap(),
        dir
    );
    assert_eq!(hub.requests(), before, "{:?}", hub.log());
    // Offline, also by commit: the same folder, no request.
    let mut offline = opts.clone();
    offline.offline = true;
    offline.endpoint = "http://127.0.0.1:9".into();
    assert_eq!(
        resolve(&spec("hf:painters-test/tiny-llama"), &offline).unwrap(),
        dir
    );
    let pinned = format!("hf:{repo}@{}", fake_commit(repo));
    assert_eq!(resolve(&spec(&pinned), &offline).unwrap(), dir);
    assert_eq!(hub.requests(), before);
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn gguf_file_repo_resolves_to_the_same_bytes() {
    let repo = "painters-test/smollm2-gguf";
    let hub = FakeHub::start(vec![(repo, FakeRepo::from_dir(repo, &smollm2_dir()))]);
    let cache = scratch("gguf");
    let opts = hub.options(&cache);
    let text = format!("hf:{repo}:{GGUF}");
    let path = resolve(&spec(&text), &opts).unwrap();
    assert!(path.ends_with(GGUF), "{}", path.display());
    assert_eq!(
        models::sha256_file(&path).unwrap(),
        models::sha256_file(&smollm2_dir().join(GGUF)).unwrap()
    );
    assert!(
        hub.log().iter().all(|l| l.ends_with(GGUF)),
        "{:?}",
        hub.log()
    );

    // Offline: from the cache, without a request; pinned by commit too.
    let before = hub.requests();
    let mut offline = opts.clone();
    offline.offline = true;
    assert_eq!(resolve(&spec(&text), &offline).unwrap(), path);
    let pinned = format!("hf:{repo}@{}:{GGUF}", fake_commit(repo));
    assert_eq!(resolve(&spec(&pinned), &offline).unwrap(), path);
    assert_eq!(hub.requests(), before);
    // Offline, a file the cache lacks: a typed error that says so.
    let e = resolve(&spec(&format!("hf:{repo}:other.gguf")), &offline).unwrap_err();
    assert!(
        matches!(&e, HubError::Offline { file, .. } if file == "other.gguf"),
        "{e}"
    );
    assert!(e.to_string().contains("HF_HUB_OFFLINE"), "{e}");
    assert_eq!(hub.requests(), before);
    // Online, a file the repo lacks: named with its repo and URL.
    let e = resolve(&spec(&format!("hf:{repo}:missing.gguf")), &opts).unwrap_err();
    let HubError::FileNotFound {
        repo: r, file, url, ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!((r.as_str(), file.as_str()), (repo, "missing.gguf"));
    assert_eq!(
        url,
        &format!("{}/{repo}/resolve/main/missing.gguf", hub.endpoint)
    );
    assert!(e.to_string().contains(url.as_str()), "{e}");
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn offline_with_an_empty_cache_is_a_typed_error() {
    let hub = FakeHub::start(vec![]);
    let cache = scratch("offline-empty");
    let mut opts = hub.options(&cache);
    opts.offline = true;
    for (text, want) in [
        ("hf:painters-test/tiny-llama", "config.json"),
        ("hf:painters-test/tiny-llama@v1:m.gguf", "m.gguf"),
    ] {
        let e = resolve(&spec(text), &opts).unwrap_err();
        let HubError::Offline { repo, file, .. } = &e else {
            panic!("{text}: {e}")
        };
        assert_eq!(
            (repo.as_str(), file.as_str()),
            ("painters-test/tiny-llama", want)
        );
        let msg = e.to_string();
        assert!(
            msg.contains("HF_HUB_OFFLINE") && msg.contains(want),
            "{msg}"
        );
        assert!(e.hint().contains("HF_HUB_OFFLINE"), "{}", e.hint());
    }
    assert_eq!(hub.requests(), 0);
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn unknown_repo_and_revision_are_typed_errors() {
    let repo = "painters-test/tiny-llama";
    let hub = FakeHub::start(vec![(repo, FakeRepo::from_dir(repo, &tiny_dir()))]);
    let cache = scratch("404");
    let opts = hub.options(&cache);
    for text in ["hf:nobody/no-such-model", "hf:nobody/no-such-model:x.gguf"] {
        let e = resolve(&spec(text), &opts).unwrap_err();
        let HubError::RepoNotFound { repo, status, url } = &e else {
            panic!("{text}: {e}")
        };
        assert_eq!((repo.as_str(), *status), ("nobody/no-such-model", 404));
        assert!(url.starts_with(&hub.endpoint), "{url}");
        assert!(e.to_string().contains("nobody/no-such-model"), "{e}");
    }
    let e = resolve(&spec("hf:painters-test/tiny-llama@no-such-branch"), &opts).unwrap_err();
    assert!(
        matches!(&e, HubError::RevisionNotFound { revision, .. } if revision == "no-such-branch"),
        "{e}"
    );
    // Nothing half-made is taken for a cached model afterwards.
    let mut offline = opts.clone();
    offline.offline = true;
    assert!(matches!(
        resolve(&spec("hf:nobody/no-such-model"), &offline),
        Err(HubError::Offline { .. })
    ));
    std::fs::remove_dir_all(&cache).unwrap();
}

/// A safetensors file's header and data section.
fn read_safetensors(path: &Path) -> (serde_json::Map<String, serde_json::Value>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header.as_object().unwrap().clone(), bytes[8 + n..].to_vec())
}

/// Write the named tensors of (header, data) as one safetensors file.
fn write_safetensors(
    path: &Path,
    header: &serde_json::Map<String, serde_json::Value>,
    data: &[u8],
    names: &[&String],
) {
    let mut out_header = serde_json::Map::new();
    let mut out_data = Vec::new();
    for name in names {
        let t = &header[name.as_str()];
        let offsets = t["data_offsets"].as_array().unwrap();
        let (a, b) = (
            offsets[0].as_u64().unwrap() as usize,
            offsets[1].as_u64().unwrap() as usize,
        );
        let start = out_data.len();
        out_data.extend_from_slice(&data[a..b]);
        out_header.insert(
            name.to_string(),
            serde_json::json!({
                "dtype": t["dtype"], "shape": t["shape"], "data_offsets": [start, out_data.len()]
            }),
        );
    }
    let mut h = serde_json::Value::Object(out_header)
        .to_string()
        .into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    bytes.extend_from_slice(&out_data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn sharded_repo_downloads_every_shard() {
    // A two-shard copy of the fixture: embeddings and blocks 0-2 in one, the rest in the other.
    let src = scratch("sharded-src");
    std::fs::copy(tiny_dir().join("config.json"), src.join("config.json")).unwrap();
    let (header, data) = read_safetensors(&tiny_dir().join("model.safetensors"));
    let names: Vec<&String> = header.keys().filter(|k| *k != "__metadata__").collect();
    let first =
        |n: &str| n.contains("embed") || (0..3).any(|i| n.contains(&format!("layers.{i}.")));
    let shard_of = |n: &str| {
        if first(n) {
            "model-00001-of-00002.safetensors"
        } else {
            "model-00002-of-00002.safetensors"
        }
    };
    for shard in [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        let mine: Vec<&String> = names
            .iter()
            .copied()
            .filter(|n| shard_of(n) == shard)
            .collect();
        assert!(!mine.is_empty());
        write_safetensors(&src.join(shard), &header, &data, &mine);
    }
    let map: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|n| (n.to_string(), shard_of(n).into()))
        .collect();
    let index = serde_json::json!({"metadata": {"total_size": data.len()}, "weight_map": map});
    std::fs::write(src.join("model.safetensors.index.json"), index.to_string()).unwrap();

    let repo = "painters-test/tiny-llama-sharded";
    let hub = FakeHub::start(vec![(repo, FakeRepo::from_dir(repo, &src))]);
    let cache = scratch("sharded-cache");
    let opts = hub.options(&cache);
    let dir = resolve(&spec(&format!("hf:{repo}")), &opts).unwrap();
    for f in [
        "config.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert!(!dir.join("model.safetensors").exists());
    assert_eq!(
        models::weight_file(&dir),
        dir.join("model.safetensors.index.json")
    );
    assert_eq!(logits_bits(&dir), logits_bits(&tiny_dir()));
    let before = hub.requests();
    assert_eq!(resolve(&spec(&format!("hf:{repo}")), &opts).unwrap(), dir);
    assert_eq!(hub.requests(), before, "{:?}", hub.log());
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::remove_dir_all(&src).unwrap();
}

/// The CLI with a clean hub environment: the fake hub's endpoint, the cache in `hf_home`.
fn painters(args: &[&str], endpoint: &str, hf_home: &Path, offline: bool) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_painters"));
    cmd.current_dir(root()).args(args);
    for v in [
        "HF_HUB_CACHE",
        "HF_TOKEN",
        "HF_TOKEN_PATH",
        "HF_HUB_OFFLINE",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("HF_ENDPOINT", endpoint).env("HF_HOME", hf_home);
    if offline {
        cmd.env("HF_HUB_OFFLINE", "1");
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_eval_takes_a_hub_gguf() {
    let repo = "painters-test/smollm2-gguf";
    let hub = FakeHub::start(vec![(repo, FakeRepo::from_dir(repo, &smollm2_dir()))]);
    let home = scratch("cli-home");
    let out = home.join("results.json");
    let model = format!("hf:{repo}:{GGUF}");
    let args = [
        "eval",
        "--model",
        &model,
        "--tasks",
        "winogrande",
        "--limit",
        "2",
        "--no-progress",
        "--out",
        out.to_str().unwrap(),
    ];
    let (ok, err) = painters(&args, &hub.endpoint, &home, false);
    assert!(ok, "{err}");
    assert!(hub.requests() > 0);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(v["results"]["winogrande"].is_object(), "{v}");
    assert_eq!(
        v["model_sha256"].as_str().unwrap(),
        models::sha256_file(&smollm2_dir().join(GGUF)).unwrap()
    );
    // Offline, with an empty cache: one line of cause, one of hint, no request.
    let before = hub.requests();
    let empty = scratch("cli-empty");
    let (ok, err) = painters(&args, &hub.endpoint, &empty, true);
    assert!(!ok);
    assert!(
        err.contains("error: ") && err.contains(GGUF) && err.contains("HF_HUB_OFFLINE"),
        "{err}"
    );
    assert!(err.contains("hint: unset HF_HUB_OFFLINE"), "{err}");
    assert_eq!(hub.requests(), before);
    std::fs::remove_dir_all(&home).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}
