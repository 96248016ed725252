#!/usr/bin/env bash
# Trains the default model on every shipped dataset with seeds 0..4 and prints the mean held-out
# test metric (accuracy, or R² for diabetes) and the mean wall time per run.
# Usage: scripts/accuracy.sh [extra `ffn train` flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p ffn-cli --bin ffn >/dev/null
ffn="${CARGO_TARGET_DIR:-target}/release/ffn"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-18s %-9s %s\n' dataset metric "mean over seeds 0-4 (per seed) | mean wall s"
for data in iris wine breast_cancer digits diabetes; do
  values=() walls=()
  for seed in 0 1 2 3 4; do
    line=$("$ffn" train --dataset "datasets/$data.csv" --seed "$seed" --out "$out/$data-$seed" --json "$@" | tail -n 1)
    values+=("$(python3 -c 'import json,sys; t=json.loads(sys.argv[1])["test"]; print(t.get("accuracy", t.get("r2")))' "$line")")
    walls+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["wall_seconds"])' "$line")")
  done
  python3 - "$data" "${values[*]}" "${walls[*]}" <<'PY'
import sys
name, values, walls = sys.argv[1], [float(v) for v in sys.argv[2].split()], [float(w) for w in sys.argv[3].split()]
metric = "r2" if name == "diabetes" else "accuracy"
print(f"{name:<18} {metric:<9} {sum(values)/len(values):.4f} ({', '.join(f'{v:.3f}' for v in values)}) | {sum(walls)/len(walls):.2f}")
PY
done
