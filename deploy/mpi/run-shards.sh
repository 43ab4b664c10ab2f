#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A sharded `sutra run` under an MPI launcher (docs/scale-out.md): one
# mpirun starts N ranks, each `sutra run --shard auto`, then the gather
# runs here once every rank has finished.
#
#   deploy/mpi/run-shards.sh N PIPELINE STORE [VAR=VALUE...]
#
# Rank K is shard K of N: --shard auto reads OMPI_COMM_WORLD_RANK/SIZE
# (Open MPI) or PMI_RANK/SIZE (MPICH, Intel MPI). sutra uses no MPI calls:
# mpirun is only the launcher, so any MPI's mpirun will do. The line it runs:
#
#   mpirun -n N $MPIRUN_ARGS sutra run PIPELINE --shard auto --cache STORE --set VAR=VALUE...
#   sutra run PIPELINE --shard gather --shard-count N --missing fail --cache STORE --set VAR=VALUE...
#
# Environment: SUTRA, the sutra binary (default: sutra in PATH, on every
# host); MPIRUN, the launcher (default mpirun); MPIRUN_ARGS, its options,
# split on spaces (default for Open MPI: --bind-to none, so that a rank's
# stage workers may use every core it has; add --hostfile FILE, --map-by
# ppr:1:node, --allow-run-as-root, -x VAR as the site needs); SUTRA_GATHER_JOB,
# the gather's job directory (default $TMPDIR/sutra-gather-PID). Every rank
# keeps its journal in $TMPDIR/sutra-shards/ on its own host: point TMPDIR
# at local disk, not at the shared filesystem (SQLite).
#
# Sizing N: one rank per node, with the pipeline's workers set to the
# node's cores (--set dhatu.workers=32), is the usual shape; more ranks than
# nodes only help if one rank cannot keep a node busy. Every rank reads and
# splits the whole input, so each rank's share should take minutes.
# PIPELINE, STORE and the pipeline's inputs and outputs must be on a
# filesystem every host sees under the same path, with atomic rename(2) and
# close-to-open consistency (NFS, Lustre, GPFS, CephFS); no locking is
# needed across hosts.
#
# If a rank fails, mpirun fails and the gather does not run. Run the same
# command again: finished shards find their work in the store and end
# quickly, the failed one does the rest of its part. Or re-run just shard K
# anywhere: sutra run PIPELINE --shard K/N --cache STORE --set ...
set -euo pipefail

if [ $# -lt 3 ]; then
  sed -n '/^#   deploy/p' "$0" | sed 's/^# *//' >&2
  exit 2
fi
count=$1
pipeline=$2
store=$3
shift 3
case $count in
  '' | *[!0-9]* | 0*) echo "run-shards.sh: N=\"$count\": expected the number of shards" >&2; exit 2 ;;
esac
sutra=${SUTRA:-sutra}
mpirun=${MPIRUN:-mpirun}
sets=()
for set in "$@"; do
  sets+=("--set=$set")
done
if [ -n "${MPIRUN_ARGS+set}" ]; then
  read -r -a mpirun_args <<< "$MPIRUN_ARGS"
elif "$mpirun" --version 2>&1 | grep -q "Open MPI"; then
  mpirun_args=(--bind-to none)
else
  mpirun_args=()
fi

"$mpirun" -n "$count" "${mpirun_args[@]}" \
  "$sutra" run "$pipeline" --shard auto --cache "$store" "${sets[@]}"
exec "$sutra" run "$pipeline" --shard gather --shard-count "$count" --missing fail \
  --cache "$store" --job "${SUTRA_GATHER_JOB:-${TMPDIR:-/tmp}/sutra-gather-$$}" "${sets[@]}"
