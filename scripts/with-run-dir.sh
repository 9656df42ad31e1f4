#!/usr/bin/env bash
# Runs a command in a run of its own: makes a run directory, exports it as
# SQLREPLICA_RUN_DIR (every test cluster the command starts lives and is
# recorded there), and when the command ends, or this script gets SIGINT or
# SIGTERM, runs scripts/cleanup.sh on that directory and nothing else.
#
#   scripts/with-run-dir.sh go test ./...
set -u
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd -P)

# starttime PID: field 22 of /proc/PID/stat.
starttime() {
  local s
  s=$(cat "/proc/$1/stat") || return 1
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo "${20}"
}

run=$(mktemp -d "${TMPDIR:-/tmp}/sqlreplica-run-XXXXXXXX") || exit 1
trap '"$here/scripts/cleanup.sh" "$run"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$run" # the servers' user must reach its cluster directories
printf 'owner=%s %s %s\ncheckout=%s\n' $$ "$(starttime $$)" "$(cat /proc/sys/kernel/random/boot_id)" "$here" \
  >"$run/sqlreplica-run" || exit 1
export SQLREPLICA_RUN_DIR=$run
"$@"
