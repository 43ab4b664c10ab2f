#!/usr/bin/env bash
# Throughput and peak memory of text-source -> identity -> jsonl-sink, and
# the cost of checkpointing (journal + store) on the same pipeline.
#
#   bench/bench-core.sh [BUILD_DIR] [LINES...]      (default: build 1000000 10000000)
#
# Each configuration runs REPEAT times (default 3), interleaved with the
# others so that machine noise spreads evenly; the median is reported.
set -euo pipefail
build=${1:-build}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
repeat=${REPEAT:-3}
sutra="$build/engine/sutra"
pipeline="$(dirname "$0")/identity.json"
work=$(mktemp -d /tmp/sutra-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

median () { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure () { # label, then sutra arguments; prints "seconds rss_kb"
  local out="$work/time.txt"
  /usr/bin/time -f "%e %M" -o "$out" "$sutra" "$@" >/dev/null 2>&1
  cat "$out"
}

printf '# %s, %s, %d cores, sutra %s\n' "$(uname -srm)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$(nproc)" "$("$sutra" --version | cut -d' ' -f2)"
printf '%-10s %-8s %-22s %10s %12s %10s\n' lines workers mode seconds items/s peak_MB
for n in "${sizes[@]}"; do
  input="$work/lines-$n.txt"
  seq 1 "$n" | sed 's/^/this is line number /' > "$input"
  for workers in 1 2; do
    declare -A times=() rss=()
    for r in $(seq "$repeat"); do
      for mode in no-job job job-pass-uncheckpointed; do
        rm -rf "$work/job" "$work/out.jsonl"
        case $mode in
          no-job) flag=(--no-job) ;;
          job) flag=(--job "$work/job") ;;
          # The realistic setting for a stage that costs nothing: do not
          # store what is cheaper to recompute. The sink still resumes.
          job-pass-uncheckpointed) flag=(--job "$work/job" --set pass.checkpoint=false) ;;
        esac
        read -r t m < <(measure run "$pipeline" -q "${flag[@]}" --set input="$input" \
          --set output="$work/out.jsonl" --set pass.workers="$workers")
        times[$mode]+="$t "; rss[$mode]+="$m "
      done
      # Re-running the finished job: what is left to do is nothing.
      read -r t m < <(measure run "$pipeline" -q --job "$work/job" --set input="$input" \
        --set output="$work/out.jsonl" --set pass.workers="$workers" --set pass.checkpoint=false)
      times[rerun]+="$t "; rss[rerun]+="$m "
    done
    for mode in no-job job job-pass-uncheckpointed rerun; do
      t=$(echo ${times[$mode]} | tr ' ' '\n' | median)
      m=$(echo ${rss[$mode]} | tr ' ' '\n' | median)
      printf '%-10s %-8s %-22s %10.2f %12.0f %10.1f\n' "$n" "$workers" "$mode" "$t" \
        "$(echo "$n / $t" | bc -l)" "$(echo "$m / 1024" | bc -l)"
    done
    unset times rss
  done
  # The files a fully checkpointed job of this size leaves.
  rm -rf "$work/job"
  "$sutra" run "$pipeline" -q --job "$work/job" --set input="$input" --set output="$work/out.jsonl"
  files=$(find "$work/job" -type f | wc -l)
  printf '# %s lines, every stage checkpointed: the job directory holds %s files (%s)\n' "$n" "$files" "$(du -sh "$work/job" | cut -f1)"
done
