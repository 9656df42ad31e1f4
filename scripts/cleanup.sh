#!/usr/bin/env bash
# Stops what a run of the test harness left behind and removes its run
# directory, and touches nothing else on the machine: other runs, other
# checkouts and hand-started clusters on this machine use servers of the
# same names.
#
#   scripts/cleanup.sh RUN_DIR...    clean these runs (what `make test` does at its end)
#   scripts/cleanup.sh --abandoned   clean every run of this checkout whose owner has exited
#                                    (what `make clean` does)
#
# A run directory (see SQLREPLICA_RUN_DIR in internal/testcluster/rundir.go)
# holds a marker file sqlreplica-run ("owner=PID STARTTIME BOOTID",
# "checkout=DIR"), one record "PGID STARTTIME BOOTID" per process group the
# harness started in procs/, and links/ to other run directories to clean
# with it. A recorded group is killed only while its leader is still the
# process recorded: same boot id, same start time (field 22 of
# /proc/PID/stat) and still leading group PGID, so a recycled PID is never
# killed. A directory without a marker owned by this user is left alone.
set -u

boot=$(cat /proc/sys/kernel/random/boot_id)

# stat_of PID: sets st_state, st_pgrp and st_start from /proc/PID/stat.
stat_of() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) } # the command name in parentheses may hold anything
  # shellcheck disable=SC2086
  set -- $s
  [ $# -ge 20 ] || return 1
  st_state=$1 st_pgrp=$3 st_start=${20}
}

# is PID STARTTIME BOOTID: whether PID is still that process (a zombie
# counts: its PID, and its group's, are not reused before it is reaped).
is() {
  [ "${3:-}" = "$boot" ] && stat_of "$1" && [ "$st_start" = "$2" ]
}

# clean_run DIR [DEPTH]
clean_run() {
  local run=$1 depth=${2:-0} rec pgid start rboot l k deadline
  local -a killed=()
  [ -d "$run" ] || return 0
  if [ ! -f "$run/sqlreplica-run" ] || [ ! -O "$run/sqlreplica-run" ]; then
    echo "cleanup: $run is not a run directory of this user (no sqlreplica-run marker); left alone" >&2
    return 1
  fi
  if [ "$depth" -lt 3 ]; then
    for l in "$run"/links/*; do
      [ -L "$l" ] && clean_run "$(readlink "$l")" $((depth + 1))
    done
  fi
  for rec in "$run"/procs/*; do
    case $rec in *.tmp) continue ;; esac
    [ -f "$rec" ] && read -r pgid start rboot <"$rec" || continue
    case $pgid in '' | *[!0-9]*) continue ;; esac
    if is "$pgid" "$start" "$rboot" && [ "$st_pgrp" = "$pgid" ]; then
      echo "cleanup: killing process group $pgid left in $run"
      kill -KILL -- "-$pgid" 2>/dev/null
      killed+=("$pgid $start $rboot")
    fi
  done
  # Let every killed leader die (at most 10 s) before its files go.
  deadline=$((SECONDS + 10))
  for k in "${killed[@]}"; do
    # shellcheck disable=SC2086
    set -- $k
    while is "$1" "$2" "$3" && [ "$st_state" != Z ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  done
  rm -rf -- "$run"
}

if [ $# -eq 0 ]; then
  echo "usage: $0 RUN_DIR... | --abandoned" >&2
  exit 2
fi
status=0
if [ "$1" = --abandoned ]; then
  # Runs are found by their marker's content, never by a name alone: only a
  # run that names this checkout and whose owner process has exited.
  checkout=$(cd "$(dirname "$0")/.." && pwd -P)
  for m in "${TMPDIR:-/tmp}"/sqlreplica-run-*/sqlreplica-run; do
    [ -f "$m" ] && [ -O "$m" ] || continue
    owner='' co=''
    while IFS='=' read -r k v; do
      case $k in owner) owner=$v ;; checkout) co=$v ;; esac
    done <"$m"
    [ -n "$co" ] && [ "$co" = "$checkout" ] || continue
    # shellcheck disable=SC2086
    if [ -n "$owner" ] && is $owner; then
      echo "cleanup: ${m%/*} is in use by process ${owner%% *}; left alone"
      continue
    fi
    echo "cleanup: removing abandoned run ${m%/*}"
    clean_run "${m%/*}" || status=1
  done
  exit $status
fi
for run in "$@"; do
  clean_run "$run" || status=1
done
exit $status
