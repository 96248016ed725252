#!/usr/bin/env bash
# Trains the default model on the shipped Wine data, writes its HTML report with `ffn report`, and
# screenshots the page with headless Chromium (Debian's `chromium` package) into docs/report.png
# (or the path given as the first argument). The report is offline: inline SVG, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
shot=${1:-docs/report.png}
if ! command -v chromium >/dev/null; then
  echo "this script needs Chromium: sudo apt-get install chromium" >&2
  exit 1
fi
target=${CARGO_TARGET_DIR:-target}
cargo build --release --workspace --bin ffn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$target/release/ffn" train --dataset datasets/wine.csv --out "$work/wine" | tail -3
"$target/release/ffn" report --run "$work/wine"
mkdir -p "$(dirname "$shot")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --window-size=1000,2330 --screenshot="$PWD/$shot" "file://$work/wine/report.html" 2>/dev/null
echo "saved the screenshot to $shot"
