#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA (or other Vulkan) GPU: builds the release binaries (unless
# FFN_BIN_DIR points at prebuilt ones), then runs on wgpu
#   1. the backend parity example (max |difference| of outputs and gradients vs the flex CPU
#      reference, with timings),
#   2. training the default model on digits on wgpu and on flex, with wall times,
#   3. the reference benchmarks (`ffn bench`, W1-W3) on wgpu, and PyTorch CUDA's times for the same
#      workloads when a Python with torch is given as TORCH_PYTHON.
# Usage: scripts/gpu-check.sh        (needs the Vulkan loader, libvulkan1, and the GPU's Vulkan ICD)
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

echo "== benchmarks on wgpu (W1 FFN train step, W2 MLP epoch, W3 FFN forward)"
"$bin/ffn" bench --backend wgpu --rounds 3
if [ -n "${TORCH_PYTHON:-}" ]; then
  echo "== PyTorch CUDA on the same workloads"
  "$TORCH_PYTHON" bench/torch_ffn_bench.py cuda
fi
