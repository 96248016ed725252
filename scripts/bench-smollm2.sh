#!/usr/bin/env bash
# Greedy decoding of SmolLM2-135M-Instruct (GGUF, weights in fp32): ffn against transformers'
# `generate` (bench/torch_smollm2_generate.py), alternately, ROUNDS times each, on THREADS threads.
# Prints every run's JSON and the medians: prefill tokens/s, decode tokens/s, peak RSS.
#
#   scripts/bench-smollm2.sh [ROUNDS=3] [THREADS=2]
#
# Needs target/release/ffn (cargo build --release -p ffn-cli), the model
# (scripts/fetch-model.sh smollm2) and PyTorch + transformers in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
threads=${2:-2}
ffn=${FFN_BIN:-target/release/ffn}
python=${TORCH_PYTHON:-.venv/bin/python}
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
prompt=$(mktemp)
trap 'rm -f "$prompt"' EXIT
# A fixed prompt of about 100 tokens: the first lines of the shipped Shakespeare text.
head -c 420 datasets/shakespeare.txt > "$prompt"

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2), $threads threads"
results=$(mktemp)
for round in $(seq "$rounds"); do
  rss=$(mktemp)
  RAYON_NUM_THREADS=$threads /usr/bin/time -f '%M' -o "$rss" "$ffn" lm generate --gguf "$model" \
    --prompt "$(cat "$prompt")" --tokens 64 --temperature 0 --backend flex --json \
    | python3 -c "import json,sys; r=json.load(sys.stdin); r['peer']='ffn'; r['peak_rss_mib']=int(open('$rss').read().split()[-1])/1024; r.pop('text'); r.pop('token_ids'); r.pop('prompt'); print(json.dumps(r))" \
    | tee -a "$results"
  rm -f "$rss"
  "$python" bench/torch_smollm2_generate.py --gguf "$model" --prompt-file "$prompt" \
    --tokens 64 --threads "$threads" 2>/dev/null | tee -a "$results"
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
def median(peer, key):
    return statistics.median(r[key] for r in runs if r["peer"] == peer)
for key in ["prefill_tokens_per_second", "decode_tokens_per_second", "peak_rss_mib"]:
    f, t = median("ffn", key), median("pytorch", key)
    print(f"{key}: ffn {f:.1f}, pytorch {t:.1f}, ffn/pytorch {f / t:.2f}")
PY
rm -f "$results"
