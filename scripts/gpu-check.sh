#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA (or other Vulkan) GPU: builds the release binaries (unless
# FFN_BIN_DIR points at prebuilt ones), then runs on wgpu
#   1. the backend parity example (max |difference| of outputs and gradients vs the flex CPU
#      reference, with timings),
#   2. training the default model on digits on wgpu and on flex, with wall times,
#   3. the reference benchmarks (`ffn bench`: W1-W4 and KV-cache decoding) on wgpu, alternately with
#      PyTorch CUDA on the same workloads when a Python with torch is given as TORCH_PYTHON,
#   4. the reference language-model recipe on wgpu (and PyTorch CUDA's peer): wall time and loss,
#   5. remote devices (scripts/remote-check.sh): one `ffn serve` wgpu server against local wgpu,
#      and data parallel over local wgpu + a remote flex server, losses and throughput,
#   6. with TORCH_PYTHON, flex against PyTorch on this machine's CPU (2 threads).
# Usage: [FFN_BIN_DIR=DIR] [TORCH_PYTHON=python3] scripts/gpu-check.sh        (needs the Vulkan loader, libvulkan1, and the GPU's Vulkan ICD)
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/ffn-xdg-runtime}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

if ! ldconfig -p | grep 'libvulkan.so.1 ' >/dev/null; then
  echo "no Vulkan loader (libvulkan.so.1): install libvulkan1 and the GPU driver's Vulkan ICD" >&2
  exit 1
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

bin="${FFN_BIN_DIR:-}"
if [ -z "$bin" ]; then
  cargo build --release --locked -p ffn-cli --bin ffn
  cargo build --release --locked --example backend_switch
  bin="${CARGO_TARGET_DIR:-target}/release"
  examples="$bin/examples"
else
  examples="$bin"
fi

echo "== backend parity (flex reference vs ndarray and wgpu)"
"$examples/backend_switch" --iters 20

echo "== training the default MLP on digits"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for backend in wgpu flex; do
  "$bin/ffn" train --dataset datasets/digits.csv --backend "$backend" --out "$out/$backend" --json \
    | tail -n 1 | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sys.argv[1], "test accuracy", round(s["test"]["accuracy"], 4), "epochs", s["epochs_run"], "wall", round(s["wall_seconds"], 2), "s")' "$backend"
done

if [ -n "${TORCH_PYTHON:-}" ]; then
  echo "== benchmarks: wgpu against PyTorch CUDA, alternately (W1 FFN train step, W2 MLP epoch, W3 FFN forward, W4 character GPT train step, KV-cache decoding)"
  FFN_BIN="$bin/ffn" TORCH_DEVICE=cuda REPEATS="${REPEATS:-2}" scripts/bench-vs-pytorch.sh wgpu
else
  echo "== benchmarks on wgpu (W1-W4, KV-cache decoding)"
  "$bin/ffn" bench --backend wgpu --rounds 3
fi

echo "== the reference language-model recipe (2000 steps) on wgpu"
"$bin/ffn" lm train --text datasets/shakespeare.txt --backend wgpu --out "$out/gpt" --json \
  | tail -n 1 | python3 -c 'import json,sys; s=json.load(sys.stdin); print("ffn wgpu: valid loss", round(s["valid"]["loss"], 4), "train", round(s["train_seconds"], 1), "s", round(s["tokens_per_second"]), "tokens/s")'
echo "== remote devices: a wgpu server against local wgpu; local wgpu + a remote flex server"
FFN_BIN="$bin/ffn" LOCAL=wgpu SERVER=wgpu scripts/remote-check.sh
FFN_BIN="$bin/ffn" LOCAL=wgpu SERVER=flex scripts/remote-check.sh
if [ -n "${TORCH_PYTHON:-}" ]; then
  DEVICE=cuda "$TORCH_PYTHON" bench/torch_char_gpt.py train datasets/shakespeare.txt \
    | python3 -c 'import json,sys; s=json.load(sys.stdin); print("PyTorch CUDA: valid loss", round(s["valid_loss"], 4), "train", round(s["wall_s"], 1), "s", round(s["chars_per_s"]), "tokens/s")'
  echo "== this machine's CPU: flex against PyTorch, 2 threads, alternately"
  FFN_BIN="$bin/ffn" THREADS=2 REPEATS="${REPEATS:-2}" scripts/bench-vs-pytorch.sh flex
fi
