#!/usr/bin/env bash
# Throughput and peak memory of text-source -> identity -> jsonl-sink, and
# the cost of checkpointing (journal + store) on the same pipeline.
#
#   bench/bench-core.sh [BUILD_DIR] [LINES...]      (default: build 1000000 10000000)
#
# Each configuration runs REPEAT times (default 11). The runs of one round
# are back to back, in an order that alternates from round to round, so that
# the noise of a shared machine reaches every configuration alike. Reported:
# the median time, and the checkpointed modes' cost against --no-job two
# ways: the ratio of the medians, and the median of the per-round ratios.
# WORKERS (default "1 2") chooses the pass stage's worker counts.
set -euo pipefail
build=${1:-build}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
repeat=${REPEAT:-11}
worker_counts=(${WORKERS:-1 2})
sutra="$build/engine/sutra"
pipeline="$(dirname "$0")/identity.json"
work=$(mktemp -d /tmp/sutra-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
modes=(no-job job job-pass-uncheckpointed)

median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Runs sutra with the given arguments; prints "seconds rss_kb". The clock is
# bash's, to the microsecond: /usr/bin/time's 10 ms steps are 2 % of a
# 0.5 s run.
measure () {
  local start end
  start=$EPOCHREALTIME
  /usr/bin/time -f "%M" -o "$work/rss.txt" "$sutra" "$@" >/dev/null 2>&1
  end=$EPOCHREALTIME
  echo "$(echo "$end - $start" | bc -l) $(cat "$work/rss.txt")"
}

run_mode () { # mode input workers; prints "seconds rss_kb"
  local flag=()
  rm -rf "$work/job" "$work/out.jsonl"
  case $1 in
    no-job) flag=(--no-job) ;;
    job) flag=(--job "$work/job") ;;
    # Do not store what is cheaper to recompute; the sink still resumes.
    job-pass-uncheckpointed) flag=(--job "$work/job" --set pass.checkpoint=false) ;;
  esac
  measure run "$pipeline" -q "${flag[@]}" --set input="$2" --set output="$work/out.jsonl" \
    --set pass.workers="$3"
}

printf '# %s, %s, %d cores, sutra %s, %d rounds\n' "$(uname -srm)" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" "$(nproc)" \
  "$("$sutra" --version | cut -d' ' -f2)" "$repeat"
printf '%-10s %-8s %-24s %9s %11s %8s %16s %16s\n' lines workers mode seconds items/s peak_MB \
  ratio_of_medians median_of_ratios
for n in "${sizes[@]}"; do
  input="$work/lines-$n.txt"
  seq 1 "$n" | sed 's/^/this is line number /' > "$input"
  for workers in "${worker_counts[@]}"; do
    declare -A times=() rss=() ratios=()
    for r in $(seq "$repeat"); do
      order=("${modes[@]}")
      if [ $((r % 2)) -eq 0 ]; then order=(job-pass-uncheckpointed job no-job); fi
      declare -A this=()
      for mode in "${order[@]}"; do
        read -r t m < <(run_mode "$mode" "$input" "$workers")
        times[$mode]+="$t "; rss[$mode]+="$m "; this[$mode]=$t
      done
      for mode in job job-pass-uncheckpointed; do
        ratios[$mode]+="$(echo "${this[$mode]} / ${this[no-job]}" | bc -l) "
      done
      # Re-running the finished job (the last mode run above left it).
      run_mode job "$input" "$workers" > /dev/null
      read -r t m < <(measure run "$pipeline" -q --job "$work/job" --set input="$input" \
        --set output="$work/out.jsonl" --set pass.workers="$workers")
      times[rerun]+="$t "; rss[rerun]+="$m "
      ratios[rerun]+="$(echo "$t / ${this[job]}" | bc -l) "
      unset this
    done
    base=$(echo ${times[no-job]} | tr ' ' '\n' | median)
    for mode in "${modes[@]}" rerun; do
      t=$(echo ${times[$mode]} | tr ' ' '\n' | median)
      m=$(echo ${rss[$mode]} | tr ' ' '\n' | median)
      if [ "$mode" = no-job ]; then
        of_medians=-; of_ratios=-
      elif [ "$mode" = rerun ]; then
        of_medians=-
        of_ratios=$(printf '%.3f' "$(echo ${ratios[rerun]} | tr ' ' '\n' | median)")
      else
        of_medians=$(printf '%.3f' "$(echo "$t / $base" | bc -l)")
        of_ratios=$(printf '%.3f' "$(echo ${ratios[$mode]} | tr ' ' '\n' | median)")
      fi
      printf '%-10s %-8s %-24s %9.3f %11.0f %8.1f %16s %16s\n' "$n" "$workers" "$mode" "$t" \
        "$(echo "$n / $t" | bc -l)" "$(echo "$m / 1024" | bc -l)" "$of_medians" "$of_ratios"
    done
    unset times rss ratios
  done
  # The files a fully checkpointed job of this size leaves.
  rm -rf "$work/job"
  "$sutra" run "$pipeline" -q --job "$work/job" --set input="$input" --set output="$work/out.jsonl"
  files=$(find "$work/job" -type f | wc -l)
  printf '# %s lines, every stage checkpointed: the job directory holds %s files (%s)\n' "$n" \
    "$files" "$(du -sh "$work/job" | cut -f1)"
done
echo "# rerun: median of (re-run of the finished job / its first run) per round"
