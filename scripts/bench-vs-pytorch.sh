#!/usr/bin/env bash
# Runs `ffn bench` and PyTorch's references (bench/torch_ffn_bench.py for W1-W3,
# bench/torch_char_gpt.py for W4) alternately, several times in one run on this machine, and prints the median time of each workload and the ratio
# ffn / PyTorch (lower is better).
#
#   scripts/bench-vs-pytorch.sh [BACKEND]     BACKEND: flex (default), ndarray, wgpu
#
# Environment: THREADS (CPU threads for both sides, default 2), REPEATS (alternations, default 3),
# TORCH_VENV (virtualenv with PyTorch, default .venv; created with `pip install torch` when
# missing), TORCH_PYTHON (a Python with PyTorch, used instead of the virtualenv), TORCH_DEVICE (cpu,
# or cuda to compare wgpu with PyTorch CUDA), FFN_BIN (a prebuilt `ffn` binary; otherwise built
# here). PyTorch is only a benchmark peer here, never a dependency of the project.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-flex}
threads=${THREADS:-2}
repeats=${REPEATS:-3}
venv=${TORCH_VENV:-.venv}
torch_device=${TORCH_DEVICE:-cpu}
target=${CARGO_TARGET_DIR:-target}

python=${TORCH_PYTHON:-$venv/bin/python}
if [ -z "${TORCH_PYTHON:-}" ] && ! "$python" -c "import torch" 2>/dev/null; then
  echo "installing PyTorch into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch
fi
ffn=${FFN_BIN:-}
if [ -z "$ffn" ]; then
  cargo build --release --workspace --bin ffn >&2
  ffn="$target/release/ffn"
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for i in $(seq "$repeats"); do
  echo "round $i/$repeats" >&2
  RAYON_NUM_THREADS=$threads "$ffn" bench --backend "$backend" --json \
    | sed 's/^/ffn /' >>"$results"
  THREADS=$threads "$python" bench/torch_ffn_bench.py "$torch_device" \
    | sed 's/^/torch /' >>"$results"
  THREADS=$threads DEVICE=$torch_device "$python" bench/torch_char_gpt.py bench \
    | sed 's/^/torch /' >>"$results"
done

# The machine's fp32 matrix-product peak as PyTorch reaches it: 2048 × 2048 × 2048, best of 10.
peak=$(THREADS=$threads "$python" - "$torch_device" <<'PY'
import os, sys, time, torch
torch.set_num_threads(int(os.environ["THREADS"]))
dev = sys.argv[1]
a, b = torch.randn(2048, 2048, device=dev), torch.randn(2048, 2048, device=dev)
best = float("inf")
for _ in range(12):
    if dev == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    a @ b
    if dev == "cuda":
        torch.cuda.synchronize()
    best = min(best, time.perf_counter() - t)
print(f"{2 * 2048 ** 3 / best / 1e9:.0f}")
PY
)
machine=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  machine="$machine, AVX-512"
elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
  machine="$machine, AVX2 (no AVX-512)"
fi
torch_version=$("$python" -c "import torch; print(torch.__version__)")
python3 - "$results" "$backend" "$threads" "$machine" "$torch_version" "$torch_device" "$peak" <<'PY'
import json, statistics, sys
path, backend, threads, machine, torch_version, torch_device, peak = sys.argv[1:]
runs = {"ffn": {}, "torch": {}}
for line in open(path):
    side, payload = line.split(" ", 1)
    record = json.loads(payload)
    runs[side].setdefault(record["workload"], []).append(record)
print(f"machine: {machine}; {threads} threads; ffn backend {backend}; PyTorch {torch_version} ({torch_device})")
print(f"fp32 matmul peak (PyTorch, 2048^3): {peak} GFLOP/s")
print(f"{'workload':<20}{'ffn ms':>10}{'torch ms':>10}{'ratio':>8}{'ffn GFLOP/s':>13}{'torch GFLOP/s':>15}")
for workload in sorted(w for w in runs["ffn"] if w in runs["torch"]):
    ours = statistics.median(r["ms"] for r in runs["ffn"][workload])
    peer = statistics.median(r["ms"] for r in runs["torch"].get(workload, [{"ms": float("nan")}]))
    def gflops(records):
        values = [r["gflops"] for r in records if "gflops" in r]
        return f"{statistics.median(values):.1f}" if values else "-"
    ours_gf = gflops(runs["ffn"][workload])
    peer_gf = gflops(runs["torch"].get(workload, []))
    print(f"{workload:<20}{ours:>10.2f}{peer:>10.2f}{ours / peer:>8.2f}{ours_gf:>13}{peer_gf:>15}")
PY
