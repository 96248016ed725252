"""The PyTorch peer of `ffn lm generate --gguf`: SmolLM2-135M-Instruct loaded by transformers from
the same GGUF file (dequantised to fp32), greedy decoding with the KV cache (`generate`), on a
fixed number of threads. Prints one JSON line per run: prompt tokens, prefill tokens/s (the
prompt's forward pass and the first token), decode tokens/s (the other tokens) and peak RSS.

    .venv/bin/python bench/torch_smollm2_generate.py --prompt-file P --tokens 64 --threads 2

`scripts/bench-smollm2.sh` runs it alternately with ffn.
"""
import argparse
import json
import resource
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor

parser = argparse.ArgumentParser()
parser.add_argument("--gguf", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
parser.add_argument("--prompt-file", required=True)
parser.add_argument("--tokens", type=int, default=64)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()
torch.set_num_threads(args.threads)

path = Path(args.gguf)
tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
ids = torch.tensor([tokenizer(Path(args.prompt_file).read_text()).input_ids])


class FirstToken(LogitsProcessor):
    """Notes when the first token's logits are ready: the end of the prompt's pass."""

    def __init__(self):
        self.at = None

    def __call__(self, input_ids, scores):
        if self.at is None:
            self.at = time.perf_counter()
        return scores


with torch.inference_mode():
    first = FirstToken()
    start = time.perf_counter()
    out = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=args.tokens,
        min_new_tokens=args.tokens,
        do_sample=False,
        logits_processor=[first],
    )
    total = time.perf_counter() - start
new = out.shape[1] - ids.shape[1]
prefill = first.at - start
print(json.dumps({
    "peer": "pytorch",
    "torch": torch.__version__,
    "prompt_tokens": ids.shape[1],
    "tokens": new,
    "seconds": total,
    "prefill_tokens_per_second": ids.shape[1] / prefill,
    "decode_tokens_per_second": (new - 1) / (total - prefill),
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
