#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A real single-node Slurm cluster (munged, slurmctld, slurmd) in one
# directory, for tests and for trying deploy/slurm by hand (../shared/
# slurm-local.md). Needs root and the Debian packages slurm-wlm and munge.
#
#   tests/cluster/slurm-local.sh start DIR   # prints: export SLURM_CONF=DIR/slurm.conf
#   tests/cluster/slurm-local.sh stop DIR
#
# or, sourced: slurm_local_start DIR, slurm_local_stop DIR.
#
# Everything lives in DIR: munge's key, socket and pid file, slurm.conf, the
# daemons' state, spool, logs and pid files. Nothing in /etc is touched: the
# daemons get -f DIR/slurm.conf, clients find it through SLURM_CONF, and
# slurm.conf points auth/munge at DIR's socket. The two ports are free ones
# picked at start, so a second cluster (another test run) can run beside it.
# No cgroups in this sandbox: proctrack/linuxproc, task/none.

# Why a start failed, for a test to report as its skip reason.
SLURM_LOCAL_ERROR=

# A TCP port nothing listens on: bound to port 0, the kernel picks it.
slurm_local_free_port () {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 10 s) for the file @1 to be there and not empty.
slurm_local_wait_file () {
  local tries
  for ((tries = 0; tries < 100; tries++)); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

# slurm_local_start DIR: starts the cluster and waits (at most
# SLURM_LOCAL_TIMEOUT seconds, default 60) for its node to be idle.
# Returns 0 with SLURM_CONF exported, or 1 with SLURM_LOCAL_ERROR set (and
# what the daemons said in their logs on stderr); stop it either way.
slurm_local_start () {
  local dir=$1 timeout=${SLURM_LOCAL_TIMEOUT:-60} host cpus ctld_port slurmd_port state
  local tool deadline

  SLURM_LOCAL_ERROR=
  if [ "$(id -u)" -ne 0 ]; then
    SLURM_LOCAL_ERROR="not root: slurmd runs jobs as their users and munged needs its own user"
    return 1
  fi
  for tool in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd sbatch sinfo scontrol python3; do
    if ! command -v "$tool" > /dev/null; then
      SLURM_LOCAL_ERROR="$tool is not installed (Debian: apt-get install slurm-wlm munge; scripts/setup-debian.sh installs them)"
      return 1
    fi
  done
  if ! id munge > /dev/null 2>&1; then
    SLURM_LOCAL_ERROR="no user munge (the munge package creates it)"
    return 1
  fi
  dir=$(cd "$dir" && pwd)
  # munged refuses directories that others may write to or that it cannot
  # reach: DIR (and its parents) must be traversable, munge/ its own.
  chmod 755 "$dir"
  if ! runuser -u munge -- test -x "$dir"; then
    SLURM_LOCAL_ERROR="user munge cannot reach $dir: a directory above it is private (chmod 755 it)"
    return 1
  fi
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chown munge: "$dir/munge"
  chmod 700 "$dir/munge"
  head -c 1024 /dev/urandom > "$dir/munge/munge.key"
  chown munge: "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  if ! runuser -u munge -- /usr/sbin/munged --force \
    --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" 2> "$dir/log/munged.err"; then
    SLURM_LOCAL_ERROR="munged did not start: $(cat "$dir/log/munged.err" "$dir/munge/munged.log" 2> /dev/null | tail -3)"
    return 1
  fi
  slurm_local_wait_file "$dir/munge/munged.pid" || {
    SLURM_LOCAL_ERROR="munged wrote no pid file in 10 s"
    return 1
  }

  host=$(hostname -s)
  cpus=$(nproc)
  ctld_port=$(slurm_local_free_port)
  slurmd_port=$(slurm_local_free_port)
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(slurm_local_free_port); done
  cat > "$dir/slurm.conf" << EOF
# Written by tests/cluster/slurm-local.sh: one node, everything under $dir.
ClusterName=sutra-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# A cancelled task gets SIGTERM, then SIGKILL this many seconds later.
KillWait=5
# Finished jobs stay visible to scontrol for this long (no accounting here).
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$dir/slurm.conf
  deadline=$((SECONDS + timeout))
  # Each daemon forks into the background and writes its pid file a
  # moment later: wait for it, so that slurm_local_stop always finds it.
  if ! /usr/sbin/slurmctld -f "$SLURM_CONF" 2> "$dir/log/slurmctld.err" ||
    ! slurm_local_wait_file "$dir/slurmctld.pid" ||
    ! /usr/sbin/slurmd -f "$SLURM_CONF" 2> "$dir/log/slurmd.err" ||
    ! slurm_local_wait_file "$dir/slurmd.pid"; then
    cat "$dir"/log/*.err "$dir"/log/*.log >&2 2> /dev/null || true
    SLURM_LOCAL_ERROR="slurmctld or slurmd did not start (logs in $dir/log)"
    return 1
  fi
  while ((SECONDS < deadline)); do
    state=$(sinfo --noheader --nodes="$host" --format=%T 2> /dev/null || true)
    if [ "$state" = idle ]; then
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 2> /dev/null || true
  SLURM_LOCAL_ERROR="the Slurm node was not idle within ${timeout} s (state: ${state:-none}; logs in $dir/log)"
  return 1
}

# Ends the process whose pid @1 holds, if it is still there; waits (at most
# 10 s) for it to go, then kills it.
slurm_local_end_pid_file () {
  local pid_file=$1 pid tries
  [ -s "$pid_file" ] || return 0
  pid=$(cat "$pid_file")
  [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null || return 0
  kill -TERM "$pid" 2> /dev/null || return 0
  for ((tries = 0; tries < 100; tries++)); do
    kill -0 "$pid" 2> /dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2> /dev/null || true
}

# slurm_local_stop DIR: the daemons that slurm_local_start started, by the
# pids in their pid files (slurmd first: it ends the jobs' processes).
slurm_local_stop () {
  local dir=$1
  slurm_local_end_pid_file "$dir/slurmd.pid"
  slurm_local_end_pid_file "$dir/slurmctld.pid"
  slurm_local_end_pid_file "$dir/munge/munged.pid"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-} ${2:-}" in
    "start "?*)
      mkdir -p "$2"
      if ! slurm_local_start "$2"; then
        echo "slurm-local: $SLURM_LOCAL_ERROR" >&2
        slurm_local_stop "$2"
        exit 1
      fi
      echo "export SLURM_CONF=$SLURM_CONF"
      ;;
    "stop "?*) slurm_local_stop "$2" ;;
    *)
      echo "usage: $0 start|stop DIR" >&2
      exit 2
      ;;
  esac
fi
