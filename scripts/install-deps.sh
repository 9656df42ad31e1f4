#!/usr/bin/env bash
# Installs what the tests and the demo need and is missing: PostgreSQL 15's
# server programs and MariaDB's server, from Debian's packages. Runs as root,
# or through sudo when not root. Does nothing when everything is there.
set -euo pipefail

pg_bin=${SQLREPLICA_PG_BIN:-/usr/lib/postgresql/15/bin}
need=()
[ -x "$pg_bin/postgres" ] && [ -x "$pg_bin/pg_basebackup" ] || need+=(postgresql-15)
{ command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb-install-db >/dev/null || need+=(mariadb-server)

if ! command -v go >/dev/null; then
  echo "install-deps: Go is not installed; install Go 1.24 or newer first." >&2
  exit 1
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "install-deps: missing ${need[*]}; run as root or with passwordless sudo, or install them yourself." >&2
    exit 1
  fi
fi

echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# The packages' own services are not needed (the tests start their own
# servers); policy-rc.d keeps apt from starting them where that is possible.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-deps: done"
