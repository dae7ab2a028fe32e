#!/usr/bin/env python3
"""Score the same model on the same documents with painters and with EleutherAI's lm-evaluation-harness,
and compare them document by document.

Optional, for checking the harness only; never run by CI. Needs a Python with
`pip install lm-eval torch transformers accelerate gguf` and a release build of painters
(`cargo build --release -p painters-cli`). Works offline: lm-eval reads the repository's data/
files through task configs that include lm-eval's own (prompt, target, choices, metrics) and only
swap the dataset for the local JSONL.

    python scripts/compare-lm-eval.py --tasks arc_easy,lambada_openai --limit 100 --out cmp

Prints, per task, both harnesses' metrics and the per-request log-likelihood differences; writes
OUT/comparison.json. The model is loaded by transformers from the same GGUF file (dequantized, f32).
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# task -> (lm-eval yaml under lm_eval/tasks, {split: our data file})
TASKS = {
    "arc_easy": ("arc/arc_easy.yaml", {"test": "data/arc_easy/test.jsonl"}),
    "arc_challenge": ("arc/arc_challenge.yaml", {"test": "data/arc_challenge/test.jsonl"}),
    "lambada_openai": ("lambada/lambada_openai.yaml", {"test": "data/lambada_openai/test.jsonl"}),
    "winogrande": ("winogrande/default.yaml", {"validation": "data/winogrande/dev.jsonl"}),
    "hellaswag": ("hellaswag/hellaswag.yaml", {"validation": "data/hellaswag/validation.jsonl.gz"}),
    # 5-shot: lm-eval draws the exemplars from train with Random(1234), as painters replays.
    "gsm8k": ("gsm8k/gsm8k.yaml", {"train": "data/gsm8k/train.jsonl", "test": "data/gsm8k/test.jsonl"}),
}


def read_jsonl(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def to_lm_eval_rows(task: str, rows):
    """Our normalized rows in the HF schema lm-eval's task code reads."""
    if task == "hellaswag":
        # Our file keeps `ctx` whole (data/hellaswag/README.md); lm-eval builds
        # ctx_a + " " + ctx_b.capitalize() and strips it, so ctx_b = "" gives the same query.
        return [
            {
                "activity_label": r["activity_label"],
                "ctx_a": r["ctx"],
                "ctx_b": "",
                "endings": r["endings"],
                "label": str(r["label"]),
            }
            for r in rows
        ]
    return rows


def write_task_configs(tasks, work: Path) -> Path:
    import lm_eval

    lm_tasks = Path(lm_eval.__file__).parent / "tasks"
    conf = work / "tasks"
    conf.mkdir(parents=True, exist_ok=True)
    for t in tasks:
        yaml_rel, files = TASKS[t]
        lines = [
            f"include: {lm_tasks / yaml_rel}",
            f"task: {t}_local",
            "tag: []",
            "dataset_path: json",
            "dataset_name: null",
            "dataset_kwargs:",
            "  data_files:",
        ]
        for split, data in files.items():
            rows = to_lm_eval_rows(t, read_jsonl(ROOT / data))
            local = work / f"{t}.{split}.jsonl"
            local.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            lines.append(f"    {split}: {local}")
        for key, split in [("training_split", "train"), ("validation_split", "validation"), ("test_split", "test")]:
            lines.append(f"{key}: {split if split in files else 'null'}")
        (conf / f"{t}_local.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def run_lm_eval(args, tasks, work: Path):
    conf = write_task_configs(tasks, work)
    out = work / "lm-eval"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    model = ROOT / args.model
    cmd = [
        sys.executable, "-m", "lm_eval",
        "--model", "hf",
        "--model_args", f"pretrained={model.parent},gguf_file={model.name},dtype=float32",
        "--tasks", ",".join(f"{t}_local" for t in tasks),
        "--include_path", str(conf),
        "--batch_size", str(args.batch_size),
        "--log_samples",
        "--output_path", str(out),
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    print("+", " ".join(cmd), file=sys.stderr)
    t0 = time.time()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    wall = time.time() - t0
    results = sorted(out.rglob("results_*.json"))[-1]
    res = json.loads(results.read_text())
    samples = {}
    for t in tasks:
        f = sorted(results.parent.glob(f"samples_{t}_local_*.jsonl"))[-1]
        samples[t] = {s["doc_id"]: s for s in read_jsonl(f)}
    return {t: res["results"][f"{t}_local"] for t in tasks}, samples, wall


def run_painters(args, tasks, work: Path):
    out = work / "painters" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(ROOT / args.painters), "eval",
        "--model", args.model,
        "--tasks", ",".join(tasks),
        "--log-samples", "--no-progress",
        "--out", str(out),
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    print("+", " ".join(cmd), file=sys.stderr)
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.time() - t0
    res = json.loads(out.read_text())
    samples = {
        t: {s["doc_id"]: s for s in read_jsonl(out.parent / f"results_samples_{t}.jsonl")}
        for t in tasks
    }
    return res["results"], samples, wall


def loglikelihoods(sample):
    """Per-request (log-likelihood, is_greedy) in request order, from either harness's record.

    lm-eval nests each request's response once more (one per repeat) and writes the pair as
    strings ('-5.02', 'False'); painters writes one [number, bool] pair per request.
    """
    out = []
    for r in sample["resps"]:
        x = r[0] if isinstance(r[0], (list, tuple)) else r
        greedy = x[1] if isinstance(x[1], bool) else str(x[1]) == "True"
        out.append((float(x[0]), greedy))
    return out


def request_texts(sample):
    """Each request's (context, continuation) text; continuation None for generation."""
    args = sample["arguments"]
    if isinstance(args, dict):  # lm-eval: {"gen_args_0": {"arg_0": context, "arg_1": ...}, ...}
        items = sorted(args.items(), key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))
        return [(v["arg_0"], v["arg_1"] if isinstance(v.get("arg_1"), str) else None) for _, v in items]
    return [(r["context"], r.get("continuation")) for r in args]


def same_requests(ours, theirs):
    """Documents whose requests (prompt and continuation texts) are identical in both harnesses."""
    return sum(request_texts(ours[d]) == request_texts(s) for d, s in theirs.items() if d in ours)


def generations(sample):
    """The generated texts of a generate_until record, from either harness."""
    return [r[0] if isinstance(r, (list, tuple)) else r for r in sample["resps"]]


def compare_generations(task, ours, theirs):
    same, docs = 0, 0
    for doc_id, s in theirs.items():
        if doc_id not in ours:
            raise SystemExit(f"{task}: doc {doc_id} scored by lm-eval but not by painters")
        docs += 1
        same += generations(ours[doc_id]) == generations(s)
    return {"docs": docs, "identical_requests": same_requests(ours, theirs), "identical_generations": same}


def compare(task, ours, theirs):
    if task == "gsm8k":
        return compare_generations(task, ours, theirs)
    diffs, greedy_mismatch, argmax_mismatch, docs = [], 0, 0, 0
    for doc_id, s in theirs.items():
        if doc_id not in ours:
            raise SystemExit(f"{task}: doc {doc_id} scored by lm-eval but not by painters")
        a, b = loglikelihoods(ours[doc_id]), loglikelihoods(s)
        if len(a) != len(b):
            raise SystemExit(f"{task}: doc {doc_id} has {len(a)} requests here, {len(b)} in lm-eval")
        docs += 1
        diffs += [abs(x[0] - y[0]) for x, y in zip(a, b)]
        greedy_mismatch += sum(x[1] != y[1] for x, y in zip(a, b))
        if len(a) > 1:
            pa = max(range(len(a)), key=lambda i: a[i][0])
            pb = max(range(len(b)), key=lambda i: b[i][0])
            argmax_mismatch += pa != pb
    diffs.sort()
    return {
        "docs": docs,
        "identical_requests": same_requests(ours, theirs),
        "requests": len(diffs),
        "max_abs_loglik_diff": diffs[-1] if diffs else 0.0,
        "median_abs_loglik_diff": diffs[len(diffs) // 2] if diffs else 0.0,
        "is_greedy_mismatches": greedy_mismatch,
        "argmax_mismatches": argmax_mismatch,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--painters", default="target/release/painters")
    ap.add_argument("--tasks", default="arc_easy,arc_challenge,lambada_openai,winogrande,hellaswag")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=8, help="lm-eval's --batch_size")
    ap.add_argument("--out", default="compare-lm-eval")
    args = ap.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for t in tasks:
        if t not in TASKS:
            raise SystemExit(f"unknown task {t!r}; compared tasks: {', '.join(TASKS)}")
    work = Path(args.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    ours_res, ours_samples, ours_wall = run_painters(args, tasks, work)
    lm_res, lm_samples, lm_wall = run_lm_eval(args, tasks, work)
    report = {"limit": args.limit, "model": args.model, "painters_seconds": ours_wall,
              "lm_eval_seconds": lm_wall, "tasks": {}}
    print(f"\npainters {ours_wall:.1f} s, lm-eval {lm_wall:.1f} s (both including model load)\n")
    print("| task | metric | painters | lm-eval |")
    print("|---|---|---|---|")
    for t in tasks:
        metrics = {}
        for k, v in lm_res[t].items():
            if k == "alias" or "stderr" in k or k not in ours_res.get(t, {}):
                continue
            metrics[k] = {"painters": ours_res[t][k], "lm_eval": v}
            print(f"| {t} | {k} | {ours_res[t][k]:.4f} | {v:.4f} |")
        report["tasks"][t] = {"metrics": metrics, "per_request": compare(t, ours_samples[t], lm_samples[t])}
    print("\n| task | docs | same prompts | requests | max abs Δ loglik | median abs Δ | is_greedy differs | argmax differs |")
    print("|---|---|---|---|---|---|---|---|")
    for t in tasks:
        c = report["tasks"][t]["per_request"]
        if "identical_generations" in c:
            continue
        print(f"| {t} | {c['docs']} | {c['identical_requests']} | {c['requests']} | {c['max_abs_loglik_diff']:.2e} | "
              f"{c['median_abs_loglik_diff']:.2e} | {c['is_greedy_mismatches']} | {c['argmax_mismatches']} |")
    for t in tasks:
        c = report["tasks"][t]["per_request"]
        if "identical_generations" in c:
            print(f"\n{t}: {c['identical_requests']} of {c['docs']} prompts and "
                  f"{c['identical_generations']} of {c['docs']} greedy generations identical")
    (work / "comparison.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {work / 'comparison.json'}")


if __name__ == "__main__":
    main()
