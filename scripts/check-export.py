#!/usr/bin/env python3
"""Check an exported HF folder with transformers: its logits must equal painters' scheduled logits.

painters exports a model under a layer schedule as a plain checkpoint, and writes the logits it
computes for the *source* model under that schedule to a small safetensors file (`input_ids` [B, L]
int64, `logits` [B, L, V] float32; metadata `schedule`, `source`, optionally `text`). This script
loads the exported folder with transformers (torch CPU, float32, eager attention), runs the same
ids through its plain forward and compares elementwise:

    |transformers - painters| <= atol + rtol * |painters|      (numpy.allclose form)

The defaults (atol 2e-4, rtol 1e-4) are the largest logits tolerance of the tiny fixtures
(tests/fixtures*/manifest.json). If the file has a `text` entry and the folder a tokenizer, the
tokenizer's ids for that text must equal `input_ids[0]`.

    scripts/check-export.py --model OUT_DIR --logits LOGITS.safetensors [--atol A] [--rtol R]
    scripts/check-export.py --cases ROOT      # every ROOT/<case>/{model/, logits.safetensors}

`cargo test -p painters-llama --test export` writes the tiny-fixture cases when
PAINTERS_EXPORT_CHECK_DIR is set (see docs/export.md). Runs offline; prints one line per case and a
verdict; exits 1 if any case fails, 2 on bad usage.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()


def read_logits(path):
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
        return f.get_tensor("input_ids"), f.get_tensor("logits"), meta


def check(model_dir, logits_path, atol, rtol):
    """Returns (ok, message)."""
    ids, want, meta = read_logits(logits_path)
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir), dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(ids.astype(np.int64))).logits.float().numpy()
    if got.shape != want.shape:
        return False, f"logits shape {got.shape}, painters wrote {want.shape}"
    diff = np.abs(got - want)
    bound = atol + rtol * np.abs(want)
    bad = int((diff > bound).sum())
    msg = f"max |diff| {diff.max():.3g} (|logit| <= {np.abs(want).max():.3g}), schedule `{meta.get('schedule', '?')}`"
    ok = bad == 0
    if not ok:
        msg += f", {bad} of {diff.size} logits outside atol {atol:g} + rtol {rtol:g}"
    text = meta.get("text")
    if text is not None and (Path(model_dir) / "tokenizer.json").is_file():
        tok = AutoTokenizer.from_pretrained(str(model_dir))
        enc = tok(text)["input_ids"]
        if list(enc) != [int(i) for i in ids[0]]:
            ok = False
            msg += f"; tokenizer gives {list(enc)[:12]}..., painters {[int(i) for i in ids[0][:12]]}..."
        else:
            msg += "; tokenizer ids equal"
    return ok, msg


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="an exported HF folder")
    p.add_argument("--logits", type=Path, help="painters' logits file for it")
    p.add_argument("--cases", type=Path, help="a folder of <case>/{model/, logits.safetensors}")
    p.add_argument("--atol", type=float, default=2e-4)
    p.add_argument("--rtol", type=float, default=1e-4)
    a = p.parse_args()
    if a.cases:
        cases = sorted(
            (c.name, c / "model", c / "logits.safetensors")
            for c in a.cases.iterdir()
            if (c / "logits.safetensors").is_file()
        )
        if not cases:
            print(f"check-export: no <case>/logits.safetensors under {a.cases}", file=sys.stderr)
            return 2
    elif a.model and a.logits:
        cases = [(a.model.name, a.model, a.logits)]
    else:
        p.print_usage(sys.stderr)
        return 2
    torch.manual_seed(0)
    failed = 0
    start = time.time()
    for name, model_dir, logits in cases:
        try:
            ok, msg = check(model_dir, logits, a.atol, a.rtol)
        except Exception as e:  # a folder transformers cannot load is a failed check
            ok, msg = False, f"{type(e).__name__}: {e}"
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {msg}", flush=True)
    passed = len(cases) - failed
    print(f"transformers, torch {torch.__version__}: {len(cases)} cases in {time.time() - start:.1f} s")
    print(f"check-export: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
