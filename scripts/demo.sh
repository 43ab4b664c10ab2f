#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds sutra in build/ (set up there if need be), then shows what it does
# today on the sample book in data/:
#   1. runs pipelines/demo.json (book -> chapters -> sentence chunks -> JSON
#      lines) slowly, and interrupts it with Ctrl-C (SIGINT) part way;
#   2. resumes the job: the chunks finished before the interruption are not
#      computed again;
#   3. lists the chapters and chunks it wrote to out/demo.jsonl;
#   4. runs the same pipeline again without a job, at full speed, and checks
#      that the interrupted-and-resumed output is byte-identical.
# Extra arguments go to the first `sutra run` (e.g. --set input=BOOK.epub).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f build/build.ninja ]; then
  meson setup build
fi
meson compile -C build

sutra=build/engine/sutra
job=out/demo-job
mkdir -p out
rm -rf "$job" out/demo.jsonl out/demo-check.jsonl

echo
echo "== 1. sutra run pipelines/demo.json, interrupted with Ctrl-C after 1.5 s"
set +e
"$sutra" run pipelines/demo.json --job "$job" --set pace_us=150000 "$@" &
pid=$!
sleep 1.5
kill -INT "$pid" 2> /dev/null
wait "$pid"
status=$?
set -e
case $status in
  130) echo "(exit status 130: interrupted; the job keeps what was finished)" ;;
  0) echo "(the run finished before the interruption: nothing to resume)" ;;
  *) echo "demo: sutra run failed with exit status $status" >&2; exit "$status" ;;
esac

echo
echo "== 2. sutra resume $job"
"$sutra" resume "$job"

echo
echo "== 3. out/demo.jsonl: chapters and sentence chunks"
python3 - out/demo.jsonl << 'PY'
import json, sys
chapters = {}
with open(sys.argv[1], encoding="utf-8") as f:
    records = [json.loads(line) for line in f]
for r in records:
    meta = r.get("meta", {})
    c = chapters.setdefault(meta.get("chapter_index"), [meta.get("chapter_title"), 0])
    c[1] += 1
book = records[0]["meta"].get("title", records[0]["id"].split("/")[0])
print(f"{book}: {len(chapters)} chapters, {len(records)} chunks")
for index, (title, n) in sorted(chapters.items()):
    print(f"  {index}: {title} ({n} chunks)")
print("first chunk:", json.dumps(records[0], ensure_ascii=False)[:300])
PY

echo
echo "== 4. the same pipeline, uninterrupted and without a job"
"$sutra" run pipelines/demo.json --no-job --quiet --set output=out/demo-check.jsonl "$@"
if cmp -s out/demo.jsonl out/demo-check.jsonl; then
  echo "out/demo.jsonl is byte-identical to an uninterrupted run ($(wc -l < out/demo.jsonl) lines)"
else
  echo "demo: the resumed output differs from an uninterrupted run" >&2
  exit 1
fi
