#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The dhātu kernel's benchmark (issue 13, docs/benchmarks.md), on the seed
# corpus of ../shared/data/dhatu/README.md, interleaved round by round so
# that a shared machine's noise reaches every contender alike:
#
#   bench/bench-dhatu.sh BUILD [TEXTS]     (default 1000000)
#
# Each of REPEAT rounds (default 3) runs, in an order rotating per round,
# the CONTENDERS (default all four; e.g. CONTENDERS="pipe-2 numpy" for 10M
# texts, where the kernel's in-memory corpus would be 1 GB):
#   kernel   build/bench/dhatu/bench-dhatu-kernel: the CPU kernel alone
#   pipe-1   sutra run pipelines/dhatu-corpus.json, 1 dhatu worker, no job
#   pipe-2   the same with 2 dhatu workers
#   numpy    bench/dhatu-numpy.py on TEXTS/NUMPY_DIV texts (default 10: it
#            is slow), the baseline, building its texts in the timed loop
# For each: the median wall rate (texts/s), the median rate per CPU second
# (user + system: what the run got of the cores, which on a shared machine
# is the fairer per-core figure), and the peak RSS. Then the ratios. The
# kernel's and numpy's times are their own (see measure), and the kernel's
# RSS holds its corpus: about 100 MB at 1M texts.
set -euo pipefail
build=$(cd "${1:?usage: bench-dhatu.sh BUILD [TEXTS]}" && pwd)
texts=${2:-1000000}
repeat=${REPEAT:-3}
numpy_div=${NUMPY_DIV:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=/usr/bin/python3
work=$(mktemp -d /tmp/sutra-dhatu-XXXXXX)
trap 'rm -rf "$work"' EXIT

# The corpus: text i is " Article {i+1}: " + S[i mod 10], one a line.
"$python" -c '
import sys
S = open(sys.argv[1]).read().split("```")[1].strip().split("\n")
n = int(sys.argv[2])
with open(sys.argv[3], "w") as out:
    for first in range(0, n, 100000):
        out.write("".join(" Article %d: %s\n" % (i + 1, S[i % 10]) for i in range(first, min(n, first + 100000))))
' "$root/../shared/data/dhatu/README.md" "$texts" "$work/corpus.txt"

median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# measure NAME N COMMAND...: appends "wall cpu rss_kb" of one run to $work/NAME
measure () {
  local name=$1 n=$2
  shift 2
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" > "$work/out" 2> "$work/err" || {
    echo "bench-dhatu: $name failed:" >&2; cat "$work/err" >&2; exit 1; }
  read -r wall user sys rss < "$work/time"
  cpu=$(echo "$user + $sys" | bc -l)
  if [ "$name" = kernel ] || [ "$name" = numpy ]; then
    # These time themselves: the kernel without building its corpus in
    # memory, numpy without Python's start and imports (about 0.3 s).
    wall=$(sed 's/.*"seconds": \([0-9.]*\).*/\1/' "$work/out")
    cpu=$(sed 's/.*"cpu_seconds": \([0-9.]*\).*/\1/' "$work/out")
  fi
  echo "$n $wall $cpu $rss" >> "$work/$name"
}
read -r -a contenders <<< "${CONTENDERS:-kernel pipe-1 pipe-2 numpy}"
for name in "${contenders[@]}"; do : > "$work/$name"; done
for ((r = 0; r < repeat; r++)); do
  for ((k = 0; k < ${#contenders[@]}; k++)); do
    name=${contenders[$(((k + r) % ${#contenders[@]}))]}
    case $name in
      kernel) measure kernel "$texts" "$build/bench/dhatu/bench-dhatu-kernel" -n "$texts" ;;
      pipe-*)
        rm -rf "$work/npy"
        measure "$name" "$texts" "$build/engine/sutra" run -q --no-job \
          "$root/pipelines/dhatu-corpus.json" --set input="$work/corpus.txt" \
          --set output="$work/npy" --set dhatu.workers="${name#pipe-}" ;;
      numpy) measure numpy $((texts / numpy_div)) "$python" "$here/dhatu-numpy.py" \
          --count $((texts / numpy_div)) ;;
    esac
  done
done

echo "texts: $texts (numpy: $((texts / numpy_div))), rounds: $repeat, $(nproc) cores, $(uptime | sed 's/.*load/load/')"
printf '%-8s %14s %16s %10s\n' "" "texts/s (wall)" "texts/CPU-s" "peak RSS"
for name in "${contenders[@]}"; do
  wall_rate=$(awk '{printf "%.3f\n", $1 / $2}' "$work/$name" | median)
  cpu_rate=$(awk '{printf "%.3f\n", $1 / $3}' "$work/$name" | median)
  rss=$(awk '{print $4}' "$work/$name" | median)
  printf '%-8s %14.0f %16.0f %7.1f MB\n' "$name" "$wall_rate" "$cpu_rate" "$(echo "$rss / 1024" | bc -l)"
  echo "$wall_rate $cpu_rate" > "$work/$name.rate"
done
[ -f "$work/numpy.rate" ] || exit 0
read -r numpy_wall numpy_cpu < "$work/numpy.rate"
for name in "${contenders[@]}"; do
  [ "$name" != numpy ] || continue
  read -r wall cpu < "$work/$name.rate"
  printf '%-8s / numpy: %6.1fx wall, %6.1fx per CPU second\n' "$name" \
    "$(echo "$wall / $numpy_wall" | bc -l)" "$(echo "$cpu / $numpy_cpu" | bc -l)"
done
