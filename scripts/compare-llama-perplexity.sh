#!/usr/bin/env bash
# llama.cpp's `llama-perplexity` on a GGUF that `painters export` wrote under a schedule, against
# painters' own perplexity of the source model under that schedule, scored the same way (issue 22:
# the two must agree within 1 %).
#
# llama-perplexity cuts the tokenized text into chunks of --ctx tokens (the first token of each
# replaced by BOS when the model adds one) and averages the negative log-likelihood of the second
# half of every chunk. Here the same chunks — the token ids `llama-tokenize` gives for the same
# file, so both sides read identical tokens — go to `painters serve` (source model, schedule,
# --weights) as token-id prompts with `echo` and `logprobs`, and the same positions are averaged.
#
# Usage: scripts/compare-llama-perplexity.sh [--schedule S] [--ctx N] [--chunks N] [--weights W]
#                                             [--model GGUF] [--text FILE] [--threads N]
#   defaults: --schedule '0..=9, 14..=10, 12x2, 15..=29' --ctx 512 --chunks 20 --weights f32
#             --model models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
#             --text data/wikitext2/test.txt --threads 2
#   env: LLAMACPP_CACHE (default ~/.cache/painters-llamacpp: the llama.cpp build of
#        scripts/compare-llamacpp.sh; llama-perplexity and llama-tokenize are built there when
#        missing), PAINTERS_BIN (default <repo>/target/release/painters, built when missing),
#        PYTHON (default python3)
# Prints both perplexities, their ratio, and exits non-zero when they differ by more than 1 %.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
schedule='0..=9, 14..=10, 12x2, 15..=29'
ctx=512
chunks=20
weights=f32
model="$root/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
text="$root/data/wikitext2/test.txt"
threads=2
python="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --schedule) schedule="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --chunks) chunks="$2"; shift 2 ;;
    --weights) weights="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --text) text="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
cache="${LLAMACPP_CACHE:-$HOME/.cache/painters-llamacpp}"
bin="$cache/build/bin"
if [ ! -x "$bin/llama-perplexity" ] || [ ! -x "$bin/llama-tokenize" ]; then
  [ -f "$cache/build/CMakeCache.txt" ] || {
    echo "no llama.cpp build in $cache: run scripts/compare-llamacpp.sh once (it builds llama.cpp)" >&2
    exit 1
  }
  command -v cmake >/dev/null || export PATH="$cache/venv/bin:$PATH"
  echo "building llama-perplexity and llama-tokenize in $cache/build" >&2
  nice cmake --build "$cache/build" --target llama-perplexity llama-tokenize -j "$(nproc)" \
    >"$cache/build-perplexity.log"
fi
painters="${PAINTERS_BIN:-$root/target/release/painters}"
if [ -z "${PAINTERS_BIN:-}" ]; then
  (cd "$root" && cargo build -q --release -p painters-cli)
fi

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "export: $model under '$schedule'" >&2
"$painters" export --model "$model" --schedule "$schedule" --format gguf --out "$work/painted.gguf" \
  >/dev/null 2>"$work/export.log" || { cat "$work/export.log" >&2; exit 1; }

echo "llama-perplexity: -c $ctx --chunks $chunks -t $threads" >&2
"$bin/llama-perplexity" -m "$work/painted.gguf" -f "$text" -c "$ctx" -b "$ctx" --chunks "$chunks" \
  -t "$threads" >"$work/perplexity.log" 2>&1
llama_ppl="$(grep -o 'Final estimate: PPL = [0-9.]*' "$work/perplexity.log" | awk '{print $5}')"
[ -n "$llama_ppl" ] || { tail -20 "$work/perplexity.log" >&2; exit 1; }
"$bin/llama-tokenize" -m "$work/painted.gguf" -f "$text" --ids --log-disable >"$work/ids.txt" 2>/dev/null
# Whether the model adds BOS (llama-perplexity then puts one at the start of every chunk): the
# tokenizer's ids with and without it differ by one.
"$bin/llama-tokenize" -m "$work/painted.gguf" -f "$text" --ids --log-disable --no-bos \
  >"$work/ids-nobos.txt" 2>/dev/null
add_bos="$("$python" -c 'import json,sys; a,b=(len(json.loads(open(f).read().strip().splitlines()[-1])) for f in sys.argv[1:]); print(a-b)' "$work/ids.txt" "$work/ids-nobos.txt")"

echo "painters serve: --weights $weights" >&2
"$painters" serve --model "$model" --schedule "$schedule" --weights "$weights" --port 0 \
  >"$work/serve.out" 2>"$work/serve.log" &
server=$!
port=""
for _ in $(seq 1 300); do
  port="$(grep -ho 'http://127.0.0.1:[0-9]*' "$work/serve.log" "$work/serve.out" 2>/dev/null | head -1 | sed 's/.*://' || true)"
  [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 1
done
[ -n "$port" ] || { echo "painters serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

"$python" - "$work/ids.txt" "$ctx" "$chunks" "$port" "$add_bos" "$llama_ppl" <<'PY'
import json, math, sys, urllib.error, urllib.request
ids_file, ctx, chunks, port, add_bos, llama_ppl = sys.argv[1:]
ctx, chunks, add_bos, llama_ppl = int(ctx), int(chunks), int(add_bos) > 0, float(llama_ppl)
tokens = json.loads(open(ids_file).read().strip().splitlines()[-1])
bos = tokens[0] if add_bos else None
n_chunk = min(chunks, len(tokens) // ctx)
first = ctx // 2
served = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models"))["data"][0]["id"]
nll, count = 0.0, 0
for i in range(n_chunk):
    chunk = tokens[i * ctx : (i + 1) * ctx]
    if add_bos:
        chunk = [bos] + chunk[1:]
    body = json.dumps({"model": served, "prompt": chunk, "max_tokens": 0, "echo": True, "logprobs": 0, "temperature": 0})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", body.encode(),
                                 {"Content-Type": "application/json"})
    try:
        answer = json.load(urllib.request.urlopen(req, timeout=3600))
    except urllib.error.HTTPError as e:
        sys.exit(f"painters serve answered {e.code}: {e.read().decode()}")
    lp = answer["choices"][0]["logprobs"]["token_logprobs"]
    # llama-perplexity: logits at positions first..ctx-2 predict tokens first+1..ctx-1
    for j in range(first + 1, ctx):
        nll -= lp[j]
        count += 1
ppl = math.exp(nll / count)
ratio = ppl / llama_ppl
print(f"chunks: {n_chunk} of {ctx} tokens, {count} scored tokens (BOS per chunk: {add_bos})")
print(f"llama-perplexity on the exported GGUF: {llama_ppl:.4f}")
print(f"painters (source model under the schedule): {ppl:.4f}")
print(f"ratio painters / llama.cpp: {ratio:.5f} ({(ratio - 1) * 100:+.2f} %)")
sys.exit(0 if abs(ratio - 1) <= 0.01 else 1)
PY
