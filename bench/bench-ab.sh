#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Two builds of sutra side by side on text-source -> identity -> jsonl-sink
# (bench/identity.json), interleaved round by round so that a shared
# machine's noise reaches both alike:
#
#   bench/bench-ab.sh OLD_BUILD NEW_BUILD [LINES]     (default 1000000)
#
# REPEAT rounds (default 9), each running both builds without a job and
# with a fresh job, in an order that alternates from round to round.
# Prints the median seconds of each and the ratio NEW/OLD of the medians,
# and the same of the CPU seconds (user + system: the steadier figure on a
# busy machine). PIPELINE chooses another pipeline with the same ${input}
# and ${output} (bench/identity-defaults.json: the untuned one).
set -euo pipefail
old=${1:?usage: bench-ab.sh OLD_BUILD NEW_BUILD [LINES]}
new=${2:?usage: bench-ab.sh OLD_BUILD NEW_BUILD [LINES]}
lines=${3:-1000000}
repeat=${REPEAT:-9}
pipeline=${PIPELINE:-"$(cd "$(dirname "$0")" && pwd)/identity.json"}
work=$(mktemp -d /tmp/sutra-ab-XXXXXX)
trap 'rm -rf "$work"' EXIT
seq -f 'line %g of the benchmark input, with some words in it' "$lines" > "$work/in.txt"
median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run () { # build mode -> "seconds cpu_seconds"
  local build=$1 mode=$2 start end args=()
  rm -rf "$work/job" "$work/out.jsonl"
  if [ "$mode" = no-job ]; then args=(--no-job); else args=(--job "$work/job"); fi
  start=$EPOCHREALTIME
  /usr/bin/time -f "%U %S" -o "$work/cpu" "$build/engine/sutra" run "$pipeline" -q "${args[@]}" \
    --set input="$work/in.txt" --set output="$work/out.jsonl" > /dev/null 2>&1
  end=$EPOCHREALTIME
  read -r user sys < "$work/cpu"
  echo "$(echo "$end - $start" | bc -l) $(echo "$user + $sys" | bc -l)"
}
for mode in no-job job; do
  : > "$work/old-$mode"; : > "$work/new-$mode"
done
for ((r = 0; r < repeat; r++)); do
  for mode in no-job job; do
    if ((r % 2 == 0)); then order=(old new); else order=(new old); fi
    for which in "${order[@]}"; do
      build=$old; [ "$which" = new ] && build=$new
      run "$build" "$mode" >> "$work/$which-$mode"
    done
  done
done
printf '%-8s %10s %10s %8s %10s %10s %8s\n' mode old_s new_s new/old old_cpu new_cpu new/old
for mode in no-job job; do
  o=$(cut -d' ' -f1 "$work/old-$mode" | median); n=$(cut -d' ' -f1 "$work/new-$mode" | median)
  oc=$(cut -d' ' -f2 "$work/old-$mode" | median); nc=$(cut -d' ' -f2 "$work/new-$mode" | median)
  printf '%-8s %10.3f %10.3f %8.3f %10.3f %10.3f %8.3f\n' "$mode" "$o" "$n" "$(echo "$n / $o" | bc -l)" \
    "$oc" "$nc" "$(echo "$nc / $oc" | bc -l)"
done
