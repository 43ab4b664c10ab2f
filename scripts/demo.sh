#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds sutra in build/ (set up there if need be), then makes an audiobook
# of the sample book in data/ with pipelines/audiobook.json (book ->
# chapters -> sentence chunks -> speech -> one AAC encode per chapter, in
# parallel -> one M4B with chapter marks and tags), and shows that an
# interrupted run resumes to the same bytes:
#   1. runs the pipeline without a job, to the end: the reference M4B, and
#      how long a run takes here;
#   2. runs it again with a job and kills it (SIGKILL, as a crash would)
#      half way through;
#   3. resumes the job: what was committed before the kill is not spoken or
#      encoded again;
#   4. checks that the resumed M4B is byte-identical to the reference, and
#      lists its chapters, where the file is and how long it plays.
# Extra arguments go to every `sutra run` (e.g. --set input=BOOK.epub
# --set voice=en-us); the output is out/sample-book.m4b unless one of them
# sets output (the reference is written next to it).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f build/build.ninja ]; then
  meson setup build
fi
meson compile -C build

sutra=build/engine/sutra
pipeline=pipelines/audiobook.json
job=out/audiobook-job
output=out/sample-book.m4b
reference=out/sample-book-reference.m4b
for arg in "$@"; do
  case $arg in
    output=* | --set=output=*)
      output=${arg#*output=}
      reference="${output%.*}-reference.${output##*.}"
      ;;
  esac
done
mkdir -p out "$(dirname "$output")"
rm -rf "$job" "$output" "$reference"

now() { date +%s%N; }

echo
echo "== 1. sutra run $pipeline, uninterrupted and without a job (the reference)"
start=$(now)
"$sutra" run "$pipeline" --no-job --quiet "$@" --set output="$reference"
elapsed_ms=$((($(now) - start) / 1000000))
echo "(finished in $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000))) s: $reference)"

echo
delay_ms=$((elapsed_ms / 2))
echo "== 2. the same run with a job ($job), killed with SIGKILL after $((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000))) s"
set +e
"$sutra" run "$pipeline" --job "$job" --quiet "$@" --set output="$output" &
pid=$!
sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
kill -KILL "$pid" 2> /dev/null
wait "$pid"
status=$?
set -e
case $status in
  137) echo "(killed: exit status 137; the job keeps what was committed)" ;;
  0) echo "(the run finished before the kill: the resume has nothing to do)" ;;
  *) echo "demo: sutra run failed with exit status $status" >&2; exit "$status" ;;
esac

echo
echo "== 3. sutra resume $job"
"$sutra" resume "$job"

echo
echo "== 4. the audiobook"
if cmp -s "$output" "$reference"; then
  echo "$output is byte-identical to the uninterrupted run's ($(stat -c %s "$output") bytes)"
else
  echo "demo: the resumed $output differs from the uninterrupted run's $reference" >&2
  exit 1
fi
python3 - "$output" << 'PY'
import json, subprocess, sys
probe = json.loads(subprocess.run(
    ["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-of", "json", sys.argv[1]],
    check=True, capture_output=True, text=True).stdout)
fmt = probe["format"]
tags = fmt.get("tags", {})
def clock(seconds):
    s = int(round(float(seconds)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
by = f", by {tags['artist']}" if "artist" in tags else ""
print(f"{tags.get('title', '(no title)')}{by}: {len(probe['chapters'])} chapters")
for c in probe["chapters"]:
    print(f"  {clock(c['start_time'])}  {c.get('tags', {}).get('title', '')}")
print(f"{sys.argv[1]} plays {clock(fmt['duration'])} ({float(fmt['duration']):.1f} s)")
PY
