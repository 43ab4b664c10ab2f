#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# pipelines/translate.json against the Apertium command line on the same
# book, interleaved round by round so that a shared machine's noise
# reaches every contender (issue #12, item 6):
#
#   bench/bench-translate.sh BUILD [BOOK [BYTES]]
#       BOOK default ../shared/data/books/classics.txt; BYTES: only the
#       book's first BYTES bytes (cut at a line end), for a slow machine
#
# Contenders, each REPEAT rounds (default 3), the order rotating:
#   apertium  `apertium eng-spa < BOOK > OUT`: the whole file in one call
#   sutra-1   pipelines/translate.json, translate.workers=1, with a job
#   sutra-2   the same with translate.workers=2 (the pipeline's default)
# sutra runs with a fresh job each time (checkpoints written, nothing
# reused), so it pays for chunking, the store and the journal.
# Then one `apertium eng-spa` call per chunk (the segmenter's chunks, as
# the translate stage gets them) on a sample of SAMPLE chunks (default 40,
# spread over the book), extrapolated to all chunks.
# Prints median wall seconds, KB/s of the book, and the ratios.
set -euo pipefail
build=$(cd "${1:?usage: bench-translate.sh BUILD [BOOK [BYTES]]}" && pwd)
here="$(cd "$(dirname "$0")" && pwd)"
book=${2:-$here/../../shared/data/books/classics.txt}
bytes=${3:-0}
repeat=${REPEAT:-3}
sample=${SAMPLE:-40}
[ -r "$book" ] || { echo "bench-translate: no book at $book (../shared absent?)" >&2; exit 77; }
apertium -l 2> /dev/null | grep -w eng-spa > /dev/null || { echo "bench-translate: apertium eng-spa is not installed" >&2; exit 77; }
work=$(mktemp -d /tmp/sutra-translate-XXXXXX)
trap 'rm -rf "$work"' EXIT
sutra="$build/engine/sutra"
export SUTRA_PLUGIN_PATH=

if ((bytes > 0)); then
  head -c "$bytes" "$book" | sed '$d' > "$work/book.txt"
else
  cp "$book" "$work/book.txt"
fi
size=$(stat -c %s "$work/book.txt")
"$sutra" run "$here/../pipelines/segment.json" -q --no-job --set input="$work/book.txt" \
  --set max_chars=400 --set output="$work/chunks.jsonl" > /dev/null
n_chunks=$(wc -l < "$work/chunks.jsonl")
echo "book: $book, $size bytes, $n_chunks chunks (max_chars 400); $(nproc) CPUs; $(dpkg-query -W -f '${Package} ${Version}' apertium-en-es 2> /dev/null || true)"

median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run () { # which -> wall seconds
  local start end
  rm -rf "$work/out" "$work/out.txt" "$work/job"
  mkdir -p "$work/out"
  start=$EPOCHREALTIME
  case $1 in
    apertium) apertium eng-spa < "$work/book.txt" > "$work/out.txt" ;;
    sutra-*) "$sutra" run "$here/../pipelines/translate.json" -q --job "$work/job" \
        --set input="$work/book.txt" --set output="$work/out" \
        --set translate.workers="${1#sutra-}" > /dev/null ;;
  esac
  end=$EPOCHREALTIME
  echo "$end - $start" | bc -l
}
contenders=(apertium sutra-1 sutra-2)
for which in "${contenders[@]}"; do : > "$work/$which"; done
for ((r = 0; r < repeat; r++)); do
  for ((k = 0; k < ${#contenders[@]}; k++)); do
    which=${contenders[$(((k + r) % ${#contenders[@]}))]}
    run "$which" >> "$work/$which"
  done
done

# One call per chunk on a sample spread over the book.
step=$(((n_chunks + sample - 1) / sample))
jq -r '.text | @json' "$work/chunks.jsonl" | awk -v s="$step" 'NR % s == 1' > "$work/sample"
n_sample=$(wc -l < "$work/sample")
start=$EPOCHREALTIME
while IFS= read -r line; do
  jq -rn --argjson t "$line" '$t' | apertium eng-spa > /dev/null
done < "$work/sample"
per_chunk=$(echo "($EPOCHREALTIME - $start) / $n_sample" | bc -l)
per_chunk_total=$(echo "$per_chunk * $n_chunks" | bc -l)

printf '%-10s %9s %9s  %s\n' run wall_s KB/s 'runs'
for which in "${contenders[@]}"; do
  w=$(median < "$work/$which")
  printf '%-10s %9.2f %9.1f  %s\n' "$which" "$w" "$(echo "$size / 1024 / $w" | bc -l)" "$(tr '\n' ' ' < "$work/$which")"
done
printf '%-10s %9.2f %9.1f  (%.3f s per call x %d chunks, from %d calls)\n' per-chunk "$per_chunk_total" \
  "$(echo "$size / 1024 / $per_chunk_total" | bc -l)" "$per_chunk" "$n_chunks" "$n_sample"
a=$(median < "$work/apertium")
for which in sutra-1 sutra-2; do
  w=$(median < "$work/$which")
  printf '%s: %.2fx apertium'"'"'s throughput (target >= 0.9), %.0fx faster than a call per chunk (target >= 50)\n' \
    "$which" "$(echo "$a / $w" | bc -l)" "$(echo "$per_chunk_total / $w" | bc -l)"
done
