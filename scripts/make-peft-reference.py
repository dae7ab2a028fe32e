#!/usr/bin/env python3
"""Reference for painters' PEFT adapter layout (crates/painters-llama/tests/peft_reference.rs).

Makes a LoRA adapter with PEFT itself on the tiny Llama fixture (random A *and* B, so that the
adapter changes the output), saves it with `save_pretrained`, and writes the adapted model's logits
for fixed token ids (the ids the Rust test uses). The Rust test reads PEFT's files with
`Adapters::load_peft` and must reproduce these logits.

    pip install torch transformers peft==0.21.2
    python3 scripts/make-peft-reference.py   # writes tests/fixtures/peft/tiny-llama-lora/
"""
import json
import pathlib

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "tests/fixtures/peft/tiny-llama-lora"
torch.manual_seed(0)
model = LlamaForCausalLM.from_pretrained(root / "tests/fixtures/models/tiny-llama", dtype=torch.float32)
model.eval()
cfg = LoraConfig(
    r=2,
    lora_alpha=5,
    target_modules=["k_proj", "o_proj", "up_proj", "down_proj"],
    layers_to_transform=[0, 3, 5],
    lora_dropout=0.0,
    bias="none",
)
peft_model = get_peft_model(model, cfg)
with torch.no_grad():
    for name, p in peft_model.named_parameters():
        if "lora_" in name:
            p.copy_(torch.randn_like(p) * 0.2)
peft_model.eval()
ids = torch.tensor([[3 + (i * 37) % 250 for i in range(11)], [5 + (i * 53) % 240 for i in range(11)]])
with torch.no_grad():
    logits = peft_model(input_ids=ids).logits.float().contiguous()
out.mkdir(parents=True, exist_ok=True)
peft_model.save_pretrained(out)
# The base as the repository names it, not this machine's absolute path.
config_path = out / "adapter_config.json"
adapter_config = json.loads(config_path.read_text())
adapter_config["base_model_name_or_path"] = "tests/fixtures/models/tiny-llama"
config_path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True) + "\n")
save_file({"input_ids": ids.to(torch.int64), "logits": logits}, out / "reference_logits.safetensors")
(out / "README.md").write_text(
    "LoRA adapter made by PEFT on tests/fixtures/models/tiny-llama (r=2, alpha=5, k/o/up/down on\n"
    "layers 0, 3, 5, random A and B), and the adapted model's logits for two fixed rows of ids.\n"
    "Made by scripts/make-peft-reference.py; read by crates/painters-llama/tests/peft_reference.rs.\n"
)
print("wrote", sorted(p.name for p in out.iterdir()))
print("logits", tuple(logits.shape), "max |logit|", float(logits.abs().max()))
