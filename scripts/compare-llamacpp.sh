#!/usr/bin/env bash
# llama.cpp's speed on this machine, for the painters / llama.cpp ratios of issue 21.
#
# Builds llama.cpp's `llama-bench` and `llama-quantize` from the `llama-cpp-python` sdist (the
# llama.cpp sources it vendors; one PyPI download, then offline) with -DGGML_NATIVE=ON, into a
# cache outside the repository, and runs `llama-bench -p 128 -n 32` on the SmolLM2-135M GGUF as
# shipped (Q4_1) and as F16 / F32 files made from it with `llama-quantize`. The build takes
# ≈ 10 minutes on 2 cores (it runs niced); later runs reuse it.
#
# Usage: scripts/compare-llamacpp.sh [--threads N] [--reps N] [--out FILE.json]
#   env: PAINTERS_MODELS_DIR (default <repo>/models), LLAMACPP_CACHE (default
#        ~/.cache/painters-llamacpp), LLAMACPP_VERSION (a llama-cpp-python version; default the
#        newest), PYTHON (default python3)
#
# Output: llama-bench's JSON records, one per (model file, test), gathered into one JSON array
# (FILE.json, default $LLAMACPP_CACHE/results.json), and a CSV summary on stdout:
#   type,test,n_prompt,n_gen,threads,avg_ts,stddev_ts
# where avg_ts is tokens per second (prompt tokens for pp128, generated tokens for tg32). The
# painters side of the comparison runs `painters bench` on the same file in the same session.
set -euo pipefail

threads=2
reps=5
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${LLAMACPP_CACHE:-$HOME/.cache/painters-llamacpp}"
out=""
python="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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

echo "[" >"$out"
first=1
echo "type,test,n_prompt,n_gen,threads,avg_ts,stddev_ts"
for t in Q4_1 F16 F32; do
  json="$("$bin/llama-bench" -m "${files[$t]}" -p 128 -n 32 -t "$threads" -r "$reps" -o json 2>/dev/null)"
  "$python" - "$t" "$json" <<'PY'
import json, sys
t, records = sys.argv[1], json.loads(sys.argv[2])
for r in records:
    test = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
    print(f"{t},{test},{r['n_prompt']},{r['n_gen']},{r['n_threads']},{r['avg_ts']:.2f},{r['stddev_ts']:.2f}")
PY
  # gather the raw records, tagged with the file type
  "$python" -c 'import json,sys; print(",\n".join(json.dumps(dict(r, painters_type=sys.argv[1])) for r in json.loads(sys.argv[2])))' "$t" "$json" \
    | { [ $first -eq 1 ] || echo ","; cat; } >>"$out"
  first=0
done
echo "]" >>"$out"
echo "llama-bench records: $out" >&2
