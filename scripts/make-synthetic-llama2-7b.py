#!/usr/bin/env python3
"""Writes a checkpoint with Llama-2-7B's shapes and random weights, for issue 21's scale check.

Shapes: hidden 4096, 32 query and 32 KV heads, FFN 11008, vocabulary 32000, RMSNorm eps 1e-5, RoPE
theta 10000, untied head — Llama-2-7B's, with `--blocks` blocks (32 for the full model). The
weights are seeded normal(0, 0.02) per tensor (norm weights 1), the same f32 values in every format:

* `bf16`: an HF folder `llama2-7b-shaped-<N>-bf16/` (config.json + model.safetensors in BF16; a
  safetensors file written by hand, one tensor at a time, so the script never holds the model);
* `q8_0`, `q4_0`: `llama2-7b-shaped-<N>-<type>.gguf`, every matrix (embedding and head included)
  quantised by the PyPI `gguf` package's `gguf.quants.quantize` (the reference quantiser), norms in
  F32, `llama.*` metadata, Q/K rows permuted for interleaved RoPE as llama.cpp's converter does
  (painters undoes that on load, as for any Llama GGUF).

No tokenizer: the scale check feeds token ids. With `--prompt ID,ID,...` the script also writes the
reference: the last prompt position's logits computed here in numpy (f64) from exactly the weights
the file holds (bf16-rounded or quantised-and-dequantised; Q/K un-permuted), as raw little-endian
f32 to `<file>.logits`. It is computed while the file is written, one block's weights at a time. Sizes at 32 blocks: BF16 13.5 GB, Q8_0 7.2 GB,
Q4_0 3.8 GB; at 4 blocks 2.2 / 1.2 / 0.6 GB. A file already there with the same parameters (its
`.stamp` says) is kept.

Usage:
    python3 -m venv /tmp/gguf-venv && /tmp/gguf-venv/bin/pip install gguf==0.19.0 numpy
    /tmp/gguf-venv/bin/python scripts/make-synthetic-llama2-7b.py --blocks 4 --out DIR \\
        [--formats bf16,q8_0,q4_0] [--prompt 1,7920,...]
Prints one line per format: `<format> <path> <bytes>`.
"""
import argparse
import hashlib
import json
import struct
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants

HIDDEN, HEADS, KV_HEADS, FFN, VOCAB = 4096, 32, 32, 11008, 32000
EPS, THETA, CONTEXT = 1e-5, 10000.0, 4096
STD = 0.02
SEED = 20261206


def tensors(blocks: int):
    """(HF name, GGUF name, shape [rows, cols] or [n]) in file order."""
    yield "model.embed_tokens.weight", "token_embd.weight", [VOCAB, HIDDEN]
    kv = HIDDEN // HEADS * KV_HEADS
    for i in range(blocks):
        hf, gg = f"model.layers.{i}.", f"blk.{i}."
        yield hf + "input_layernorm.weight", gg + "attn_norm.weight", [HIDDEN]
        yield hf + "self_attn.q_proj.weight", gg + "attn_q.weight", [HIDDEN, HIDDEN]
        yield hf + "self_attn.k_proj.weight", gg + "attn_k.weight", [kv, HIDDEN]
        yield hf + "self_attn.v_proj.weight", gg + "attn_v.weight", [kv, HIDDEN]
        yield hf + "self_attn.o_proj.weight", gg + "attn_output.weight", [HIDDEN, HIDDEN]
        yield hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", [HIDDEN]
        yield hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", [FFN, HIDDEN]
        yield hf + "mlp.up_proj.weight", gg + "ffn_up.weight", [FFN, HIDDEN]
        yield hf + "mlp.down_proj.weight", gg + "ffn_down.weight", [HIDDEN, FFN]
    yield "model.norm.weight", "output_norm.weight", [HIDDEN]
    yield "lm_head.weight", "output.weight", [VOCAB, HIDDEN]


def values(name: str, shape) -> np.ndarray:
    """The tensor's f32 values: seeded by its HF name, so every format holds the same model."""
    if len(shape) == 1:
        return np.ones(shape, dtype=np.float32)
    seed = SEED ^ int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(STD)


def to_bf16(x: np.ndarray) -> np.ndarray:
    """Round to nearest even, as torch does."""
    u = x.view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def permute_rope(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's converter: within each head, rows (0, d/2, 1, d/2 + 1, ...) for interleaved RoPE."""
    rows, cols = w.shape
    return w.reshape(heads, 2, rows // heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def unpermute_rope(w: np.ndarray, heads: int) -> np.ndarray:
    """The inverse of `permute_rope`."""
    rows, cols = w.shape
    return w.reshape(heads, rows // heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


class Reference:
    """A Llama forward pass of `prompt` fed one tensor at a time, in file order (HF names)."""

    def __init__(self, prompt):
        self.prompt, self.block, self.h, self.logits = prompt, {}, None, None

    @staticmethod
    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * w

    def rope(self, x):
        d = HIDDEN // HEADS
        f = np.outer(np.arange(len(self.prompt)), 1.0 / THETA ** (np.arange(0, d, 2) / d))
        cos, sin = np.cos(np.concatenate([f, f], -1)), np.sin(np.concatenate([f, f], -1))
        rot = np.concatenate([-x[..., d // 2 :], x[..., : d // 2]], -1)
        return x * cos[:, None, :] + rot * sin[:, None, :]

    def feed(self, name: str, w: np.ndarray) -> None:
        w = w.astype(np.float64)
        if name == "model.embed_tokens.weight":
            self.h = w[self.prompt]
        elif name.startswith("model.layers."):
            key = name.split(".", 3)[3]
            self.block[key] = w
            if key == "mlp.down_proj.weight":
                self.run_block()
        elif name == "model.norm.weight":
            self.norm = w
        elif name == "lm_head.weight":
            self.logits = (self.rms(self.h[-1], self.norm) @ w.T).astype(np.float32)

    def run_block(self):
        b, s, d = self.block, len(self.prompt), HIDDEN // HEADS
        x = self.rms(self.h, b["input_layernorm.weight"])
        q = self.rope((x @ b["self_attn.q_proj.weight"].T).reshape(s, HEADS, d))
        k = self.rope((x @ b["self_attn.k_proj.weight"].T).reshape(s, KV_HEADS, d))
        v = (x @ b["self_attn.v_proj.weight"].T).reshape(s, KV_HEADS, d)
        a = np.einsum("snd,tnd->nst", q, k) / np.sqrt(d) + np.triu(np.full((s, s), -np.inf), 1)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = np.einsum("nst,tnd->snd", a, v).reshape(s, HIDDEN)
        self.h = self.h + o @ b["self_attn.o_proj.weight"].T
        x = self.rms(self.h, b["post_attention_layernorm.weight"])
        g, u = x @ b["mlp.gate_proj.weight"].T, x @ b["mlp.up_proj.weight"].T
        self.h = self.h + (g / (1 + np.exp(-g)) * u) @ b["mlp.down_proj.weight"].T
        self.block = {}


def config(blocks: int) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": FFN,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "num_hidden_layers": blocks,
        "vocab_size": VOCAB,
        "rms_norm_eps": EPS,
        "rope_theta": THETA,
        "max_position_embeddings": CONTEXT,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }


def write_bf16(blocks: int, folder: Path, ref) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config(blocks), indent=2) + "\n")
    header, offset = {}, 0
    for hf, _, shape in tensors(blocks):
        n = int(np.prod(shape)) * 2
        header[hf] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt", "painters": "synthetic Llama-2-7B shapes"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = folder / "model.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for hf, _, shape in tensors(blocks):
            b = to_bf16(values(hf, shape))
            b.tofile(f)
            if ref:
                ref.feed(hf, (b.astype(np.uint32) << 16).view(np.float32))
    return path


def write_gguf(blocks: int, path: Path, qtype, ref) -> Path:
    w = GGUFWriter(str(path), "llama")
    w.add_name(f"synthetic Llama-2-7B shapes, {blocks} blocks")
    w.add_block_count(blocks)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_layer_norm_rms_eps(EPS)
    w.add_rope_dimension_count(HIDDEN // HEADS)
    w.add_rope_freq_base(THETA)
    w.add_file_type(int({T.Q8_0: 7, T.Q4_0: 2}[qtype]))
    specs = list(tensors(blocks))
    for hf, gg, shape in specs:
        if len(shape) == 1:
            w.add_tensor_info(gg, shape, np.dtype(np.float32), int(np.prod(shape)) * 4)
        else:
            nbytes = quants.quant_shape_to_byte_shape(shape, qtype)
            w.add_tensor_info(gg, nbytes, np.dtype(np.uint8), int(np.prod(nbytes)), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for hf, gg, shape in specs:
        x = values(hf, shape)
        if len(shape) == 1:
            w.write_tensor_data(x)
            if ref:
                ref.feed(hf, x)
            continue
        heads = HEADS if gg.endswith("attn_q.weight") else KV_HEADS
        permuted = gg.endswith(("attn_q.weight", "attn_k.weight"))
        if permuted:
            x = permute_rope(x, heads)
        # row chunks keep the quantiser's temporaries small
        q = np.concatenate([quants.quantize(x[r : r + 1024], qtype) for r in range(0, shape[0], 1024)])
        w.write_tensor_data(q)
        if ref:
            held = quants.dequantize(q, qtype).reshape(shape)
            ref.feed(hf, unpermute_rope(held, heads) if permuted else held)
    w.close()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=32)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--formats", default="bf16,q8_0,q4_0")
    ap.add_argument("--prompt", help="comma-separated token ids: also write <file>.logits")
    args = ap.parse_args()
    if not 1 <= args.blocks <= 32:
        sys.exit(f"--blocks {args.blocks}: Llama-2-7B has 32 blocks; choose 1 to 32")
    args.out.mkdir(parents=True, exist_ok=True)
    prompt = [int(t) for t in args.prompt.split(",")] if args.prompt else None
    if prompt and not all(0 <= t < VOCAB for t in prompt):
        sys.exit(f"--prompt: token ids must be below {VOCAB}")
    stamp_text = json.dumps(
        {"blocks": args.blocks, "seed": SEED, "std": STD, "gguf": version("gguf"), "prompt": prompt}
    )
    for fmt in args.formats.split(","):
        base = f"llama2-7b-shaped-{args.blocks}"
        if fmt == "bf16":
            target = args.out / f"{base}-bf16"
            file = target / "model.safetensors"
        elif fmt in ("q8_0", "q4_0"):
            target = args.out / f"{base}-{fmt}.gguf"
            file = target
        else:
            sys.exit(f"--formats: unknown format `{fmt}` (bf16, q8_0, q4_0)")
        stamp = args.out / f"{target.name}.stamp"
        if not (file.exists() and stamp.exists() and stamp.read_text() == stamp_text):
            stamp.unlink(missing_ok=True)
            ref = Reference(prompt) if prompt else None
            if fmt == "bf16":
                write_bf16(args.blocks, target, ref)
            else:
                write_gguf(args.blocks, target, {"q8_0": T.Q8_0, "q4_0": T.Q4_0}[fmt], ref)
            if ref:
                ref.logits.astype("<f4").tofile(f"{file}.logits")
            stamp.write_text(stamp_text)
        print(fmt, target, file.stat().st_size, flush=True)


if __name__ == "__main__":
    main()
