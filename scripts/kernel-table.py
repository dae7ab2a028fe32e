#!/usr/bin/env python3
"""Markdown tables for docs/kernels.md from the criterion results of benches/kernels.rs.

    cargo bench -p painters-kernels --bench kernels
    python3 scripts/kernel-table.py [target/criterion]

Reads every `benchmark.json` + `new/estimates.json` under the criterion directory (median
times) and prints: the roofline figures, the decode (GEMV, m = 1) table in GB/s of weights read
and as a share of the measured streaming bandwidth, and the prompt (m = 128) table in GFLOP/s
and as a share of the measured FMA peak, each beside the f32 `gemm` baseline.
"""
import json
import pathlib
import sys
from collections import defaultdict


def load(root: pathlib.Path):
    out = {}
    for bj in root.glob("**/new/benchmark.json"):
        est = bj.parent / "estimates.json"
        if not est.exists():
            continue
        b = json.loads(bj.read_text())
        e = json.loads(est.read_text())
        ns = e["median"]["point_estimate"]
        tp = b.get("throughput") or {}
        amount = tp.get("Bytes") or tp.get("BytesDecimal") or tp.get("Elements")
        rate = amount / ns if amount else None  # per ns = G per s
        out[(b["group_id"], b["function_id"], b["value_str"])] = (ns, rate)
    return out


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    r = load(root)
    if not r:
        sys.exit(f"no criterion results under {root}")

    def get(g, f, v):
        return r.get((g, f, v), (None, None))

    bw = {t: get("roofline", "stream_read", f"{t}t")[1] for t in (1, 2)}
    peak = {t: get("roofline", "fma_peak", f"{t}t")[1] for t in (1, 2)}
    threads = [t for t in (1, 2) if any(k[2].endswith(f"/{t}t") for k in r if k[0] != "roofline")]
    fmt = lambda x, unit: f"{x:.1f} {unit}" if x else "—"
    print("### Roofline\n")
    print("| figure | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
    print("|---|" + "---|" * len(threads))
    print("| streaming read (memory bandwidth) | " + " | ".join(fmt(bw[t], "GB/s") for t in threads) + " |")
    print("| f32 FMA peak | " + " | ".join(fmt(peak[t], "GFLOP/s") for t in threads) + " |")

    cross = sorted({k[2] for k in r if k[0] == "crossover"}, key=lambda v: int(v[1:].split("/")[0]))
    if cross:
        print("\n### Decode vs prompt path by activation rows (Q4_1, 1536×576, GFLOP/s)\n")
        print("| path | " + " | ".join(v.split("/")[0] for v in cross) + " |")
        print("|---|" + "---|" * len(cross))
        for f in ("dot", "prompt"):
            print(f"| {f} | " + " | ".join(f"{get('crossover', f, v)[1]:.1f}" for v in cross) + " |")

    shapes = defaultdict(set)
    types = defaultdict(list)
    for (g, f, v) in r:
        if g in ("gemv", "gemm128", "gemm128_dequant"):
            shapes[g].add(v.rsplit("/", 1)[0])
            if f not in types[g]:
                types[g].append(f)
    order = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
             "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]

    def shape_key(s):
        known = ["q576", "kv192", "up1536", "down576", "head", "o640", "down640"]
        for i, k in enumerate(known):
            if s.startswith(k):
                return (i, s)
        return (len(known), s)

    for g, unit, ref, what in [
        ("gemv", "GB/s", bw, "of weights read per second (share of the streaming bandwidth)"),
        ("gemm128", "GFLOP/s", peak, "on the default path (share of the f32 FMA peak)"),
        ("gemm128_dequant", "GFLOP/s", peak, "on the exact dequantised-panel path (share of the f32 FMA peak)"),
    ]:
        if not shapes[g]:
            continue
        cols = sorted(shapes[g], key=shape_key)
        print(f"\n### {g}: {unit} {what}\n")
        for t in threads:
            print(f"\n{t} thread{'s' if t > 1 else ''}:\n")
            print("| type | " + " | ".join(cols) + " |")
            print("|---|" + "---|" * len(cols))
            rows = [("f32 gemm crate", "f32_gemm", "gemv" if g == "gemv" else "gemm128")] + [
                (ty, g, ty) for ty in order if ty in types[g]
            ]
            for label, group, func in rows:
                cells = []
                for c in cols:
                    ns, rate = get(group, func, f"{c}/{t}t")
                    if rate is None:
                        cells.append("—")
                        continue
                    share = f" ({100 * rate / ref[t]:.0f}%)" if ref.get(t) else ""
                    cells.append(f"{rate:.1f}{share}")
                print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
