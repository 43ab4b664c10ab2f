#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What sharding costs (issue 14, docs/benchmarks.md "Shards"): a job run as
# N shards one after another on this machine, then the gather, against the
# same job in one process, for the dhatu corpus pipeline and the audiobook:
#
#   bench/bench-shards.sh [TEXTS [BOOK]]   (default 2000000 texts, Alice)
#
# BUILD (default build/ in this checkout) is the meson build to run. For
# each workload, REPEAT rounds (default 3) run these variants, in an order
# that rotates per round so that a shared machine's noise reaches them all:
#   plain      sutra run --no-job (nothing kept)
#   job        sutra run with its default job directory and store (fresh)
#   shards-N   for N = 1, 2, 4: `sutra run --shard K/N --cache STORE` for
#              K = 0..N-1 one after another (each with the pipeline's own
#              workers), then `--shard gather`, on a fresh store
# Per variant, the medians of: wall seconds (for shards-N: the sum of the
# shards' walls, the gather's, and the whole), CPU seconds (user + system of
# the process tree) and the ratio to job and to plain (whole wall and CPU).
# Then, from the last shards-4 run of each workload, what the store holds:
# bytes, files, packs, index entries: the per-item figures of the model in
# docs/benchmarks.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
texts=${1:-2000000}
book=${2:-$root/../shared/data/books/alice-pg11.txt}
build=$(cd "${BUILD:-$root/build}" && pwd)
repeat=${REPEAT:-3}
sutra=$build/engine/sutra
readme=$root/../shared/data/dhatu/README.md
export SUTRA_PLUGIN_PATH=

[ -x "$sutra" ] || { echo "bench-shards: no $sutra (meson setup build; or BUILD=DIR)" >&2; exit 77; }
[ -r "$readme" ] || { echo "bench-shards: no $readme (../shared absent?)" >&2; exit 77; }
[ -r "$book" ] || { echo "bench-shards: no book at $book" >&2; exit 77; }
command -v perf > /dev/null || [ -x /usr/bin/time ] ||
  { echo "bench-shards: neither perf nor /usr/bin/time is installed" >&2; exit 77; }
work=$(mktemp -d /tmp/sutra-bench-shards-XXXXXX)
trap 'rm -rf "$work"' EXIT
# Shards' job directories (their journals) go to $TMPDIR/sutra-shards.
export TMPDIR=$work/tmp

# The seed corpus (../shared/data/dhatu/README.md): text i is
# " Article {i+1}: " and the (i mod 10)-th of the README's ten sentences.
awk -v n="$texts" '
  /^```/ { fence++; next }
  fence == 1 && NF { s[m++] = $0 }
  END { for (i = 0; i < n; i++) printf " Article %d: %s\n", i + 1, s[i % m] }
' "$readme" > "$work/corpus.txt"

median () { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# CPU seconds of the whole process tree: perf's task-clock counts the
# speech workers' processes too, which no wait() reports to time(1) (the
# audiobook's tts runs in worker processes). Without perf, time(1)'s.
if perf stat -e task-clock -x, -o /dev/null true 2> /dev/null; then
  cpu_source="perf task-clock"
else
  cpu_source="time(1) user+sys (worker processes not counted)"
fi

# timed FILE COMMAND...: runs COMMAND, appends "wall cpu" to FILE.
timed () {
  local file=$1 start end cpu
  shift
  start=$EPOCHREALTIME
  if [ "$cpu_source" = "perf task-clock" ]; then
    perf stat -e task-clock -x, -o "$work/stat" "$@" > /dev/null 2> "$work/err" || {
      echo "bench-shards: failed: $*" >&2
      cat "$work/err" >&2
      exit 1
    }
    cpu=$(awk -F, '/task-clock/ { print $1 / 1000 }' "$work/stat")
  else
    /usr/bin/time -f '%U %S' -o "$work/time" "$@" > /dev/null 2> "$work/err" || {
      echo "bench-shards: failed: $*" >&2
      cat "$work/err" >&2
      exit 1
    }
    cpu=$(awk '{ print $1 + $2 }' "$work/time")
  fi
  end=$EPOCHREALTIME
  printf '%.3f %.3f\n' "$(echo "$end - $start" | bc -l)" "$cpu" >> "$file"
}

# run WORKLOAD VARIANT: one run; appends "total_wall total_cpu shards_wall
# gather_wall" to $work/WORKLOAD.VARIANT.
run () {
  local workload=$1 variant=$2 pipeline sets n k
  case $workload in
    dhatu)
      pipeline=$root/pipelines/dhatu-corpus.json
      sets=(--set "input=$work/corpus.txt" --set "output=$work/run/out")
      ;;
    audiobook)
      pipeline=$root/pipelines/audiobook.json
      sets=(--set "input=$book" --set "output=$work/run/out.m4b")
      ;;
  esac
  rm -rf "$work/run" "$TMPDIR"
  mkdir -p "$work/run" "$TMPDIR"
  : > "$work/parts"
  case $variant in
    plain) timed "$work/parts" "$sutra" run -q --no-job "$pipeline" "${sets[@]}" ;;
    job) (cd "$work/run" && timed "$work/parts" "$sutra" run -q "$pipeline" "${sets[@]}") ;;
    shards-*)
      n=${variant#shards-}
      for ((k = 0; k < n; k++)); do
        timed "$work/parts" "$sutra" run -q "$pipeline" --shard "$k/$n" \
          --cache "$work/run/store" "${sets[@]}"
      done
      timed "$work/parts" "$sutra" run -q "$pipeline" --shard gather --shard-count "$n" \
        --missing fail --cache "$work/run/store" --job "$work/run/gather" "${sets[@]}"
      if [ "$n" = 4 ]; then
        store_figures "$work/run/store" > "$work/$workload.store"
      fi
      ;;
  esac
  # The last line is the gather's (or the only run's).
  awk '{ w += $1; c += $2; last = $1 } END { print w, c, w - last, last }' "$work/parts" \
    >> "$work/$workload.$variant"
}

# What a store holds after the shards and the gather.
store_figures () {
  local store=$1
  echo "bytes $(du -sb "$store" | cut -f1)"
  echo "files $(find "$store" -type f | wc -l)"
  echo "packs $(find "$store/packs" -name '*.pack' | wc -l)"
  echo "large_entries $(find "$store/objects" -name '*.entry' | wc -l)"
  # An index entry is 48 bytes on disk: the 32-byte key, offset, length.
  echo "index_entries $(($(find "$store/packs" -name '*.idx' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }') / 48))"
  echo "shard_pack_bytes $(find "$store/packs" -name 'shard-*.pack' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')"
}

variants=(plain job shards-1 shards-2 shards-4)
for workload in dhatu audiobook; do
  for v in "${variants[@]}"; do : > "$work/$workload.$v"; done
  for ((r = 0; r < repeat; r++)); do
    for ((i = 0; i < ${#variants[@]}; i++)); do
      run "$workload" "${variants[$(((i + r) % ${#variants[@]}))]}"
    done
  done
done

col () { cut -d' ' -f"$1" < "$work/$2" | median; }
echo "dhatu: $texts texts; audiobook: $book ($(wc -w < "$book") words)"
echo "$(nproc) cores, $repeat rounds interleaved, medians; CPU: $cpu_source"
uptime | sed 's/.*load/load/'
for workload in dhatu audiobook; do
  echo
  printf '%-10s %-9s %9s %9s %9s %9s %9s %9s %9s\n' "$workload" variant shards_s gather_s \
    wall_s cpu_s "wall/job" "cpu/job" "wall/plain"
  jw=$(col 1 "$workload.job")
  jc=$(col 2 "$workload.job")
  pw=$(col 1 "$workload.plain")
  for v in "${variants[@]}"; do
    w=$(col 1 "$workload.$v")
    c=$(col 2 "$workload.$v")
    if [ "${v#shards-}" != "$v" ]; then
      printf -v s '%.2f' "$(col 3 "$workload.$v")"
      printf -v g '%.2f' "$(col 4 "$workload.$v")"
    else
      s=- g=-
    fi
    printf '%-10s %-9s %9s %9s %9.2f %9.2f %9.3f %9.3f %9.3f\n' "" "$v" "$s" "$g" "$w" "$c" \
      "$(echo "$w / $jw" | bc -l)" "$(echo "$c / $jc" | bc -l)" "$(echo "$w / $pw" | bc -l)"
  done
  echo "  store after shards-4 and the gather: $(tr '\n' ' ' < "$work/$workload.store")"
  for v in "${variants[@]}"; do
    printf '  (%s per round, total_wall cpu shards_wall gather_wall: %s)\n' "$v" \
      "$(tr '\n' '|' < "$work/$workload.$v")"
  done
done
