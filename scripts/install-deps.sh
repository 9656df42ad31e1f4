#!/usr/bin/env bash
# Installs what the tests and the demo need and is missing: PostgreSQL 15's
# server programs and MariaDB's server, from Debian's packages. Runs as root,
# or through sudo when not root. Does nothing when everything is there.
set -euo pipefail

pg_bin=${SQLREPLICA_PG_BIN:-/usr/lib/postgresql/15/bin}
need=()
[ -x "$pg_bin/postgres" ] && [ -x "$pg_bin/pg_basebackup" ] || need+=(postgresql-15)
{ command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb-install-db >/dev/null || need+=(mariadb-server)
# Galera clusters (the multi-primary tests, make galera-demo): the provider
# library and rsync, which the nodes' state transfers use.
[ -e /usr/lib/galera/libgalera_smm.so ] || need+=(galera-4)
command -v rsync >/dev/null || need+=(rsync)

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
# Keep the packages from starting their system services (the tests start
# their own servers): a temporary policy-rc.d where there is none.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
  trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-deps: done"
