#!/usr/bin/env python3
"""Load test of a running `painters serve` (standard library only).

    python3 scripts/serve-load.py --url http://127.0.0.1:8765 --model NAME [--requests 200]
        [--concurrency 200]

1. Reference: every request once, one after the other.
2. Load: the same requests again from a bounded client (a pool of --concurrency threads, all
   submitted at once), and each answer compared with its reference: generated text equal, every
   echoed token log-probability within 1e-4 (batched rows vs one row: float rounding only).
3. Errors: malformed JSON, an unknown model and a prompt over the window must each get an
   OpenAI-shaped error with the right status, and a normal request right after each must succeed.

Half the requests are lm-eval log-likelihood requests (echo, max_tokens 1, logprobs 1), half
greedy completions of 8 tokens. Prints p50/p99 latency and throughput of the load phase as a
Markdown table.
"""
import argparse, json, statistics, sys, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor

WORDS = ("the cat sat on a mat while rain fell over hills and rivers in spring "
         "every morning birds sang songs of light").split()


def post(url, body, timeout=600):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    return status, json.loads(text), time.perf_counter() - t


def requests_for(model, n):
    out = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(8 + i % 40)]
        prompt = f"Story {i}: " + " ".join(words)
        if i % 2 == 0:
            out.append({"model": model, "prompt": prompt, "max_tokens": 1, "echo": True,
                        "logprobs": 1, "temperature": 0, "seed": 1234})
        else:
            out.append({"model": model, "prompt": prompt, "max_tokens": 8, "temperature": 0})
    return out


def same(a, b):
    ca, cb = a["choices"][0], b["choices"][0]
    if ca["text"] != cb["text"]:
        return f"text {ca['text']!r} != {cb['text']!r}"
    if ca.get("logprobs"):
        la, lb = ca["logprobs"]["token_logprobs"], cb["logprobs"]["token_logprobs"]
        if len(la) != len(lb):
            return "token count differs"
        for x, y in zip(la[1:], lb[1:]):
            if abs(x - y) > 1e-4:
                return f"logprob {x} vs {y}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8765")
    ap.add_argument("--model", required=True)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=200)
    args = ap.parse_args()
    url = args.url.rstrip("/") + "/v1/completions"
    reqs = requests_for(args.model, args.requests)

    t0 = time.perf_counter()
    reference = []
    for r in reqs:
        status, body, _ = post(url, r)
        if status != 200:
            sys.exit(f"reference request failed: {status} {body}")
        reference.append(body)
    seq_wall = time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        answers = list(pool.map(lambda r: post(url, r), reqs))
    wall = time.perf_counter() - t0
    bad = []
    for i, ((status, body, _), ref) in enumerate(zip(answers, reference)):
        if status != 200:
            bad.append(f"request {i}: HTTP {status} {body}")
        elif (why := same(body, ref)):
            bad.append(f"request {i}: {why}")
    lat = sorted(a[2] for a in answers)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]

    ok = reqs[1]
    errors = [
        ("malformed JSON", b'{"model": "x", "prompt": ', 400),
        ("unknown model", {**ok, "model": "no-such-model"}, 404),
        ("oversize prompt", {**ok, "prompt": "word " * 20000}, 400),
    ]
    error_rows = []
    for name, body, want in errors:
        status, got, _ = post(url, body)
        shaped = isinstance(got.get("error"), dict) and all(
            k in got["error"] for k in ("message", "type", "param", "code"))
        after, _, _ = post(url, ok)
        error_rows.append((name, status, want, shaped, after))
        if status != want or not shaped or after != 200:
            bad.append(f"{name}: HTTP {status} (want {want}), shaped={shaped}, next request {after}: {got}")

    print(f"| requests | concurrency | correct | sequential wall (s) | load wall (s) | throughput (req/s) | p50 latency (s) | p99 latency (s) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(reqs)} | {args.concurrency} | {len(reqs) - sum(1 for b in bad if b.startswith('request'))}/{len(reqs)} "
          f"| {seq_wall:.2f} | {wall:.2f} | {len(reqs) / wall:.2f} | {p(0.50):.3f} | {p(0.99):.3f} |")
    print()
    print("| error case | status | expected | OpenAI shape | next request |")
    print("|---|---|---|---|---|")
    for name, status, want, shaped, after in error_rows:
        print(f"| {name} | {status} | {want} | {'yes' if shaped else 'no'} | {after} |")
    if bad:
        print("\nFAILED:\n" + "\n".join(bad[:20]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
