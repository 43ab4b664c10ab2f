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
#   sutra-1   pipelines/audiobook.json with speak.workers=1, encode.workers=1
#   sutra-2   pipelines/audiobook.json as shipped (2 speech processes,
#             2 chapter encoders)
# REPEAT rounds (default 3), the order rotating. Prints per variant the median
# wall seconds, CPU seconds (user+sys of the whole process tree, children
# included), peak RSS of the largest process (GNU time's maximum resident
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

# run VARIANT -> "wall_s cpu_s max_rss_kb duration_s"
run () {
  local variant=$1 out start end cpu rss
  rm -rf "$work/run" && mkdir "$work/run"
  out="$work/run/book.m4b"
  start=$EPOCHREALTIME
  case $variant in
    hand)
      /usr/bin/time -f '%U %S %M' -o "$work/run/t1" \
        espeak-ng -v en -f "$book" -w "$work/run/book.wav"
      /usr/bin/time -f '%U %S %M' -o "$work/run/t2" \
        ffmpeg -nostdin -loglevel error -i "$work/run/book.wav" -c:a aac -aac_coder fast \
        -b:a 64k -ac 1 "$out"
      ;;
    sutra-1 | sutra-2)
      local n=${variant#sutra-}
      /usr/bin/time -f '%U %S %M' -o "$work/run/t1" \
        "$sutra" run "$here/../pipelines/audiobook.json" --no-job --quiet \
        --set input="$book" --set output="$out" \
        --set speak.workers="$n" --set encode.workers="$n" > /dev/null
      ;;
  esac
  end=$EPOCHREALTIME
  cpu=$(cat "$work"/run/t? | awk '{s += $1 + $2} END {print s}')
  rss=$(cat "$work"/run/t? | awk '$3 > m {m = $3} END {print m}')
  echo "$(echo "$end - $start" | bc -l) $cpu $rss" \
    "$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$out")"
}

variants=(hand sutra-1 sutra-2)
for v in "${variants[@]}"; do : > "$work/$v"; done
for ((r = 0; r < repeat; r++)); do
  for ((i = 0; i < ${#variants[@]}; i++)); do
    v=${variants[$(((i + r) % ${#variants[@]}))]}
    run "$v" >> "$work/$v"
  done
done

echo "book: $book; $(nproc) cores; $repeat rounds, interleaved; medians"
printf '%-8s %8s %8s %10s %10s %9s\n' variant wall_s cpu_s peak_MiB audio_s realtime
for v in "${variants[@]}"; do
  w=$(cut -d' ' -f1 < "$work/$v" | median)
  c=$(cut -d' ' -f2 < "$work/$v" | median)
  m=$(cut -d' ' -f3 < "$work/$v" | median)
  a=$(cut -d' ' -f4 < "$work/$v" | median)
  printf '%-8s %8.1f %8.1f %10.1f %10.0f %8.0fx\n' "$v" "$w" "$c" "$(echo "$m / 1024" | bc -l)" \
    "$a" "$(echo "$a / $w" | bc -l)"
done
wall () { cut -d' ' -f1 < "$work/$1" | median; }
printf 'speed-up sutra-1 -> sutra-2 (wall): %.2f\n' "$(echo "$(wall sutra-1) / $(wall sutra-2)" | bc -l)"
printf 'hand / sutra-2 (wall): %.2f\n' "$(echo "$(wall hand) / $(wall sutra-2)" | bc -l)"
for v in "${variants[@]}"; do
  printf '(%s, wall cpu rss audio per round: %s)\n' "$v" "$(tr '\n' '|' < "$work/$v")"
done
