//! Issue 21's scale check at test size: a checkpoint with Llama-2-7B's shapes (hidden 4096, 32
//! heads, FFN 11008, vocabulary 32000, untied head) and 4 of its 32 blocks, random weights, made by
//! `scripts/make-synthetic-llama2-7b.py` as BF16 safetensors and as Q8_0 / Q4_0 GGUF (quantised by
//! the PyPI `gguf` package, the reference quantiser). Each is loaded with `--weights native` (the
//! matrices stay as stored, memory-mapped) in a child process that runs a 16-token forward pass and
//! an 8-token cached decode; the child's peak resident set must stay within 1.15 × the file's size
//! plus 300 MB, and the cached decode must give the uncached forward's logits. The prompt's logits are
//! checked against the script's numpy forward pass on exactly the weights the file holds.
//!
//! Tolerances (relative max logit difference; measured 2026-12-06 in brackets): BF16 against numpy
//! 1e-4 (1.4e-6: f32 accumulation only); Q8_0 and Q4_0 0.08 (0.031, 0.033: the native products
//! quantise activations to 8 bits, and this random model amplifies small changes — Q4_0's own
//! rounding moves its logits 0.65 against f32's); the cached decode against the uncached forward
//! 1e-4 for BF16, 0.05 for the quantised files (the prompt path and the decode path quantise
//! activations in different groupings).
//!
//! Needs Python with `gguf` and `numpy` (`PAINTERS_PYTHON`, default `python3`); fails saying so
//! when they are missing. The files go to `$PAINTERS_SCALE_DIR` (kept and reused) or else to
//! `/dev/shm` (when it has room) or Cargo's test temp dir, one format at a time, deleted after its
//! check (CI's disk is small). The
//! full 32-block run (`PAINTERS_SCALE_BLOCKS=32`) is recorded in docs/performance.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn::tensor::Device;
use painters::exec::Transformer;
use painters::{KvMode, LayerSchedule, Plan};
use painters_llama::generate::{GenerateOptions, generate};
use painters_llama::{DecoderInput, DecoderModel, LoadOptions, WeightMode};

/// Set (to the checkpoint's path) in the child process.
const CHILD: &str = "PAINTERS_SCALE_CHILD";
/// Where the child writes the prompt's last-position logits (f32 little-endian).
const CHILD_LOGITS: &str = "PAINTERS_SCALE_LOGITS";
/// Blocks of the checkpoint: 4 here, `PAINTERS_SCALE_BLOCKS=32` for the full model (outside CI).
fn blocks() -> usize {
    std::env::var("PAINTERS_SCALE_BLOCKS")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(4)
}
const PROMPT: usize = 16;
const NEW: usize = 8;
const MB: f64 = 1e6;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The quantised files' tolerance at the test's 4 blocks; at other depths the differences are
/// printed, not asserted: 8-bit activations perturb every block's input a little, and through
/// random (untrained) blocks that grows with depth — at 32 blocks the cached decode and the
/// uncached forward of the Q4_0 file differ by 7e-2 — while the BF16 file, without that
/// rounding, is held to 1e-4 at every depth.
fn quantised_tolerance(at_4_blocks: f32) -> f32 {
    if blocks() == 4 {
        at_4_blocks
    } else {
        f32::INFINITY
    }
}

/// The prompt: 16 token ids, as the script's `--prompt` takes them.
fn prompt() -> Vec<u32> {
    (0..PROMPT as u32)
        .map(|i| 1 + (i * 7919) % 31_999)
        .collect()
}

/// Max |a − b| relative to the largest |b|.
fn rel_max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

/// Where the generated files go when `PAINTERS_SCALE_DIR` is not set: memory (`/dev/shm`) when it
/// has room for the largest file (2.2 GB at 4 blocks) and more, so that a small CI disk is not
/// filled; else Cargo's test temp dir.
fn scratch_dir() -> PathBuf {
    let free = |dir: &str| -> Option<u64> {
        let out = Command::new("df")
            .args(["-B1", "--output=avail", dir])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)?
            .trim()
            .parse()
            .ok()
    };
    match free("/dev/shm") {
        Some(bytes) if bytes > 4 << 30 => {
            PathBuf::from(format!("/dev/shm/painters-scale-7b-{}", std::process::id()))
        }
        _ => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scale-7b"),
    }
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

/// The child's work: load, forward, cached decode, check, report.
fn child(path: &Path) {
    let model = DecoderModel::load_with(
        path,
        &Device::flex(),
        LoadOptions {
            weights: WeightMode::Native,
            exec: None,
        },
    )
    .unwrap();
    assert_eq!(model.num_blocks(), blocks());
    let plan = Plan::compile(&LayerSchedule::full(blocks()), blocks(), KvMode::Exact).unwrap();
    let opts = GenerateOptions {
        max_new_tokens: NEW,
        keep_logits: true,
        ..Default::default()
    };
    let g = generate(&model, &plan, &prompt(), &opts, |_| false).unwrap();
    assert_eq!(g.new_ids.len(), NEW);
    // The last step came from the KV cache; the same position computed without it:
    let mut ids = prompt();
    ids.extend(&g.new_ids[..NEW - 1]);
    let vocab = model.config().vocab_size;
    let full: Vec<f32> = model
        .forward(&plan, &DecoderInput::new(&[ids]).unwrap(), None, &mut ())
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let uncached = &full[full.len() - vocab..];
    let cached = &g.step_logits[NEW - 1];
    assert!(cached.iter().all(|x| x.is_finite()));
    let diff = rel_max_diff(cached, uncached);
    println!("cache_vs_uncached={diff:e}");
    let tolerance = if path.is_dir() {
        1e-4
    } else {
        quantised_tolerance(0.05)
    };
    assert!(
        diff < tolerance,
        "cached decode vs uncached forward: {diff:e}"
    );
    if let Ok(out) = std::env::var(CHILD_LOGITS) {
        // The prompt's logits: the same input in every format (the generated tokens may differ).
        let bytes: Vec<u8> = g.step_logits[0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        std::fs::write(out, bytes).unwrap();
    }
    println!("peak_rss_bytes={}", peak_rss_bytes());
}

/// Runs only as the child process of the test below.
#[test]
fn scale_child() {
    if let Ok(path) = std::env::var(CHILD) {
        child(Path::new(&path));
    }
}

#[test]
#[cfg(target_os = "linux")]
fn llama2_7b_shapes_run_within_the_memory_bound() {
    let python = std::env::var("PAINTERS_PYTHON").unwrap_or_else(|_| "python3".into());
    let (dir, keep) = match std::env::var("PAINTERS_SCALE_DIR") {
        Ok(d) => (PathBuf::from(d), true),
        Err(_) => (scratch_dir(), false),
    };
    // Removes the scratch folder however the test ends (in /dev/shm it holds memory).
    struct Cleanup(Option<PathBuf>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            if let Some(d) = &self.0 {
                std::fs::remove_dir_all(d).ok();
            }
        }
    }
    let _cleanup = Cleanup((!keep).then(|| dir.clone()));
    let ids: Vec<String> = prompt().iter().map(|t| t.to_string()).collect();
    for format in ["q4_0", "q8_0", "bf16"] {
        let made = Command::new(&python)
            .arg(repo().join("scripts/make-synthetic-llama2-7b.py"))
            .args([
                "--blocks",
                &blocks().to_string(),
                "--formats",
                format,
                "--out",
            ])
            .arg(&dir)
            .args(["--prompt", &ids.join(",")])
            .output()
            .unwrap_or_else(|e| panic!("running {python}: {e}"));
        assert!(
            made.status.success(),
            "scripts/make-synthetic-llama2-7b.py failed; it needs Python with gguf and numpy \
             (`{python} -m pip install gguf==0.19.0 numpy`, or point PAINTERS_PYTHON at one):\n{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let line = String::from_utf8_lossy(&made.stdout).trim().to_string();
        let mut fields = line.split_whitespace().skip(1);
        let path = PathBuf::from(fields.next().expect("the script's path field"));
        let file_bytes: u64 = fields
            .next()
            .and_then(|b| b.parse().ok())
            .expect("the script's size field");
        let file = if path.is_dir() {
            path.join("model.safetensors")
        } else {
            path.clone()
        };
        let reference = read_f32(&PathBuf::from(format!("{}.logits", file.display())));

        let logits_file = dir.join(format!("{format}.logits"));
        let run = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "scale_child", "--nocapture", "--test-threads=1"])
            .env(CHILD, &path)
            .env(CHILD_LOGITS, &logits_file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout).to_string();
        assert!(
            run.status.success(),
            "{format}: the child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let peak: u64 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("peak_rss_bytes="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{format}: no peak in the child's output:\n{stdout}"));
        let bound = 1.15 * file_bytes as f64 + 300.0 * MB;
        eprintln!(
            "{format}: file {:.1} MB, peak RSS {:.1} MB = {:.3} × file, bound {:.1} MB",
            file_bytes as f64 / MB,
            peak as f64 / MB,
            peak as f64 / file_bytes as f64,
            bound / MB
        );
        assert!(
            (peak as f64) <= bound,
            "{format}: peak RSS {peak} bytes over 1.15 × {file_bytes} + 300 MB"
        );
        let ours = read_f32(&logits_file);
        let diff = rel_max_diff(&ours, &reference);
        let cache = stdout
            .lines()
            .find_map(|l| l.split("cache_vs_uncached=").nth(1))
            .unwrap_or("?");
        eprintln!(
            "{format}: prompt logits vs numpy on the same weights {diff:e}; cached vs uncached {cache}"
        );
        let tolerance = if format == "bf16" {
            1e-4
        } else {
            quantised_tolerance(0.08)
        };
        assert!(diff < tolerance, "{format}: logits vs numpy: {diff:e}");
        if !keep {
            std::fs::remove_file(&logits_file).ok();
            let name = path.file_name().map(|n| n.to_string_lossy().to_string());
            std::fs::remove_file(dir.join(format!("{}.stamp", name.unwrap_or_default()))).ok();
            std::fs::remove_file(format!("{}.logits", file.display())).ok();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).ok();
            } else {
                std::fs::remove_file(&path).ok();
            }
        }
    }
}
