"""Checks a run of `ffn lm finetune --gguf` against the real `peft`: loads the run's adapter
(adapter_model.safetensors + adapter_config.json) with `PeftModel.from_pretrained` onto
transformers' `LlamaForCausalLM` read from the same GGUF (dequantised to fp32), and compares
with what `ffn lm generate --run RUN` gives: the greedy continuation's token ids. It also
prints how far the adapter moves peft's logits, so that a check of an untrained (zero) adapter
shows itself.

    .venv/bin/pip install torch transformers==5.24.0 gguf==0.19.0 peft==0.21.2
    .venv/bin/python scripts/check-peft-adapter.py RUN [--prompt P] [--tokens N] [--ffn PATH]

Exits 1 when the continuations differ. A test-fixture tool: nothing in the build uses Python.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

parser = argparse.ArgumentParser()
parser.add_argument("run", type=Path)
parser.add_argument("--prompt", default="ROMEO:\nBut soft, what light")
parser.add_argument("--tokens", type=int, default=32)
parser.add_argument("--ffn", default="target/release/ffn")
args = parser.parse_args()
torch.set_num_threads(2)

finetune = json.loads((args.run / "finetune.json").read_text())
gguf = Path(finetune["gguf"])
tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
base = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
model = PeftModel.from_pretrained(base, args.run).eval()

ids = tokenizer(args.prompt).input_ids
with torch.no_grad():
    generated = model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=args.tokens,
        do_sample=False,
    )[0, len(ids):].tolist()
    with model.disable_adapter():
        plain = model(torch.tensor([ids])).logits[0, -1]
    adapted = model(torch.tensor([ids])).logits[0, -1]

command = [args.ffn, "lm", "generate", "--run", str(args.run), "--prompt", args.prompt,
           "--tokens", str(args.tokens), "--temperature", "0", "--json"]
output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
ours = json.loads(output.strip().splitlines()[-1])["token_ids"]
eos = tokenizer.eos_token_id
peft_ids = generated[: generated.index(eos) + 1] if eos in generated else generated
print(f"peft:  {tokenizer.decode(peft_ids)!r}")
print(f"ffn:   {tokenizer.decode(ours)!r}")
print(f"the adapter moves the last position's logits by up to {(adapted - plain).abs().max():.3f}")
if peft_ids != ours[: len(peft_ids)] or len(ours) < len(peft_ids):
    print("the greedy continuations differ", file=sys.stderr)
    sys.exit(1)
print(f"identical greedy continuations ({len(peft_ids)} tokens)")
