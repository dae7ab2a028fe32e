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

    print("### Roofline\n")
    print("| figure | 1 thread | 2 threads |")
    print("|---|---|---|")
    bw = {t: get("roofline", "stream_read", f"{t}t")[1] for t in (1, 2)}
    peak = {t: get("roofline", "fma_peak", f"{t}t")[1] for t in (1, 2)}
    fmt = lambda x, unit: f"{x:.1f} {unit}" if x else "—"
    print(f"| streaming read (memory bandwidth) | {fmt(bw[1], 'GB/s')} | {fmt(bw[2], 'GB/s')} |")
    print(f"| f32 FMA peak | {fmt(peak[1], 'GFLOP/s')} | {fmt(peak[2], 'GFLOP/s')} |")

    shapes = defaultdict(set)
    types = defaultdict(list)
    for (g, f, v) in r:
        if g in ("gemv", "gemm128"):
            shapes[g].add(v.rsplit("/", 1)[0])
            if f not in types[g]:
                types[g].append(f)
    order = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
             "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]

    def shape_key(s):
        return (not s.startswith(("q576", "kv192", "up1536", "down576", "head")), s)

    for g, unit, ref, what in [
        ("gemv", "GB/s", bw, "of weights read per second (share of the streaming bandwidth)"),
        ("gemm128", "GFLOP/s", peak, "(share of the f32 FMA peak)"),
    ]:
        cols = sorted(shapes[g], key=shape_key)
        print(f"\n### {g}: {unit} {what}\n")
        for t in (1, 2):
            print(f"\n{t} thread{'s' if t > 1 else ''}:\n")
            print("| type | " + " | ".join(cols) + " |")
            print("|---|" + "---|" * len(cols))
            rows = [("f32 gemm crate", "f32_gemm", g)] + [
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
