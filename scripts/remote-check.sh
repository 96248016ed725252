#!/usr/bin/env bash
# Remote devices and data parallelism on one machine: starts two `ffn serve` processes on loopback
# (backend SERVER, default flex) and trains the reference character GPT for STEPS steps (default
# 40) on
#   1. the local device LOCAL (default flex),
#   2. one server (--backend remote:...),
#   3. both servers (--devices remote:A,remote:B), the global batch split in two,
#   4. the local device and one server (--devices LOCAL,remote:A),
# printing each run's final losses (equal up to rounding: the same global batch, no dropout) and
# its training throughput. On a GPU machine: LOCAL=wgpu SERVER=wgpu, then SERVER=flex.
# Usage: [FFN_BIN=target/release/ffn] [LOCAL=flex] [SERVER=flex] [STEPS=40] scripts/remote-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${FFN_BIN:-target/release/ffn}"
local_device="${LOCAL:-flex}"
server_backend="${SERVER:-flex}"
steps="${STEPS:-40}"

work=$(mktemp -d)
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/token"
export FFN_REMOTE_TOKEN
FFN_REMOTE_TOKEN=$(cat "$work/token")

# Starts server $1 on a free loopback port (in this shell, so that cleanup can stop it) and waits
# until it listens; its address is then in $work/addr-$1.
start_server() {
  local log="$work/server-$1.out"
  RUST_LOG=warn "$bin" serve --backend "$server_backend" --listen 127.0.0.1:0 \
    --token-file "$work/token" > "$log" 2> "$work/server-$1.err" &
  servers+=("$!")
  for _ in $(seq 100); do
    if grep -o 'ws://[0-9.:]*' "$log" > "$work/addr-$1" 2>/dev/null; then return; fi
    sleep 0.1
  done
  echo "server $1 did not start: $(cat "$work/server-$1.err")" >&2
  exit 1
}
start_server a
start_server b
a=$(cat "$work/addr-a")
b=$(cat "$work/addr-b")
echo "servers ($server_backend): $a $b; local device: $local_device; $(nproc) CPU threads"

run() {
  local name="$1"
  shift
  "$bin" lm train --text datasets/shakespeare.txt --steps "$steps" --eval-interval "$steps" \
    --dropout 0 --seed 0 --out "$work/$name" --json "$@" | tail -n 1 \
    | python3 -c 'import json,sys; s=json.load(sys.stdin); print("{:<28} train loss {:.5f}  valid loss {:.5f}  {:8.0f} tokens/s  ({:.1f} s)".format(sys.argv[1], s["train"]["loss"], s["valid"]["loss"], s["tokens_per_second"], s["train_seconds"]))' "$name"
}
run "local $local_device" --backend "$local_device"
run "one server" --backend "remote:$a"
run "two servers" --devices "remote:$a,remote:$b"
run "$local_device + one server" --devices "$local_device,remote:$a"
