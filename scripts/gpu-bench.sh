#!/usr/bin/env bash
# GPU figures for docs/performance.md, in one go on an NVIDIA machine:
#   1. a SmolLM2-135M-shaped checkpoint with random weights (benches/pytorch_gpu.py make-model);
#   2. `painters bench` on it, on each GPU device given (forward 1×128 / 8×128, decode, every
#      schedule, parallel steps sequential vs batched, decode per schedule);
#   3. `painters conformance` of the fixtures on each device (the numerical floor: a fast wrong
#      answer is no figure);
#   4. PyTorch + HF transformers eager on CUDA, same shapes and token ids (benches/pytorch_gpu.py);
#   5. a side-by-side table of 2 and 4 (OUT/summary.md).
#
# Usage: scripts/gpu-bench.sh OUT_DIR [PAINTERS_BINARY]
#   PAINTERS_BINARY defaults to target/release/painters, built with
#     cargo build --release -p painters-cli --features wgpu
#   (`--features cuda` too where the build can reach github.com: burn's CUDA stack downloads an LLVM
#   bundle at build time, see docs/backends.md). DEVICES (default "wgpu") names the devices to run,
#   e.g. DEVICES="wgpu cuda". WEIGHTS (default "f32 f16 bf16") are the weight modes benched and
#   checked on each device (half modes: device tensors with half-precision products; bf16 is
#   skipped on wgpu, which has none). REPEATS (default 7) and WARMUP
#   (default 2) go to `painters bench`.
#   With TOKENIZER=path/to/tokenizer.json (SmolLM2's), `painters eval` also runs EVAL_TASKS
#   (default lambada_openai,arc_easy,hellaswag) with --limit EVAL_LIMIT (300) for documents/s.
# Needs: an NVIDIA driver with Vulkan (libvulkan.so.1) for wgpu; python3 with torch (CUDA),
# transformers and safetensors. Each step has its own time limit, and a failed step does not stop
# the ones after it; the exit status is that of the first failure.
set -uo pipefail
out=${1:?usage: scripts/gpu-bench.sh OUT_DIR [PAINTERS_BINARY]}
bin=${2:-target/release/painters}
devices=${DEVICES:-wgpu}
weights=${WEIGHTS:-f32 f16 bf16}
repeats=${REPEATS:-7}
warmup=${WARMUP:-2}
cd "$(dirname "$0")/.."
mkdir -p "$out"
model=${MODEL_DIR:-$(mktemp -d)/smollm2-135m-shaped}
status=0
step() { # step NAME SECONDS COMMAND...: run, log, keep the first failure
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(date -u +%T))"
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" -ne 0 ] && [ "$status" -eq 0 ] && status=$rc
  return 0
}

{
  echo "== machine"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || status=1
  nproc
  ldconfig -p | grep 'libvulkan.so.1' >/dev/null || echo "no libvulkan.so.1: wgpu cannot reach the GPU (apt-get install libvulkan1)"
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null
  "$bin" --version || status=1

  [ -f "$model/model.safetensors" ] || step make-model 300 python3 benches/pytorch_gpu.py make-model "$model"
  # Speed first (what the machine is lent for), then the PyTorch side, then correctness and the harness.
  for d in $devices; do
    for w in $weights; do
      if [ "$d" = wgpu ] && [ "$w" = bf16 ]; then echo "== skip bf16 on wgpu (WGSL has no bf16)"; continue; fi
      step "painters bench --device $d --weights $w" 300 "$bin" bench --device "$d" --weights "$w" \
        --model "$model" --repeats "$repeats" --warmup "$warmup" --json "$out/painters-$d-$w.json"
    done
  done
  step "pytorch ${TORCH_DEVICE:-cuda}" 180 python3 benches/pytorch_gpu.py bench "$model" "$out/pytorch-cuda.json" --device "${TORCH_DEVICE:-cuda}"
  for d in $devices; do
    for w in $weights; do
      [ "$d" = wgpu ] && [ "$w" = bf16 ] && continue
      for m in tests/fixtures/manifest.json tests/fixtures-families/manifest.json; do
        step "painters conformance $m --device $d --weights $w" 120 "$bin" conformance "$m" --device "$d" --weights "$w"
      done
    done
    if [ -n "${TOKENIZER:-}" ]; then
      # The harness's documents/s (the scores of random weights mean nothing).
      cp "$TOKENIZER" "$model/tokenizer.json"
      step "painters eval --device $d" 180 "$bin" eval --model "$model" --device "$d" \
        --tasks "${EVAL_TASKS:-lambada_openai,arc_easy,hellaswag}" --limit "${EVAL_LIMIT:-300}" \
        --no-progress --out "$out/eval-$d.json"
    fi
  done
  exit "$status"
} 2>&1 | tee "$out/log.txt"
status=$?

python3 - "$out" <<'EOF' | tee "$out/summary.md"
import json, os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else None
torch = load("pytorch-cuda.json")
t = {(r["case"], r["dtype"]): r["median_s"] * 1e3 for r in (torch or {}).get("rows", [])}
if torch:
    print(f"PyTorch {torch['torch']}, transformers {torch['transformers']}, {torch['device']}, "
          f"attention {torch['attn_implementation']}, TF32 matmul {torch['tf32_matmul']}\n")
for name in sorted(os.listdir(out)):
    if not (name.startswith("painters-") and name.endswith(".json")):
        continue
    p = load(name)
    half = p.get("weights", "f32") != "f32"
    peer = "bfloat16" if half else "float32"
    print(f"### {p['device']}, weights {p.get('weights', 'f32')} ({p['command']})\n")
    print(f"| figure | painters | PyTorch f32 | PyTorch bf16 | PyTorch {'bf16' if half else 'f32'} time / painters time |")
    print("|---|---|---|---|---|")
    for label, ours, case in [("forward 1×128", p["forward_1x128_ms"], "forward 1x128"),
                              ("forward 8×128", p["forward_8x128_ms"], "forward 8x128"),
                              ("greedy decode 16+32", p["decode"]["median_ms"], "greedy decode 16+32")]:
        f32, bf16 = t.get((case, "float32")), t.get((case, "bfloat16"))
        cell = lambda v: f"{v:.1f} ms" if v else "n/a"
        base = t.get((case, peer))
        ratio = f"{base / ours:.2f}×" if base else "n/a"
        print(f"| {label} | {ours:.1f} ms | {cell(f32)} | {cell(bf16)} | {ratio} |")
    print("\n| schedule | forward 1×128 | vs identity | blocks | decode 16+32 | decode vs identity |")
    print("|---|---|---|---|---|---|")
    base = p["schedules"][0]
    for s in p["schedules"]:
        print(f"| {s['name']} | {s['forward_1x128_ms']:.1f} ms | {s['relative_time']:.2f}× | "
              f"{s['block_applications']} | {s['decode_tokens_per_s']:.1f} tok/s | "
              f"{s['decode_16_32_ms'] / base['decode_16_32_ms']:.2f}× |")
    print()
for name in sorted(os.listdir(out)):
    if name.startswith("eval-") and name.endswith(".json"):
        e = load(name)
        print(f"### painters eval on {name[5:-5]} (random weights: speed only)\n")
        print("| task | documents | task seconds | documents/s |\n|---|---|---|---|")
        for task, r in e["results"].items():
            n, secs = e["n-samples"][task]["effective"], float(e["task_seconds"][task])
            print(f"| {task} | {n} | {secs:.1f} | {n / secs:.1f} |")
        print()
EOF
exit $status
