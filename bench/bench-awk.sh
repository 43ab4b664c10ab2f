#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# sutra's item rate against a single-threaded awk doing the same conversion
# (lines -> JSON lines), side by side in one run (issue 10, item 7):
#
#   bench/bench-awk.sh [BUILD_DIR] [LINES]        (default: build 1000000)
#
# The input (INPUT=books, the default) is ../shared/data/books/classics.txt
# with its CRs removed (sutra drops a CRLF's CR, awk would keep it), repeated
# until it has LINES lines (51 bytes a line on average, many with quotes);
# INPUT=numbered is issue 10's "this is line number N" (28 bytes, nothing to
# escape), where awk's gsub has less to do.
# Each round times, in an order that alternates from round to round:
#   awk      awk '{gsub(/\\/,"\\\\"); gsub(/"/,"\\\""); printf ...}'
#   no-job   sutra run bench/identity-defaults.json --no-job (defaults, 2 workers)
#   job      the same with a fresh job (journal and store: checkpointing on)
# REPEAT rounds (default 7); prints the median seconds (bash's clock), the
# median CPU seconds (user + system, from /usr/bin/time: on a shared machine
# the steadier figure), the peak RSS and the ratios of the median seconds
# against awk and against no-job. Extra arguments for
# sutra go in SUTRA_ARGS (e.g. SUTRA_ARGS="--set pass.batch=1024").
set -euo pipefail
build=${1:-build}
lines=${2:-1000000}
repeat=${REPEAT:-7}
here="$(cd "$(dirname "$0")" && pwd)"
books="$here/../../shared/data/books"
[ -r "$books/classics.txt" ] || books="$here/../shared/data/books"
if [ ! -r "$books/classics.txt" ]; then
  echo "bench-awk: ../shared/data/books/classics.txt not found (the books live outside the project)" >&2
  exit 77
fi
sutra="$build/engine/sutra"
pipeline="$here/identity-defaults.json"
read -r -a extra <<< "${SUTRA_ARGS:-}"
work=$(mktemp -d /tmp/sutra-awk-XXXXXX)
trap 'rm -rf "$work"' EXIT

case ${INPUT:-books} in
  books)
    tr -d '\r' < "$books/classics.txt" > "$work/once.txt"
    awk -v n="$lines" '{ line[NR] = $0 } END { for (i = 0; i < n; i++) print line[i % NR + 1] }' \
      "$work/once.txt" > "$work/in.txt"
    ;;
  numbered) seq 1 "$lines" | sed 's/^/this is line number /' > "$work/in.txt" ;;
  *) echo "bench-awk: INPUT is books or numbered" >&2; exit 2 ;;
esac

median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Runs a command, output to $work/out; appends "seconds cpu_seconds rss_kb"
# to $work/t-$1.
# The clock is bash's, to the microsecond.
measure () {
  local name=$1 start end
  shift
  rm -rf "$work/job" "$work/out"
  start=$EPOCHREALTIME
  /usr/bin/time -f "%U %S %M" -o "$work/rss" "$@" > /dev/null 2> "$work/err" ||
    { cat "$work/err" >&2; exit 1; }
  end=$EPOCHREALTIME
  read -r user sys rss < <(tail -n1 "$work/rss")
  echo "$(echo "$end - $start" | bc -l) $(echo "$user + $sys" | bc -l) $rss" >> "$work/t-$name"
}

run_awk () {
  # shellcheck disable=SC2016
  measure awk sh -c 'LC_ALL=C awk '"'"'{gsub(/\\/,"\\\\"); gsub(/"/,"\\\""); printf "{\"id\":\"%d\",\"text\":\"%s\"}\n", NR, $0}'"'"' "$1" > "$2"' \
    awk "$work/in.txt" "$work/out"
}
run_sutra () { # mode
  local flag=(--no-job)
  [ "$1" = job ] && flag=(--job "$work/job")
  measure "$1" "$sutra" run "$pipeline" -q "${flag[@]}" --set input="$work/in.txt" \
    --set output="$work/out" "${extra[@]}"
}

modes=(awk no-job job)
for ((r = 0; r < repeat; r++)); do
  order=("${modes[@]}")
  ((r % 2 == 1)) && order=(job no-job awk)
  for mode in "${order[@]}"; do
    if [ "$mode" = awk ]; then run_awk; else run_sutra "$mode"; fi
  done
done

printf '# %s, %s, %d cores, sutra %s, %s %s lines (%s MB), %d rounds, SUTRA_ARGS=%s\n' \
  "$(uname -srm)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
  "$(nproc)" "$("$sutra" --version | cut -d' ' -f2)" "$lines" "${INPUT:-books}" \
  "$(($(stat -c %s "$work/in.txt") / 1000000))" "$repeat" "${SUTRA_ARGS:-}"
printf '%-8s %9s %8s %11s %8s %8s %10s\n' mode seconds cpu_s items/s peak_MB vs_awk vs_no-job
awk_t=$(cut -d' ' -f1 < "$work/t-awk" | median)
base=$(cut -d' ' -f1 < "$work/t-no-job" | median)
for mode in "${modes[@]}"; do
  t=$(cut -d' ' -f1 < "$work/t-$mode" | median)
  c=$(cut -d' ' -f2 < "$work/t-$mode" | median)
  m=$(cut -d' ' -f3 < "$work/t-$mode" | median)
  printf '%-8s %9.3f %8.3f %11.0f %8.1f %8.3f %10.3f\n' "$mode" "$t" "$c" "$(echo "$lines / $t" | bc -l)" \
    "$(echo "$m / 1024" | bc -l)" "$(echo "$t / $awk_t" | bc -l)" "$(echo "$t / $base" | bc -l)"
done
