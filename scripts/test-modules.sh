#!/usr/bin/env bash
# Runs the tests of the library's module and of the modules of its own
# (examples/ecosystem, otel) at once, in the run directory of the caller
# (scripts/with-run-dir.sh): most of their time is spent waiting for
# servers, so running them side by side keeps `make test` short. The other
# modules' output is printed after the library's; the exit status is
# non-zero if any fails.
#
#   scripts/with-run-dir.sh scripts/test-modules.sh
set -u
here=$(cd "$(dirname "$0")/.." && pwd -P)
GO=${GO:-go}
eco_out=$(mktemp "${SQLREPLICA_RUN_DIR:-${TMPDIR:-/tmp}}/ecosystem-test-XXXXXXXX.log") || exit 1
otel_out=$(mktemp "${SQLREPLICA_RUN_DIR:-${TMPDIR:-/tmp}}/otel-test-XXXXXXXX.log") || exit 1
(cd "$here/examples/ecosystem" && "$GO" test -race -count=1 -timeout 10m ./...) >"$eco_out" 2>&1 &
eco=$!
(cd "$here/otel" && "$GO" test -race -count=1 -timeout 5m ./...) >"$otel_out" 2>&1 &
otel=$!
(cd "$here" && "$GO" test -race -count=1 -parallel 4 -timeout 20m ${PKGS:-./...})
lib_status=$?
wait "$eco"
eco_status=$?
wait "$otel"
otel_status=$?
echo "--- examples/ecosystem (a module of its own)"
cat "$eco_out"
echo "--- otel (a module of its own)"
cat "$otel_out"
rm -f "$eco_out" "$otel_out"
if [ "$lib_status" -ne 0 ] || [ "$eco_status" -ne 0 ] || [ "$otel_status" -ne 0 ]; then
  exit 1
fi
