#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The tts stage against the espeak-ng command line on the same text,
# interleaved round by round so that a shared machine's noise reaches both:
#
#   bench/bench-tts.sh BUILD [BOOK]     (default ../shared/data/books/alice-pg11.txt)
#
# sutra: text-source -> segmenter -> tts (voice en) -> file-sink, one raw
# PCM file per chunk (bench/tts.json). espeak-ng: `espeak-ng -v en -f
# TEXT -w OUT.wav`, where TEXT is the very text the segmenter gives the
# tts stage (its chunks, one paragraph each), so both speak the same words
# and write the same amount of audio. REPEAT rounds (default 3), the order
# alternating. Prints the median wall and CPU seconds (CPU of the whole
# process tree, from perf stat, when perf can count), the audio's length,
# the real-time factor and the ratios sutra/espeak-ng of the medians.
set -euo pipefail
build=$(cd "${1:?usage: bench-tts.sh BUILD [BOOK]}" && pwd)
here="$(cd "$(dirname "$0")" && pwd)"
book=${2:-$here/../../shared/data/books/alice-pg11.txt}
repeat=${REPEAT:-3}
[ -r "$book" ] || { echo "bench-tts: no book at $book (../shared absent?)" >&2; exit 77; }
work=$(mktemp -d /tmp/sutra-tts-XXXXXX)
trap 'rm -rf "$work"' EXIT
sutra="$build/engine/sutra"
export SUTRA_PLUGIN_PATH=

# The segmenter's chunks as the text espeak-ng reads: a blank line between
# chunks, so that espeak-ng pauses there as after a chunk.
"$sutra" run "$here/../pipelines/segment.json" -q --no-job --set input="$book" \
  --set output="$work/chunks.jsonl" > /dev/null
jq -r '.text + "\n"' "$work/chunks.jsonl" > "$work/book.txt"
echo "chunks: $(wc -l < "$work/chunks.jsonl"), words: $(wc -w < "$work/book.txt")"

median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# CPU seconds of the whole process tree (the speaker and its children
# included, which no wait() reports), where perf can count them.
if perf stat -e task-clock -x, -o /dev/null true 2> /dev/null; then
  have_perf=1
else
  have_perf=0
fi
run () { # which -> "wall_seconds cpu_seconds" (cpu 0 without perf)
  local start end cmd cpu=0
  rm -rf "$work/out" "$work/out.wav"
  if [ "$1" = sutra ]; then
    cmd=("$sutra" run "$here/tts.json" -q --no-job --set input="$book" --set output="$work/out")
  else
    cmd=(espeak-ng -v en -f "$work/book.txt" -w "$work/out.wav")
  fi
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
audio_s () { # which -> seconds of audio written
  if [ "$1" = sutra ]; then
    echo "$(find "$work/out" -type f -printf '%s\n' | awk '{s+=$1} END {print s}') / 44100" | bc -l
  else
    echo "($(stat -c %s "$work/out.wav") - 44) / 44100" | bc -l
  fi
}
: > "$work/sutra"; : > "$work/espeak"
for ((r = 0; r < repeat; r++)); do
  if ((r % 2 == 0)); then order=(espeak sutra); else order=(sutra espeak); fi
  for which in "${order[@]}"; do
    run "$which" >> "$work/$which"
    audio_s "$which" > "$work/$which-audio"
  done
done
printf '%-8s %9s %9s %9s %10s\n' run wall_s cpu_s audio_s realtime
for which in espeak sutra; do
  w=$(cut -d' ' -f1 < "$work/$which" | median); c=$(cut -d' ' -f2 < "$work/$which" | median)
  a=$(cat "$work/$which-audio")
  printf '%-8s %9.2f %9.2f %9.1f %9.0fx\n' "$which" "$w" "$c" "$a" "$(echo "$a / $w" | bc -l)"
done
ratio () { echo "$(cut -d' ' -f"$1" < "$work/sutra" | median) / $(cut -d' ' -f"$1" < "$work/espeak" | median)" | bc -l; }
printf 'sutra/espeak-ng: wall %.3f' "$(ratio 1)"
((have_perf)) && printf ', cpu %.3f' "$(ratio 2)"
printf '\n(wall cpu per run; sutra: %s| espeak-ng: %s)\n' "$(tr '\n' ' ' < "$work/sutra")" \
  "$(tr '\n' ' ' < "$work/espeak")"
