#!/usr/bin/env bash
# Runs the tests of the library's module and of the modules of its own
# (examples/ecosystem, otel) at once, in the run directory of the caller
# (scripts/with-run-dir.sh): most of their time is spent waiting for
# servers, so running them side by side keeps `make test` short. The other
# modules' output is printed after the library's; the exit status is
# non-zero if any fails.
#
# Both run as `go test -json` through internal/cmd/testprogress, which prints
# what a plain `go test` prints (an "ok" line per package, and every line of
# a failure, a panic or a build error) and, while a package runs for long, a
# note every 20 seconds on standard error ("… replica: 63 tests done, 2
# running, 2m10s"; the ecosystem module's notes start with
# "examples/ecosystem: " and show as they come).
#
#   scripts/with-run-dir.sh scripts/test-modules.sh
set -u -o pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
GO=${GO:-go}
tmp=${SQLREPLICA_RUN_DIR:-${TMPDIR:-/tmp}}
progress=$(mktemp "$tmp/testprogress-XXXXXXXX") || exit 1
eco_out=$(mktemp "$tmp/ecosystem-test-XXXXXXXX.log") || exit 1
otel_out=$(mktemp "$tmp/otel-test-XXXXXXXX.log") || exit 1
trap 'rm -f "$progress" "$eco_out" "$otel_out"' EXIT
(cd "$here" && "$GO" build -o "$progress" ./internal/cmd/testprogress) || exit 1
module=github.com/sqlreplica/sqlreplica
(cd "$here/examples/ecosystem" && "$GO" test -json -race -count=1 -timeout 10m ./... 2>&1 |
  "$progress" -label examples/ecosystem -trim "$module/examples/ecosystem") >"$eco_out" &
eco=$!
(cd "$here/otel" && "$GO" test -json -race -count=1 -timeout 5m ./... 2>&1 |
  "$progress" -label otel -trim "$module/otel") >"$otel_out" &
otel=$!
(cd "$here" && "$GO" test -json -race -count=1 -parallel 6 -timeout 20m ${PKGS:-./...} 2>&1 |
  "$progress" -trim "$module/")
lib_status=$?
wait "$eco"
eco_status=$?
wait "$otel"
otel_status=$?
echo "--- examples/ecosystem (a module of its own)"
cat "$eco_out"
echo "--- otel (a module of its own)"
cat "$otel_out"
if [ "$lib_status" -ne 0 ] || [ "$eco_status" -ne 0 ] || [ "$otel_status" -ne 0 ]; then
  exit 1
fi
