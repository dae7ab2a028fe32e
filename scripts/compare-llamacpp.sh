#!/usr/bin/env bash
# painters / llama.cpp speed ratios on the same GGUF, measured side by side in one run (issue 21).
#
# Builds llama.cpp's `llama-bench` and `llama-quantize` from the `llama-cpp-python` sdist (the
# llama.cpp sources it vendors; one PyPI download, then offline) with -DGGML_NATIVE=ON, into a
# cache outside the repository, and makes F16 / F32 files from the SmolLM2-135M GGUF (shipped as
# Q4_1) with `llama-quantize`. The build takes ≈ 10 minutes on 2 cores (it runs niced); later runs
# reuse it. Then, for each of --rounds rounds, interleaved so that drift of the machine reaches
# both sides alike: `llama-bench -p 128 -n 32` on Q4_1, F16 and F32, and `painters bench
# --weights native` (identity) on the Q4_1 file.
#
# Usage: scripts/compare-llamacpp.sh [--threads N] [--reps N] [--rounds N] [--out FILE.json]
#   env: PAINTERS_MODELS_DIR (default <repo>/models), LLAMACPP_CACHE (default
#        ~/.cache/painters-llamacpp), LLAMACPP_VERSION (a llama-cpp-python version; default the
#        newest), PYTHON (default python3), PAINTERS_BIN (default: <repo>/target/release/painters,
#        built when missing)
#
# Output: every llama-bench record and painters bench JSON gathered into FILE.json (default
# $LLAMACPP_CACHE/results.json); on stdout a CSV of medians over the rounds:
#   engine,type,test,threads,tok_s
# (test: pp128 = prompt of 128 tokens, tg32 = 32 single-token decode steps; painters' tg32 is
# its "1-token prompt + 32 new" figure) and the two acceptance ratios of issue 21:
#   prompt: painters native pp128 / llama.cpp's fastest pp128 over Q4_1, F16, F32
#   decode: painters native tg32 / llama.cpp Q4_1 tg32
# Threads: llama-bench -t N; painters with RAYON_NUM_THREADS=N.
set -euo pipefail

threads=2
reps=5
rounds=3
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${LLAMACPP_CACHE:-$HOME/.cache/painters-llamacpp}"
out=""
python="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
out="${out:-$cache/results.json}"
models="${PAINTERS_MODELS_DIR:-$root/models}"
q41="$models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$q41" ] || { echo "$q41 not found: run scripts/fetch-models.sh" >&2; exit 1; }
mkdir -p "$cache"

bin="$cache/build/bin"
if [ ! -x "$bin/llama-bench" ] || [ ! -x "$bin/llama-quantize" ]; then
  # cmake from PyPI when the system has none
  if ! command -v cmake >/dev/null; then
    [ -x "$cache/venv/bin/cmake" ] || {
      "$python" -m venv "$cache/venv"
      "$cache/venv/bin/pip" install -q cmake
    }
    export PATH="$cache/venv/bin:$PATH"
  fi
  spec="llama-cpp-python${LLAMACPP_VERSION:+==$LLAMACPP_VERSION}"
  if ! ls "$cache"/sdist/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
    # `--no-binary llama-cpp-python` (not `:all:`): the sdist's metadata step would otherwise
    # build its build dependencies (cmake among them) from source too.
    "$python" -m pip download -q --no-deps --no-binary llama-cpp-python "$spec" -d "$cache/sdist"
  fi
  sdist="$(ls "$cache"/sdist/llama_cpp_python-*.tar.gz | tail -1)"
  rm -rf "$cache/src" && mkdir -p "$cache/src"
  tar -xzf "$sdist" -C "$cache/src" --strip-components=1
  echo "building llama.cpp from $(basename "$sdist") (≈ 10 min on 2 cores)" >&2
  nice cmake -S "$cache/src/vendor/llama.cpp" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF >"$cache/cmake.log"
  nice cmake --build "$cache/build" --target llama-bench llama-quantize -j "$(nproc)" \
    >"$cache/build.log"
fi

declare -A files=([Q4_1]="$q41")
for t in F16 F32; do
  f="$cache/SmolLM2-135M-Instruct.$t.gguf"
  [ -f "$f" ] || "$bin/llama-quantize" --allow-requantize "$q41" "$f" "$t" >"$cache/quantize-$t.log" 2>&1
  files[$t]="$f"
done

painters="${PAINTERS_BIN:-$root/target/release/painters}"
if [ -z "${PAINTERS_BIN:-}" ]; then
  (cd "$root" && cargo build -q --release -p painters-cli)
fi
[ -x "$painters" ] || { echo "$painters: not an executable" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for round in $(seq 1 "$rounds"); do
  echo "round $round of $rounds" >&2
  for t in Q4_1 F16 F32; do
    "$bin/llama-bench" -m "${files[$t]}" -p 128 -n 32 -t "$threads" -r "$reps" -o json \
      >"$work/llama-$round-$t.json" 2>/dev/null
  done
  RAYON_NUM_THREADS="$threads" "$painters" bench --model "$q41" --weights native \
    --schedules identity --long-prompt 0 --repeats "$reps" --json "$work/painters-$round.json" \
    >/dev/null 2>&1
done

"$python" - "$work" "$rounds" "$threads" "$out" <<'PY'
import json, statistics, sys
from pathlib import Path
work, rounds, threads, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
med = statistics.median
llama, painters, raw = {}, {"pp128": [], "tg32": []}, {"llama_bench": [], "painters_bench": []}
for r in range(1, rounds + 1):
    for t in ("Q4_1", "F16", "F32"):
        for rec in json.loads((work / f"llama-{r}-{t}.json").read_text()):
            test = f"pp{rec['n_prompt']}" if rec["n_gen"] == 0 else f"tg{rec['n_gen']}"
            llama.setdefault((t, test), []).append(rec["avg_ts"])
            raw["llama_bench"].append(dict(rec, painters_type=t, round=r))
    p = json.loads((work / f"painters-{r}.json").read_text())
    painters["pp128"].append(128e3 / p["forward_1x128_ms"])
    painters["tg32"].append(p["decode_tg32"]["tokens_per_s"])
    raw["painters_bench"].append(dict(p, round=r))
print("engine,type,test,threads,tok_s")
for (t, test), v in sorted(llama.items()):
    print(f"llama.cpp,{t},{test},{threads},{med(v):.2f}")
for test, v in painters.items():
    print(f"painters,native(Q4_1),{test},{threads},{med(v):.2f}")
fastest = max((t for t in ("Q4_1", "F16", "F32")), key=lambda t: med(llama[(t, "pp128")]))
prompt = med(painters["pp128"]) / med(llama[(fastest, "pp128")])
decode = med(painters["tg32"]) / med(llama[("Q4_1", "tg32")])
print(f"ratio,prompt,painters native / llama.cpp {fastest} (fastest),{threads},{prompt:.3f}")
print(f"ratio,decode,painters native / llama.cpp Q4_1,{threads},{decode:.3f}")
raw["ratios"] = {"prompt": prompt, "prompt_vs": fastest, "decode": decode, "threads": int(threads), "rounds": rounds}
Path(out).write_text(json.dumps(raw, indent=1) + "\n")
PY
echo "records: $out" >&2
