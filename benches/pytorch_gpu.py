"""PyTorch + HF transformers on a GPU: the figures `painters bench` measures, for side-by-side ratios.

  python benches/pytorch_gpu.py make-model DIR
      Writes a SmolLM2-135M-shaped Llama (30 blocks, hidden 576, 9/3 heads, FFN 1536, vocab 49152,
      tied embeddings) with random weights (seed 0) as an HF checkpoint folder (config.json +
      model.safetensors, f32). Speed does not depend on the weights' values, and the real GGUF
      (98 MB) does not fit what a GPU machine here can be sent.
  python benches/pytorch_gpu.py bench DIR OUT.json [--device cuda]
      Times, on that checkpoint, in f32 and then bf16: forward 1x128 and 8x128 (no cache), and greedy
      generation of 32 new tokens after a 16-token prompt with a KV cache (HF generate). The token
      ids are the ones painters' bench uses (perf::input_rows). Each figure is the median of
      BENCH_REPS (10) runs after BENCH_WARM (3) warm-ups, each run ended by a device synchronise.

Used by scripts/gpu-bench.sh. Needs torch (with CUDA), transformers, safetensors.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

import torch

SHAPE = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
             num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
             rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, bos_token_id=1,
             eos_token_id=2)
WARM, REPS = int(os.environ.get("BENCH_WARM", "3")), int(os.environ.get("BENCH_REPS", "10"))


def input_rows(batch: int, seq: int) -> list[list[int]]:
    """painters_bench::perf::input_rows: the same ids on both sides."""
    return [[(b * 7919 + t * 104_729) % 49_000 + 17 for t in range(seq)] for b in range(batch)]


def make_model(out: str) -> None:
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SHAPE)).eval()
    os.makedirs(out, exist_ok=True)
    # Tied: the head is the embedding, stored once (as HF does).
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    config = dict(SHAPE, architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
                  attention_bias=False, mlp_bias=False, dtype="float32")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    print(f"wrote {out}: {sum(t.numel() for t in tensors.values()) / 1e6:.1f} M parameters", flush=True)


def bench(path: str, out: str, device: str) -> None:
    from transformers import LlamaForCausalLM

    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def timeit(fn):
        for _ in range(WARM):
            fn()
        sync()
        ts = []
        for _ in range(REPS):
            t0 = time.perf_counter()
            fn()
            sync()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts), min(ts), max(ts)

    model32 = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32).to(dev).eval()
    ids1 = torch.tensor(input_rows(1, 128), device=dev)
    ids8 = torch.tensor(input_rows(8, 128), device=dev)
    prompt = torch.tensor(input_rows(1, 16), device=dev)
    rows = []
    for dtype in [torch.float32, torch.bfloat16]:
        model = model32 if dtype == torch.float32 else model32.to(dtype)
        dname = str(dtype).replace("torch.", "")
        with torch.no_grad():
            for case, ids in [("forward 1x128", ids1), ("forward 8x128", ids8)]:
                med, lo, hi = timeit(lambda: model(input_ids=ids, use_cache=False).logits[:, -1].cpu())
                rows.append({"case": case, "dtype": dname, "median_s": med, "min_s": lo, "max_s": hi,
                             "tokens_per_s": ids.numel() / med})
                print(rows[-1], flush=True)

            def gen():
                o = model.generate(prompt, max_new_tokens=32, min_new_tokens=32, do_sample=False,
                                   use_cache=True, pad_token_id=2)
                assert o.shape[1] == 48, o.shape

            med, lo, hi = timeit(gen)
            rows.append({"case": "greedy decode 16+32", "dtype": dname, "median_s": med, "min_s": lo,
                         "max_s": hi, "tokens_per_s": 32 / med})
            print(rows[-1], flush=True)
    res = {
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "attn_implementation": model32.config._attn_implementation,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "warmups": WARM,
        "reps": REPS,
        "rows": rows,
    }
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


def main() -> int:
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "make-model":
        make_model(args[1])
    elif len(args) >= 3 and args[0] == "bench":
        device = args[args.index("--device") + 1] if "--device" in args else "cuda"
        bench(args[1], args[2], device)
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
