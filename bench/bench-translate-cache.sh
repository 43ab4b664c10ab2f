#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The translation cache (issue 12, cache-first): pipelines/translate.json on
# a book, a first job against a second job of the same book through the
# same store (--cache DIR), interleaved round by round on a fresh store
# each round:
#
#   bench/bench-translate-cache.sh BUILD [BOOK]  (default ../shared/data/books/classics.txt)
#
# first:   a new job, an empty store: every chunk goes to Apertium.
# second:  a new job, the same store: the batch records answer.
# rebatch: a new job, the same store, translate.batch=7 (no batch record
#          fits, so the per-chunk content cache answers: what a book
#          sharing sentences with an earlier one gets).
# REPEAT rounds (default 2). Prints each run's wall seconds and the
# translate stage's cache hits and misses, then the medians and ratios.
set -euo pipefail
build=$(cd "${1:?usage: bench-translate-cache.sh BUILD [BOOK]}" && pwd)
here="$(cd "$(dirname "$0")" && pwd)"
book=${2:-$here/../../shared/data/books/classics.txt}
repeat=${REPEAT:-2}
[ -r "$book" ] || { echo "bench-translate-cache: no book at $book (../shared absent?)" >&2; exit 77; }
[ -r /usr/share/apertium/modes/eng-spa.mode ] || { echo "bench-translate-cache: eng-spa not installed" >&2; exit 77; }
work=$(mktemp -d /tmp/sutra-translate-cache-XXXXXX)
trap 'rm -rf "$work"' EXIT
sutra="$build/engine/sutra"
export SUTRA_PLUGIN_PATH=

median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# run NAME ROUND [--set ...]: one job; prints its wall seconds.
run () {
  local name=$1 round=$2
  shift 2
  local start end
  start=$(date +%s.%N)
  "$sutra" run -q --job "$work/$round/$name" --cache "$work/$round/cache" \
    "$here/../pipelines/translate.json" --set input="$book" \
    --set output="$work/$round/out-$name" "$@" > /dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}

counts () {
  "$sutra" status --json "$1" |
    jq -r '.stages[] | select(.stage == "translate") | "\(.done) chunks, \(.cache_hits // 0) hits, \(.cache_misses // 0) misses"'
}

: > "$work/first" ; : > "$work/second" ; : > "$work/rebatch"
for round in $(seq 1 "$repeat"); do
  mkdir -p "$work/$round"
  t=$(run first "$round"); echo "$t" >> "$work/first"
  echo "round $round first:   $t s  ($(counts "$work/$round/first"))"
  t=$(run second "$round"); echo "$t" >> "$work/second"
  echo "round $round second:  $t s  ($(counts "$work/$round/second"))"
  t=$(run rebatch "$round" --set translate.batch=7); echo "$t" >> "$work/rebatch"
  echo "round $round rebatch: $t s  ($(counts "$work/$round/rebatch"))"
  diff -r -q "$work/$round/out-first" "$work/$round/out-second" > /dev/null || { echo "outputs differ (second)" >&2; exit 1; }
  diff -r -q "$work/$round/out-first" "$work/$round/out-rebatch" > /dev/null || { echo "outputs differ (rebatch)" >&2; exit 1; }
  rm -rf "$work/$round"
done
first=$(median < "$work/first"); second=$(median < "$work/second"); rebatch=$(median < "$work/rebatch")
echo "median: first $first s, second $second s ($(echo "scale=1; $first / $second" | bc)x faster), rebatch $rebatch s ($(echo "scale=1; $first / $rebatch" | bc)x faster); outputs byte-identical"
