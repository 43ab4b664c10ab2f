#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The http stage against the stand-in API (tests/plugins/http/fake-api.py)
# on 127.0.0.1, answering after LATENCY_MS (default 20) ms (issue #12,
# item 6):
#
#   bench/bench-http.sh BUILD
#
# 1. Requests per second with the stage's max_in_flight at 1, 8 and 64
#    (2 workers, no rate limit), N items each (default 1000), REPEAT rounds
#    (default 3) interleaved; the server counts the most requests it had
#    open at once, which must never pass max_in_flight.
# 2. The rate limit: a server that answers 429 (Retry-After: 1) to a
#    request finding no token in its bucket of RATE tokens a second (one
#    second's worth of burst), and the stage at rate_limit RATE/s with
#    max_in_flight 64: the rate the server saw, and its 429s.
# The rates are the server's: requests / (last request - first request);
# for the rate limit also (requests - 1) / (last - first).
set -euo pipefail
build=$(cd "${1:?usage: bench-http.sh BUILD}" && pwd)
here="$(cd "$(dirname "$0")" && pwd)"
n=${N:-1000}
repeat=${REPEAT:-3}
latency=${LATENCY_MS:-20}
rate=${RATE:-100}
work=$(mktemp -d /tmp/sutra-http-XXXXXX)
sutra="$build/engine/sutra"
export SUTRA_PLUGIN_PATH=
servers=()
cleanup () {
  for fd in "${servers[@]}"; do exec {fd}>&-; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts fake-api.py with @args; sets $port. It serves until its stdin
# (a fifo this shell holds open) closes.
start_server () {
  local fifo="$work/fifo-$#-$RANDOM" fd
  mkfifo "$fifo"
  python3 "$here/../tests/plugins/http/fake-api.py" "$@" < "$fifo" > "$work/port" &
  exec {fd}> "$fifo"
  servers+=("$fd")
  while [ ! -s "$work/port" ]; do sleep 0.05; done
  port=$(head -1 "$work/port")
  : > "$work/port"
}
stats () { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "http://127.0.0.1:$1/$2"; }

seq -f 'item %g of the benchmark' 1 "$n" > "$work/lines.txt"
# port, extra --set... -> prints "requests_per_s most_in_flight refused
# intervals_per_s": the last is (requests - 1) / (last - first), which is
# at most R for requests spaced 1 / R apart (requests / (last - first)
# gives R * N / (N - 1) for them).
run () {
  local p=$1
  shift
  stats "$p" reset > /dev/null
  "$sutra" run "$here/http.json" -q --no-job --set input="$work/lines.txt" \
    --set output="$work/out.jsonl" --set url="http://127.0.0.1:$p/v1/chat/completions" "$@" > /dev/null
  [ "$(wc -l < "$work/out.jsonl")" -eq "$n" ] || { echo "bench-http: not every item answered" >&2; exit 1; }
  stats "$p" stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
span = s["last_at"] - s["first_at"]
print("%.1f %d %d %.2f" % (s["requests"] / span, s["all_max_in_flight"], s["refused"], (s["requests"] - 1) / span))'
}

echo "$n items, 2 workers, server latency $latency ms; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
start_server --latency-ms "$latency"
plain=$port
flights=(${FLIGHTS-1 8 64}) # FLIGHTS="" measures the rate limit only
for f in "${flights[@]}"; do : > "$work/f$f"; done
for ((r = 0; r < repeat; r++)); do
  for ((k = 0; k < ${#flights[@]}; k++)); do
    f=${flights[$(((k + r) % ${#flights[@]}))]}
    run "$plain" --set ask.max_in_flight="$f" >> "$work/f$f"
  done
done
median () { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-14s %10s %12s %8s  %s\n' max_in_flight 'req/s' 'most_open' ideal 'runs (req/s most_open 429s)'
for f in "${flights[@]}"; do
  printf '%-14s %10.1f %12d %8.0f  %s\n' "$f" "$(cut -d' ' -f1 < "$work/f$f" | median)" \
    "$(cut -d' ' -f2 < "$work/f$f" | sort -g | tail -1)" "$(echo "$f * 1000 / $latency" | bc -l)" \
    "$(tr '\n' '|' < "$work/f$f")"
done

start_server --latency-ms "$latency" --rate "$rate"
limited=$port
: > "$work/rate"
for ((r = 0; r < repeat; r++)); do
  run "$limited" --set ask.max_in_flight=64 --set ask.rate_limit="$rate" >> "$work/rate"
done
printf 'rate_limit %s/s against a server refusing above %s/s (burst %s): req/s %s, intervals/s %s, 429s %s (runs: %s)\n' \
  "$rate" "$rate" "$rate" "$(cut -d' ' -f1 < "$work/rate" | median)" \
  "$(cut -d' ' -f4 < "$work/rate" | median)" \
  "$(cut -d' ' -f3 < "$work/rate" | sort -g | tail -1)" "$(tr '\n' '|' < "$work/rate")"
