#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Submits a sharded `sutra run` to Slurm: a job array of N shards
# (sutra-shards.sbatch), then the gather (sutra-gather.sbatch) with
# --dependency=afterok on the array. docs/scale-out.md.
#
#   deploy/slurm/submit.sh [OPTION...] PIPELINE N STORE [VAR=VALUE...]
#
# PIPELINE, STORE and the pipeline's inputs and outputs must be on a
# filesystem every node sees, under the same path (see sutra-shards.sbatch
# for what it must guarantee and how to size N). Prints "shards JOBID" and
# "gather JOBID", one a line, for the jobs it submitted.
#
# Options:
#   --array SPEC        submit only these shards (Slurm's --array syntax:
#                       2, or 1,3, or 4-7), e.g. to re-run failed ones; the
#                       count stays N
#   --no-gather         submit the shards only
#   --gather-only       submit the gather only, without a dependency
#   --missing MODE      the gather's --missing: compute (default) or fail
#   --wait              wait for the last job submitted to end; exit with
#                       its status (sbatch --wait)
#   --sbatch OPTION     an sbatch option for every job submitted, e.g.
#                       --sbatch=--partition=long (repeatable)
#   --sutra OPTION      a `sutra run` option for every job, e.g.
#                       --sutra=--quiet (repeatable)
#
# The sutra binary is $SUTRA, else sutra in PATH, as the jobs see them
# (sbatch passes this environment on: --export=ALL).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
array=
gather=1
shards=1
missing=compute
wait=0
sbatch_options=()
sutra_options=()

usage () {
  local status=${1:-2}
  sed -n '/^#   deploy/,/^# (sbatch/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "$status"
}

while [ $# -gt 0 ]; do
  case $1 in
    --array) array=${2:?--array needs SPEC}; shift 2 ;;
    --array=*) array=${1#--array=}; shift ;;
    --no-gather) gather=0; shift ;;
    --gather-only) shards=0; shift ;;
    --missing) missing=${2:?--missing needs compute or fail}; shift 2 ;;
    --missing=*) missing=${1#--missing=}; shift ;;
    --wait) wait=1; shift ;;
    --sbatch) sbatch_options+=("${2:?--sbatch needs an option}"); shift 2 ;;
    --sbatch=*) sbatch_options+=("${1#--sbatch=}"); shift ;;
    --sutra) sutra_options+=("${2:?--sutra needs an option}"); shift 2 ;;
    --sutra=*) sutra_options+=("${1#--sutra=}"); shift ;;
    -h | --help) usage 0 ;;
    --) shift; break ;;
    -*) echo "submit.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 3 ] || usage
pipeline=$1
count=$2
store=$3
shift 3
case $count in
  '' | *[!0-9]* | 0*) echo "submit.sh: N=\"$count\": expected the number of shards (1 or more)" >&2; exit 2 ;;
esac
case $missing in
  compute | fail) ;;
  *) echo "submit.sh: --missing \"$missing\": expected compute or fail" >&2; exit 2 ;;
esac
if [ "$shards" = 0 ] && [ "$gather" = 0 ]; then
  echo "submit.sh: --no-gather and --gather-only: nothing to submit" >&2
  exit 2
fi
# Absolute paths: the jobs may start in another directory than this one.
absolute () {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}
pipeline=$(absolute "$pipeline")
store=$(absolute "$store")
[ -r "$pipeline" ] || { echo "submit.sh: cannot read the pipeline \"$pipeline\"" >&2; exit 2; }
job_args=("$pipeline" "$store" "$@")
if [ ${#sutra_options[@]} -gt 0 ]; then
  job_args+=(-- "${sutra_options[@]}")
fi
export SUTRA_SHARD_COUNT=$count SUTRA_MISSING=$missing

shards_id=
if [ "$shards" = 1 ]; then
  last=()
  if [ "$gather" = 0 ] && [ "$wait" = 1 ]; then
    last=(--wait)
  fi
  shards_id=$(sbatch --parsable --export=ALL --array="${array:-0-$((count - 1))}" \
    "${sbatch_options[@]}" "${last[@]}" "$here/sutra-shards.sbatch" "${job_args[@]}" | cut -d';' -f1) ||
    status=$?
  echo "shards $shards_id"
  [ -z "${status:-}" ] || exit "$status"
fi
if [ "$gather" = 1 ]; then
  options=(--export=ALL)
  if [ -n "$shards_id" ]; then
    options+=(--dependency="afterok:$shards_id")
  fi
  if [ "$wait" = 1 ]; then
    options+=(--wait)
  fi
  gather_id=$(sbatch --parsable "${options[@]}" "${sbatch_options[@]}" \
    "$here/sutra-gather.sbatch" "${job_args[@]}" | cut -d';' -f1) || status=$?
  echo "gather $gather_id"
  [ -z "${status:-}" ] || exit "$status"
fi
