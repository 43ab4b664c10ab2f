#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A book to an M4B: sutra's audiobook pipeline against the pipeline a user
# would otherwise run by hand, interleaved round by round so that a shared
# machine's noise reaches every variant:
#
#   bench/bench-audiobook.sh BUILD [BOOK]   (default ../shared/data/books/alice-pg11.txt)
#
# Variants:
#   hand      espeak-ng -v en -f BOOK -w book.wav, then
#             ffmpeg -i book.wav -c:a aac -aac_coder fast -b:a 64k -ac 1 book.m4b
#             (the encoder settings sutra uses by default; no chapters)
#   sutra-1   pipelines/audiobook.json with speak.workers=1, encode.workers=1,
#             encode.threads=1 (one speech process, one chapter and one
#             segment encoded at a time)
#   sutra-2   pipelines/audiobook.json as shipped on 2 cores (2 speech
#             processes, 2 chapter encoders, 2 threads encoding segments)
#   sutra-2@1core  the same, pinned to one core with taskset: the speed-up
#             the second core gives (sutra-1 is not one core: its speech
#             process, chapter joining and segment encoding overlap)
# REPEAT rounds (default 3), the order rotating. Prints per variant the median
# wall seconds, CPU seconds (of the whole process tree: perf's task-clock,
# or user+sys where perf is missing), peak RSS of the largest process (GNU time's maximum resident
# set size), the audio's duration (ffprobe) and the real-time factor; then the
# ratios the issue asks for: sutra-2 against sutra-1 (the speed-up from
# parallel workers) and hand against sutra-2.
set -euo pipefail
build=$(cd "${1:?usage: bench-audiobook.sh BUILD [BOOK]}" && pwd)
here="$(cd "$(dirname "$0")" && pwd)"
book=${2:-$here/../../shared/data/books/alice-pg11.txt}
repeat=${REPEAT:-3}
[ -r "$book" ] || { echo "bench-audiobook: no book at $book (../shared absent?)" >&2; exit 77; }
for tool in espeak-ng ffmpeg ffprobe /usr/bin/time; do
  command -v "$tool" > /dev/null || { echo "bench-audiobook: $tool is not installed" >&2; exit 77; }
done
work=$(mktemp -d /tmp/sutra-audiobook-XXXXXX)
trap 'rm -rf "$work"' EXIT
sutra="$build/engine/sutra"
export SUTRA_PLUGIN_PATH=

median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# CPU is perf's task-clock over the process tree where perf is installed
# (getrusage, which /usr/bin/time reads, undercounts a multi-threaded
# process on these machines by 15-20 %: 0.98 s against 1.16 s for the
# sample book), else /usr/bin/time's user + system.
if command -v perf > /dev/null && perf stat -x, -e task-clock true > /dev/null 2>&1; then
  cpu_tool=perf
else
  cpu_tool=time
fi

# timed TAG COMMAND...: runs it, with peak RSS in $work/run/TAG and, with
# perf, CPU milliseconds in $work/run/TAG.cpu
timed () {
  local tag=$1
  shift
  if [ "$cpu_tool" = perf ]; then
    perf stat -x, -e task-clock -o "$work/run/$tag.perf" -- \
      /usr/bin/time -f '%U %S %M' -o "$work/run/$tag" "$@"
    awk -F, '/task-clock/ {print $1}' "$work/run/$tag.perf" > "$work/run/$tag.cpu"
  else
    /usr/bin/time -f '%U %S %M' -o "$work/run/$tag" "$@"
  fi
}

# run VARIANT -> "wall_s cpu_s max_rss_kb duration_s"
run () {
  local variant=$1 out start end cpu rss
  rm -rf "$work/run" && mkdir "$work/run"
  out="$work/run/book.m4b"
  start=$EPOCHREALTIME
  case $variant in
    hand)
      timed t1 espeak-ng -v en -f "$book" -w "$work/run/book.wav"
      timed t2 ffmpeg -nostdin -loglevel error -i "$work/run/book.wav" -c:a aac -aac_coder fast \
        -b:a 64k -ac 1 "$out"
      ;;
    sutra-2@1core)
      # The shipped pipeline on one core: what the second core buys.
      timed t1 taskset -c "$one_core" "$sutra" run "$here/../pipelines/audiobook.json" --no-job \
        --quiet --set input="$book" --set output="$out" > /dev/null
      ;;
    sutra-1 | sutra-2)
      local n=${variant#sutra-}
      timed t1 "$sutra" run "$here/../pipelines/audiobook.json" --no-job --quiet \
        --set input="$book" --set output="$out" \
        --set speak.workers="$n" --set encode.workers="$n" --set encode.threads="$n" > /dev/null
      ;;
  esac
  end=$EPOCHREALTIME
  if [ "$cpu_tool" = perf ]; then
    cpu=$(cat "$work"/run/t?.cpu | awk '{s += $1 / 1000} END {print s}')
  else
    cpu=$(cat "$work"/run/t? | awk '{s += $1 + $2} END {print s}')
  fi
  rss=$(cat "$work"/run/t? | awk '$3 > m {m = $3} END {print m}')
  echo "$(echo "$end - $start" | bc -l) $cpu $rss" \
    "$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$out")"
}

variants=(hand sutra-1 sutra-2)
one_core=$(taskset -pc $$ 2> /dev/null | sed 's/.*: *//; s/[,-].*//' || true)
if command -v taskset > /dev/null && [ -n "$one_core" ]; then
  variants+=(sutra-2@1core)
fi
for v in "${variants[@]}"; do : > "$work/$v"; done
for ((r = 0; r < repeat; r++)); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    v=${variants[$(((i + r) % ${#variants[@]}))]}
    run "$v" >> "$work/$v"
  done
done

echo "book: $book; $(nproc) cores; $repeat rounds, interleaved; medians; CPU by $cpu_tool"
printf '%-14s %8s %8s %10s %10s %9s\n' variant wall_s cpu_s peak_MiB audio_s realtime
for v in "${variants[@]}"; do
  w=$(cut -d' ' -f1 < "$work/$v" | median)
  c=$(cut -d' ' -f2 < "$work/$v" | median)
  m=$(cut -d' ' -f3 < "$work/$v" | median)
  a=$(cut -d' ' -f4 < "$work/$v" | median)
  printf '%-14s %8.1f %8.1f %10.1f %10.0f %8.0fx\n' "$v" "$w" "$c" "$(echo "$m / 1024" | bc -l)" \
    "$a" "$(echo "$a / $w" | bc -l)"
done
wall () { cut -d' ' -f1 < "$work/$1" | median; }
printf 'speed-up sutra-1 -> sutra-2 (wall): %.2f\n' "$(echo "$(wall sutra-1) / $(wall sutra-2)" | bc -l)"
if [ -s "$work/sutra-2@1core" ]; then
  printf 'speed-up one core -> two (sutra-2, wall): %.2f\n' \
    "$(echo "$(wall sutra-2@1core) / $(wall sutra-2)" | bc -l)"
fi
printf 'hand / sutra-2 (wall): %.2f\n' "$(echo "$(wall hand) / $(wall sutra-2)" | bc -l)"
for v in "${variants[@]}"; do
  printf '(%s, wall cpu rss audio per round: %s)\n' "$v" "$(tr '\n' '|' < "$work/$v")"
done
