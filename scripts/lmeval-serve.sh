#!/usr/bin/env bash
# lm-eval 0.4.9 (`--model local-completions`) against `painters serve`, compared with
# `painters eval` on the same model, schedule and documents (arc_easy and lambada_openai, the
# first $LIMIT documents of each). Runs offline: the task YAMLs in scripts/lmeval-tasks read the
# repository's data/*.jsonl, and lm-eval's tokenizer is painters' own, written as HF files by
# `painters tokenize --save-hf`. Not run by CI (lm-eval, torch and transformers<5 are needed:
# `pip install "lm-eval[api]==0.4.9" "transformers<5" "datasets<4.1"` in an environment with
# torch; put its `lm_eval` on PATH or pass LM_EVAL=/path/to/lm_eval).
#
#   scripts/lmeval-serve.sh                       # full model and `--preset skip --m 3`
#   PAINTERS=target/debug/painters LIMIT=20 scripts/lmeval-serve.sh
#   KEEP_EVAL=1 scripts/lmeval-serve.sh           # reuse $OUT/<schedule>/painters.json
#
# Prints a Markdown table (task, metric, painters eval, lm-eval via painters serve, difference)
# and writes it to $OUT/parity.md. docs/serve.md records a run.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${MODEL:-models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}
PAINTERS=${PAINTERS:-target/release/painters}
LM_EVAL=${LM_EVAL:-lm_eval}
LIMIT=${LIMIT:-100}
PORT=${PORT:-8765}
OUT=${OUT:-target/lmeval-serve}
# name|schedule flags (as painters eval and painters serve take them)
SCHEDULES=${SCHEDULES:-"full|;skip3|--preset skip --m 3"}

if [ ! -x "$PAINTERS" ]; then
  echo "building $PAINTERS" >&2
  case "$PAINTERS" in
    target/release/*) cargo build --release --workspace --bins ;;
    *) cargo build --workspace --bins ;;
  esac
fi
mkdir -p "$OUT"
"$PAINTERS" tokenize --model "$MODEL" --save-hf "$OUT/tokenizer"

export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
server=""
cleanup() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi; }
trap cleanup EXIT

IFS=';' read -ra entries <<< "$SCHEDULES"
for entry in "${entries[@]}"; do
  name=${entry%%|*}
  read -ra flags <<< "${entry#*|}"
  dir="$OUT/$name"
  rm -rf "$dir/lmeval"; mkdir -p "$dir"
  if [ "${KEEP_EVAL:-0}" = 1 ] && [ -f "$dir/painters.json" ]; then
    echo "== $name: keeping $dir/painters.json (KEEP_EVAL=1)" >&2
  else
    echo "== $name: painters eval ${flags[*]}" >&2
    "$PAINTERS" eval --model "$MODEL" "${flags[@]}" --tasks arc_easy,lambada_openai \
      --limit "$LIMIT" --data-dir data --no-progress --out "$dir/painters.json"
  fi

  echo "== $name: painters serve ${flags[*]} + lm-eval local-completions" >&2
  "$PAINTERS" serve --model "$MODEL" "${flags[@]}" --port "$PORT" \
    --served-name "painters-$name" 2> "$dir/serve.log" &
  server=$!
  for _ in $(seq 600); do
    curl -sf --max-time 5 "http://127.0.0.1:$PORT/health" > /dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$dir/serve.log" >&2; exit 1; }
    sleep 1
  done
  "$LM_EVAL" --model local-completions \
    --model_args "model=painters-$name,base_url=http://127.0.0.1:$PORT/v1/completions,tokenizer=$OUT/tokenizer,tokenized_requests=True,num_concurrent=1,max_retries=1" --batch_size 16 \
    --include_path scripts/lmeval-tasks --tasks painters_arc_easy,painters_lambada_openai \
    --limit "$LIMIT" --output_path "$dir/lmeval" > "$dir/lmeval.log" 2>&1 \
    || { tail -30 "$dir/lmeval.log" >&2; exit 1; }
  cleanup; server=""
done

python3 - "$OUT" "$SCHEDULES" <<'PY' | tee "$OUT/parity.md"
import glob, json, os, sys
out, schedules = sys.argv[1], sys.argv[2]
print("| schedule | task | metric | painters eval | lm-eval → painters serve | difference |")
print("|---|---|---|---|---|---|")
for entry in schedules.split(";"):
    name, flags = entry.split("|", 1)
    d = os.path.join(out, name)
    ours = json.load(open(os.path.join(d, "painters.json")))["results"]
    files = sorted(glob.glob(os.path.join(d, "lmeval", "**", "results_*.json"), recursive=True))
    theirs = json.load(open(files[-1]))["results"]
    for task, metrics in [("arc_easy", ["acc", "acc_norm"]), ("lambada_openai", ["perplexity", "acc"])]:
        for m in metrics:
            a = ours[task][f"{m},none"]
            b = theirs[f"painters_{task}"][f"{m},none"]
            print(f"| {name} `{flags.strip() or '(all blocks)'}` | {task} | {m} | {a:.6f} | {b:.6f} | {b - a:+.2e} |")
PY
