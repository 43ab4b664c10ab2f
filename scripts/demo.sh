#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds sutra in build/ (set up there if need be) and runs the demo
# pipeline on the sample text in data/, writing out/demo.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f build/build.ninja ]; then
  meson setup build
fi
meson compile -C build

mkdir -p out
build/engine/sutra run pipelines/demo.json \
  --set input=data/sample.txt --set output=out/demo.jsonl "$@"

echo
echo "out/demo.jsonl (first lines):"
head -n 5 out/demo.jsonl
