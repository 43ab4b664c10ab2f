#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sharded runs under a real Slurm (issue 14): a single-node cluster started
# here (slurm-local.sh) runs the shipped deploy/slurm scripts, and their
# outputs are compared byte for byte with a single-process `sutra run`:
#
#   1. the audiobook of Alice's first three chapters, as a 4-task job array
#      and the gather: the M4B is the same;
#   2. the same with task 1 cancelled (scancel) once it has stored speech:
#      the gather is cancelled with it, a gather with --missing fail then
#      refuses and names shard 1-of-4, task 1 re-submitted alone (--array 1,
#      the count still 4) finishes, and the gather's M4B is the same;
#   3. the dhatu corpus pipeline on 100,000 texts as 4 tasks and the gather:
#      the same .npy files and ids.txt.
#
# usage: test-slurm.sh  (meson sets SUTRA_BUILD_ROOT, SUTRA_SOURCE_ROOT and
# SUTRA_SHARED_DATA). Speaks TAP. Skips, saying why, when not root, when
# slurm-wlm or munge is not installed, when ../shared/data is absent, or when
# the cluster is not up within 60 s. SUTRA_KEEP_TMP=1 keeps the temporary
# directory (cluster, stores, logs); it is kept after a failure anyway.
# The cases run through run_case, which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_root=${SUTRA_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
build_root=${SUTRA_BUILD_ROOT:?run through meson test, which sets SUTRA_BUILD_ROOT}
shared=${SUTRA_SHARED_DATA:-$source_root/../shared/data}
submit=$source_root/deploy/slurm/submit.sh
# Every job finishes well within this (seconds); a wait past it fails.
job_timeout=${SUTRA_SLURM_JOB_TIMEOUT:-600}
# shellcheck source=tests/cluster/slurm-local.sh
. "$here/slurm-local.sh"

skip_all () {
  echo "1..0 # SKIP $*"
  exit 0
}

if [ "$(id -u)" -ne 0 ]; then
  skip_all "not root: a local Slurm cluster needs root (slurmd, munged as user munge)"
fi
if [ ! -r "$shared/books/alice-pg11.txt" ] || [ ! -r "$shared/dhatu/README.md" ]; then
  skip_all "no ../shared/data (books/alice-pg11.txt, dhatu/README.md) at $shared"
fi

work=$(mktemp -d /tmp/sutra-test-slurm-XXXXXX)
# munged runs as user munge, in a directory below this one.
chmod 755 "$work"
failed=0
cleanup () {
  slurm_local_stop "$work/cluster"
  if [ "$failed" -ne 0 ] || [ -n "${SUTRA_KEEP_TMP:-}" ]; then
    echo "# kept for inspection: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mkdir -p "$work/cluster" "$work/tmp"
if ! slurm_local_start "$work/cluster"; then
  # Its logs say why: keep them.
  failed=1
  echo "1..0 # SKIP no local Slurm cluster: $SLURM_LOCAL_ERROR"
  exit 0
fi

# The jobs see this environment (sbatch --export=ALL): the sutra under
# test, its plugins only, and job directories (SQLite journals) under
# $work rather than /tmp.
export SUTRA=$build_root/engine/sutra SUTRA_PLUGIN_PATH='' TMPDIR=$work/tmp
audiobook=$source_root/pipelines/audiobook.json
dhatu=$source_root/pipelines/dhatu-corpus.json

# Alice up to its fourth chapter: three chapters, about 6,400 words.
book=$work/alice-1-3.txt
awk '/^CHAPTER IV\./ { exit } { print }' "$shared/books/alice-pg11.txt" > "$book"

log () { echo "test-slurm: $*" >&2; }
die () {
  log "$*"
  exit 1
}

# The job ids submit.sh printed ("shards ID", "gather ID") in @1.
job_id () { awk -v what="$1" '$1 == what { print $2 }' "$2"; }

# Waits for the jobs (ids, or array tasks ID_K) to leave the queue.
wait_jobs () {
  local ids deadline=$((SECONDS + job_timeout))
  ids=$(IFS=,; echo "$*")
  while [ -n "$(squeue --noheader --jobs="$ids" --format=%i 2> /dev/null)" ]; do
    ((SECONDS < deadline)) || die "jobs $ids still queued or running after ${job_timeout} s"
    sleep 0.25
  done
}

# The states of a job's tasks (one a line, by array task id), from
# scontrol (no accounting database here; MinJobAge keeps finished jobs
# visible), which lists an array's tasks in no particular order.
job_states () {
  scontrol --oneliner show job "$1" |
    sed -n 's/.* JobState=\([A-Z_]*\) .*/\1 &/p' |
    sed 's/^\([A-Z_]*\) .* ArrayTaskId=\([0-9]*\) .*/\2 \1/; s/^\([A-Z_]*\) .*/0 \1/' |
    sort -n | cut -d' ' -f2
}

# expect_states ID STATE...: the job's tasks, in order, ended so.
expect_states () {
  local id=$1 got
  shift
  got=$(job_states "$id" | tr '\n' ' ')
  [ "$got" = "$* " ] || die "job $id: states $got, expected $*"
}

# The single-process audiobook all the sharded ones are compared with.
plain_audiobook () {
  if [ ! -s "$work/plain.m4b" ]; then
    "$SUTRA" run "$audiobook" --no-job --quiet --set input="$book" \
      --set output="$work/plain.m4b"
  fi
}

# Case 1 ----------------------------------------------------------------------
case_audiobook () {
  local dir=$work/audiobook shards gather
  mkdir -p "$dir"
  cd "$dir"
  plain_audiobook
  "$submit" "$audiobook" 4 "$dir/store" input="$book" output="$dir/book.m4b" > submitted
  shards=$(job_id shards submitted)
  gather=$(job_id gather submitted)
  wait_jobs "$shards" "$gather"
  expect_states "$shards" COMPLETED COMPLETED COMPLETED COMPLETED
  expect_states "$gather" COMPLETED
  for k in 0 1 2 3; do
    grep -q "shard $k of 4 (0-based; from Slurm job array)" "sutra-shard-${shards}_$k.out" ||
      die "task $k did not run as shard $k of 4: $(cat "sutra-shard-${shards}_$k.out")"
    [ -n "$(find "$dir/store/shards" -name "$k-of-4")" ] || die "no marker of shard $k-of-4"
  done
  cmp "$work/plain.m4b" "$dir/book.m4b"
}

# Case 2 ----------------------------------------------------------------------

# Stops every process of array task @1 (ID_K) with SIGSTOP, so that the
# scancel after it lands while the task is mid-speech however quickly the
# machine speaks (espeak-ng says a shard's part of three chapters in under
# a second); scancel's SIGTERM (with SIGCONT) or its SIGKILL ends them.
freeze_task () {
  local id pids
  id=$(squeue --noheader --jobs="$1" --format=%A)
  [ -n "$id" ] || die "task $1 is not running"
  pids=$(scontrol listpids "$id" | awk '$1 ~ /^[0-9]+$/ { print $1 }')
  [ -n "$pids" ] || die "task $1 (job $id) has no processes"
  # shellcheck disable=SC2086 # one pid a word
  kill -STOP $pids
}

case_audiobook_kill () {
  local dir=$work/audiobook-kill shards gather retry deadline packs
  mkdir -p "$dir"
  cd "$dir"
  plain_audiobook
  "$submit" "$audiobook" 4 "$dir/store" input="$book" output="$dir/book.m4b" > submitted
  shards=$(job_id shards submitted)
  gather=$(job_id gather submitted)

  # Task 1 has stored speech once its pack in the store is not empty.
  deadline=$((SECONDS + job_timeout))
  shopt -s nullglob
  while :; do
    packs=("$dir"/store/packs/shard-1-of-4.*.pack)
    if [ ${#packs[@]} -gt 0 ] && [ -s "${packs[0]}" ]; then
      break
    fi
    if [ -n "$(find "$dir/store" -path '*/shards/*' -name 1-of-4 2> /dev/null)" ] ||
      ((SECONDS >= deadline)); then
      die "task 1 finished (or never stored anything) before it could be cancelled"
    fi
    sleep 0.02
  done
  shopt -u nullglob
  freeze_task "${shards}_1"
  scancel "${shards}_1"
  wait_jobs "$shards" "$gather"
  expect_states "$shards" COMPLETED CANCELLED COMPLETED COMPLETED
  # afterok cannot be met: the gather is cancelled, not left pending.
  expect_states "$gather" CANCELLED
  [ -z "$(find "$dir/store" -path '*/shards/*' -name 1-of-4)" ] ||
    die "a marker of shard 1-of-4 after it was cancelled"
  [ ! -e "$dir/book.m4b" ] || die "an M4B before the gather ran"

  # A gather that must not compute missing work refuses, naming shard 1.
  "$submit" --gather-only --missing fail "$audiobook" 4 "$dir/store" input="$book" \
    output="$dir/book.m4b" > refused
  gather=$(job_id gather refused)
  wait_jobs "$gather"
  expect_states "$gather" FAILED
  grep -q "shard 1-of-4 of this work has not finished" "sutra-gather-$gather.out" ||
    die "the refusing gather does not name shard 1-of-4: $(cat "sutra-gather-$gather.out")"
  [ ! -e "$dir/book.m4b" ] || die "the refusing gather wrote the M4B"

  # Task 1 alone, then the gather (which now needs nothing computed).
  "$submit" --array 1 --no-gather "$audiobook" 4 "$dir/store" input="$book" \
    output="$dir/book.m4b" > retried
  retry=$(job_id shards retried)
  wait_jobs "$retry"
  expect_states "$retry" COMPLETED
  grep -q "shard 1 of 4 (0-based; from Slurm job array)" "sutra-shard-${retry}_1.out" ||
    die "the re-submitted task did not run as shard 1 of 4: $(cat "sutra-shard-${retry}_1.out")"
  # What the cancelled task had finished is taken, not spoken again.
  grep -Eq "^  speak .*[1-9][0-9]* (resumed|cached)" "sutra-shard-${retry}_1.out" ||
    die "the re-submitted task redid all its speech: $(cat "sutra-shard-${retry}_1.out")"
  "$submit" --gather-only --missing fail "$audiobook" 4 "$dir/store" input="$book" \
    output="$dir/book.m4b" > gathered
  gather=$(job_id gather gathered)
  wait_jobs "$gather"
  expect_states "$gather" COMPLETED
  cmp "$work/plain.m4b" "$dir/book.m4b"
}

# Case 3 ----------------------------------------------------------------------
case_dhatu () {
  local dir=$work/dhatu shards gather
  mkdir -p "$dir"
  cd "$dir"
  # The seed corpus (../shared/data/dhatu/README.md): text i is
  # " Article {i+1}: " and the (i mod 10)-th of the README's sentences.
  awk -v n=100000 '
    /^```/ { fence++; next }
    fence == 1 && NF { s[m++] = $0 }
    END { for (i = 0; i < n; i++) printf " Article %d: %s\n", i + 1, s[i % m] }
  ' "$shared/dhatu/README.md" > corpus.txt
  [ "$(wc -l < corpus.txt)" -eq 100000 ] || die "corpus.txt: not 100000 texts"
  "$SUTRA" run "$dhatu" --no-job --quiet --set input="$dir/corpus.txt" --set output="$dir/plain"
  "$submit" "$dhatu" 4 "$dir/store" input="$dir/corpus.txt" output="$dir/sharded" > submitted
  shards=$(job_id shards submitted)
  gather=$(job_id gather submitted)
  wait_jobs "$shards" "$gather"
  expect_states "$shards" COMPLETED COMPLETED COMPLETED COMPLETED
  expect_states "$gather" COMPLETED
  [ "$(cd plain && ls)" = "$(cd sharded && ls)" ] ||
    die "different files: $(cd plain && ls) against $(cd sharded && ls)"
  for f in plain/*; do
    cmp "$f" "sharded/${f#plain/}"
  done
}

# Runs a case in a subshell of its own (set -e holds there, which it would
# not in a condition) and says ok or not ok, with its log when not.
n=0
run_case () {
  local name=$1 function=$2 logfile
  n=$((n + 1))
  logfile=$work/case-$n.log
  ("$function") > "$logfile" 2>&1 &
  if wait $!; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name"
    tail -n 40 "$logfile" | sed 's/^/# /'
    failed=1
  fi
}

echo "1..3"
run_case "audiobook: 4-task job array + gather, M4B identical to one process" case_audiobook
run_case "audiobook: task 1 cancelled mid-speech, gather --missing fail refuses, task 1 re-run alone, M4B identical" case_audiobook_kill
run_case "dhatu-corpus: 100,000 texts as 4 tasks + gather, .npy files identical" case_dhatu
exit "$failed"
