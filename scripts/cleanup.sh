#!/usr/bin/env bash
# Stops any database server a test run left behind and removes the test
# clusters' directories. Servers die with the test binary that started them
# (Pdeathsig); this is the belt to those braces.
set -u
tmp=${TMPDIR:-/tmp}
pids=$(pgrep -f -- "$tmp/sqlreplica-(postgresql|mariadb|mysql)-" 2>/dev/null || true)
if [ -n "$pids" ]; then
  echo "cleanup: stopping leftover test servers: $pids"
  kill -KILL $pids 2>/dev/null || true
fi
rm -rf "$tmp"/sqlreplica-postgresql-* "$tmp"/sqlreplica-mariadb-* "$tmp"/sqlreplica-mysql-* 2>/dev/null || true
exit 0
