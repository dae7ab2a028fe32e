#!/usr/bin/env python3
"""Writes the reference fixture for painters-kernels' weight formats.

For every weight type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K):

* where gguf-py can quantise the type: seeded f32 rows (`T.input`), the bytes
  `gguf.quants.quantize` makes of them (`T.blocks`) and `gguf.quants.dequantize` of those bytes
  (`T.dequant`);
* for every block type: random but valid blocks (random bytes, with finite f16 scales) in
  `T.random_blocks` and their `gguf.quants.dequantize` in `T.random_dequant` — the K-quants have
  no quantiser in gguf-py, and random bytes reach bit patterns a quantiser never writes.

All tensors go into one safetensors file (written here by hand, no extra package), a few KB per
type. The Rust test `crates/painters-kernels/tests/reference.rs` checks its quantiser byte for
byte and its dequantiser bit for bit against it.

Usage (the reference is the PyPI `gguf` package; the fixture records its version):

    python3 -m venv /tmp/gguf-venv && /tmp/gguf-venv/bin/pip install gguf numpy
    /tmp/gguf-venv/bin/python scripts/make-quant-reference.py \
        crates/painters-kernels/tests/fixtures/quants.safetensors
"""
import json
import struct
import sys
from importlib.metadata import version

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

SEED = 20260601
ROWS = 4
COLS = 256  # one K-quant super-block or eight 32-element blocks per row

FLOAT = [T.F32, T.F16, T.BF16]
LEGACY = [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]
KQUANT = [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]

# Byte offsets of the f16 scales inside each block type (gguf-py / ggml layouts).
F16_OFFSETS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def input_rows(rng: np.random.Generator, qtype) -> np.ndarray:
    """Rows a model could hold, plus the edge cases a quantiser must get right."""
    x = np.empty((ROWS, COLS), dtype=np.float32)
    x[0] = rng.standard_normal(COLS) * 0.05  # a typical weight row
    x[1] = rng.standard_normal(COLS) * rng.choice([1e-3, 0.1, 4.0], COLS)  # mixed scales
    x[1, ::97] *= 50.0  # outliers
    x[2] = rng.uniform(-1.0, 1.0, COLS)
    x[2, :32] = 0.0  # an all-zero block: scale 0, the 1/d = 0 branch
    x[2, 32:64] = 0.75  # a constant block: max == min
    x[2, 64:96] = np.linspace(-1.0, 1.0, 32)  # ties at half steps
    x[2, 96:128] = -x[2, 64:96][::-1]
    x[3] = rng.standard_normal(COLS) * 1e-6  # scales that underflow to f16 subnormals or 0
    if qtype in FLOAT:
        x[3, :8] = [np.inf, -np.inf, 7.0e4, -7.0e4, 6.0e-8, 1.0e-40, -0.0, 65519.0]
        if qtype == T.BF16:
            x[3, 8] = np.float32(np.nan)
            x[3, 9] = np.array(0x7FC12345, dtype=np.uint32).view(np.float32)
    return x


def random_blocks(rng: np.random.Generator, qtype) -> np.ndarray:
    block, size = GGML_QUANT_SIZES[qtype]
    n_blocks = ROWS * COLS // block
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in F16_OFFSETS[qtype]:
        scale = (rng.standard_normal(n_blocks) * 0.02).astype(np.float16)
        b[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return b.reshape(ROWS, COLS // block * size)


def write_safetensors(path: str, tensors: dict[str, np.ndarray], metadata: dict[str, str]):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8"}[arr.dtype]
        data = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for data in blobs:
            f.write(data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "crates/painters-kernels/tests/fixtures/quants.safetensors"
    rng = np.random.default_rng(SEED)
    tensors = {}
    for qtype in FLOAT + LEGACY + KQUANT:
        name = qtype.name
        if qtype in FLOAT + LEGACY:
            x = input_rows(rng, qtype)
            q = quants.quantize(x, qtype)
            tensors[f"{name}.input"] = x
            tensors[f"{name}.blocks"] = np.ascontiguousarray(q).view(np.uint8).reshape(ROWS, -1)
            tensors[f"{name}.dequant"] = quants.dequantize(q, qtype).astype(np.float32, copy=False)
        if qtype in LEGACY + KQUANT:
            b = random_blocks(rng, qtype)
            tensors[f"{name}.random_blocks"] = b
            tensors[f"{name}.random_dequant"] = quants.dequantize(b, qtype)
    meta = {
        "generator": "scripts/make-quant-reference.py",
        "gguf": version("gguf"),
        "numpy": np.__version__,
        "seed": str(SEED),
    }
    write_safetensors(out, tensors, meta)
    print(f"wrote {out}: {len(tensors)} tensors, gguf {meta['gguf']}, numpy {meta['numpy']}")


if __name__ == "__main__":
    main()
