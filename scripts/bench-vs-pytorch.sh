#!/usr/bin/env bash
# Runs `ffn bench` and PyTorch's reference (bench/torch_ffn_bench.py) alternately, several times in
# one run on this machine, and prints the median time of each workload and the ratio
# ffn / PyTorch (lower is better).
#
#   scripts/bench-vs-pytorch.sh [BACKEND]     BACKEND: flex (default), ndarray, wgpu
#
# Environment: THREADS (CPU threads for both sides, default 2), REPEATS (alternations, default 3),
# TORCH_VENV (virtualenv with PyTorch, default .venv; created with `pip install torch` when
# missing), TORCH_DEVICE (cpu, or cuda to compare wgpu with PyTorch CUDA). PyTorch is only a
# benchmark peer here, never a dependency of the project.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-flex}
threads=${THREADS:-2}
repeats=${REPEATS:-3}
venv=${TORCH_VENV:-.venv}
torch_device=${TORCH_DEVICE:-cpu}
target=${CARGO_TARGET_DIR:-target}

if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "installing PyTorch into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch
fi
cargo build --release --workspace --bin ffn >&2

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for i in $(seq "$repeats"); do
  echo "round $i/$repeats" >&2
  RAYON_NUM_THREADS=$threads "$target/release/ffn" bench --backend "$backend" --json \
    | sed 's/^/ffn /' >>"$results"
  THREADS=$threads "$venv/bin/python" bench/torch_ffn_bench.py "$torch_device" \
    | sed 's/^/torch /' >>"$results"
done

machine=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
torch_version=$("$venv/bin/python" -c "import torch; print(torch.__version__)")
python3 - "$results" "$backend" "$threads" "$machine" "$torch_version" "$torch_device" <<'PY'
import json, statistics, sys
path, backend, threads, machine, torch_version, torch_device = sys.argv[1:]
runs = {"ffn": {}, "torch": {}}
for line in open(path):
    side, payload = line.split(" ", 1)
    record = json.loads(payload)
    runs[side].setdefault(record["workload"], []).append(record)
print(f"machine: {machine}; {threads} threads; ffn backend {backend}; PyTorch {torch_version} ({torch_device})")
print(f"{'workload':<20}{'ffn ms':>10}{'torch ms':>10}{'ratio':>8}{'ffn GFLOP/s':>13}{'torch GFLOP/s':>15}")
for workload in sorted(runs["ffn"]):
    ours = statistics.median(r["ms"] for r in runs["ffn"][workload])
    peer = statistics.median(r["ms"] for r in runs["torch"].get(workload, [{"ms": float("nan")}]))
    gf = lambda rs: statistics.median(r.get("gflops", float("nan")) for r in rs)
    ours_gf = gf(runs["ffn"][workload])
    peer_gf = gf(runs["torch"].get(workload, [{}]))
    print(f"{workload:<20}{ours:>10.2f}{peer:>10.2f}{ours / peer:>8.2f}{ours_gf:>13.1f}{peer_gf:>15.1f}")
PY
