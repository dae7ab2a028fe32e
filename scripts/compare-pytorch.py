#!/usr/bin/env python3
"""painters vs PyTorch + HF transformers on the same model and machine, as ratios.

Runs, back to back on an idle machine:
  1. `painters bench --schedules identity` (release build) -> OUT/painters.json
  2. benches/pytorch_anchor.py (PyTorch eager, same thread count) -> OUT/pytorch.json
then prints a Markdown table of both and their ratios (PyTorch time / painters time: above 1
means painters is faster). Compare the ratios, not the absolute times, across machines.

Usage:
  python3 scripts/compare-pytorch.py [--out DIR] [--threads N] [--python PY]

Needs: a release build (`cargo build --release -p painters-cli`), the models of
scripts/fetch-models.sh, and for PY: `pip install torch transformers accelerate gguf`
(benchmarking only; nothing else in the project uses Python).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench-vs-pytorch")
    ap.add_argument("--threads", type=int, default=2, help="threads for both (the anchor pins 2)")
    ap.add_argument("--python", default=sys.executable, help="a Python with torch + transformers")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ours, theirs = os.path.join(args.out, "painters.json"), os.path.join(args.out, "pytorch.json")
    painters = os.path.join(ROOT, "target", "release", "painters")
    if not os.path.exists(painters):
        sys.exit(f"{painters} missing: run `cargo build --release -p painters-cli` first")
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    subprocess.run([painters, "bench", "--schedules", "identity", "--repeats", str(args.repeats),
                    "--json", ours], check=True, cwd=ROOT, env=env)
    subprocess.run([args.python, os.path.join(ROOT, "benches", "pytorch_anchor.py"),
                    os.path.join(ROOT, "models"), theirs], check=True, cwd=ROOT,
                   env=dict(env, BENCH_REPS=str(args.repeats)))
    p = json.load(open(ours))
    t = {(r["case"], r["dtype"]): r for r in json.load(open(theirs))["rows"] if r["case"] != "ERROR"}

    def torch_s(case: str) -> float | None:
        r = t.get((case, "float32"))
        return r["median_s"] if r else None

    rows = [
        ("forward 1×128", p["forward_1x128_ms"] / 1e3, torch_s("SmolLM2-135M forward 1x128")),
        ("forward 8×128", p["forward_8x128_ms"] / 1e3, torch_s("SmolLM2-135M forward 8x128")),
        ("greedy decode, 16-token prompt + 32 new (KV cache)", p["decode"]["median_ms"] / 1e3,
         torch_s("SmolLM2-135M greedy generate 32 new tok (16-tok prompt, KV cache)")),
    ]
    print(f"\nMachine: {p['machine']}; {args.threads} threads; SmolLM2-135M f32\n")
    print("| figure | painters | PyTorch eager | PyTorch time / painters time |")
    print("|---|---|---|---|")
    for name, a, b in rows:
        ratio = f"{b / a:.2f}×" if a and b else "n/a"
        fb = f"{b * 1e3:.1f} ms" if b else "n/a"
        print(f"| {name} | {a * 1e3:.1f} ms | {fb} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
