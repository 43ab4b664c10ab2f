#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pipelines/audiobook.json with loudness normalisation against without,
# interleaved round by round so that a shared machine's noise reaches all:
#
#   bench/bench-audiobook-loudness.sh BUILD [BOOK]   (default ../shared/data/books/alice-pg11.txt)
#
# Three runs a round: `none` (the fast path: chapters encoded by
# audio-encode as they are spoken, remuxed), `r128 x1` and `r128 x2`
# (--set loudness=r128: chapters kept as PCM, the book measured, then the
# chapters encoded after the gain by audio-concat with encode_threads 1 or
# 2). REPEAT rounds (default 2), the order rotating. Prints each run, then
# the median wall and CPU seconds (the process tree's, from perf stat when
# it can count), the book's length, loudness and true peak (FFmpeg's
# ebur128 filter) and whether r128 x1 and x2 gave the same bytes.
set -euo pipefail
build=$(cd "${1:?usage: bench-audiobook-loudness.sh BUILD [BOOK]}" && pwd)
here="$(cd "$(dirname "$0")" && pwd)"
book=${2:-$here/../../shared/data/books/alice-pg11.txt}
repeat=${REPEAT:-2}
[ -r "$book" ] || { echo "bench-audiobook-loudness: no book at $book" >&2; exit 77; }
work=$(mktemp -d /tmp/sutra-loud-XXXXXX)
trap 'rm -rf "$work"' EXIT
sutra="$build/engine/sutra"
export SUTRA_PLUGIN_PATH=

median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
if perf stat -e task-clock -x, -o /dev/null true 2> /dev/null; then have_perf=1; else have_perf=0; fi
variants=(none r128x1 r128x2)
run () { # variant -> "wall_seconds cpu_seconds"
  local sets=() start end cpu=0
  case $1 in
    none) sets=(--set loudness=none) ;;
    r128x1) sets=(--set loudness=r128 --set book.encode_threads=1) ;;
    r128x2) sets=(--set loudness=r128 --set book.encode_threads=2) ;;
  esac
  rm -f "$work/$1.m4b"
  local cmd=("$sutra" run "$here/../pipelines/audiobook.json" -q --no-job
             --set input="$book" --set output="$work/$1.m4b" "${sets[@]}")
  start=$EPOCHREALTIME
  if ((have_perf)); then
    perf stat -e task-clock -x, -o "$work/stat" "${cmd[@]}" > /dev/null
    cpu=$(awk -F, '/task-clock/ {print $1 / 1000}' "$work/stat")
  else
    "${cmd[@]}" > /dev/null
  fi
  end=$EPOCHREALTIME
  echo "$(echo "$end - $start" | bc -l) $cpu"
}

for ((r = 0; r < repeat; r++)); do
  for ((i = 0; i < 3; i++)); do
    v=${variants[$(((i + r) % 3))]}
    read -r wall cpu < <(run "$v")
    echo "round $r $v: wall ${wall} s, cpu ${cpu} s"
    echo "$wall" >> "$work/$v.wall"
    echo "$cpu" >> "$work/$v.cpu"
  done
done

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus"
for v in "${variants[@]}"; do
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$work/$v.m4b")
  meter=$(ffmpeg -nostats -hide_banner -i "$work/$v.m4b" -af ebur128=peak=true -f null - 2>&1 |
    awk '/Summary:/ {s = 1} s && /I:/ {i = $2} s && /Peak:/ {p = $2} END {print i " LUFS, true peak " p " dBTP"}')
  printf '%s: median wall %s s, cpu %s s, %.0f s of audio, %s\n' "$v" \
    "$(median < "$work/$v.wall")" "$(median < "$work/$v.cpu")" "$dur" "$meter"
done
if cmp -s "$work/r128x1.m4b" "$work/r128x2.m4b"; then
  echo "r128x1 and r128x2: byte-identical"
else
  echo "r128x1 and r128x2: DIFFER"
fi
