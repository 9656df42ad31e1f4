#!/usr/bin/env bash
# Best effort: fetches Oracle MySQL 9.x's server from Debian sid's packages
# into a private root (default .cache/mysql), without touching the system's
# apt state, so that the tests can run a MySQL primary and GTID replica.
# Debian's stable suites have no MySQL; package names in sid change over
# time, so a failure here only makes the MySQL tests skip, loudly.
set -uo pipefail

root=${SQLREPLICA_MYSQL_ROOT:-$(pwd)/.cache/mysql}
[ -x "$root/usr/sbin/mysqld" ] && exit 0
mirror=${SQLREPLICA_DEBIAN_MIRROR:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/apt/apt.conf.d" "$work/etc/apt/preferences.d" "$work/etc/apt/trusted.gpg.d" \
  "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
touch "$work/status"
echo "deb [trusted=yes] $mirror sid main" > "$work/etc/apt/sources.list"
cat > "$work/apt.conf" <<CONF
Dir::State "$work/";
Dir::State::lists "$work/lists/";
Dir::State::status "$work/status";
Dir::Etc "$work/etc/apt/";
Dir::Etc::sourcelist "$work/etc/apt/sources.list";
Dir::Etc::sourceparts "-";
Dir::Etc::parts "$work/etc/apt/apt.conf.d/";
Dir::Etc::preferencesparts "$work/etc/apt/preferences.d/";
Dir::Cache "$work/cache/";
APT::Architecture "amd64";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
CONF
export APT_CONFIG="$work/apt.conf"
echo "fetch-mysql: reading Debian sid's package lists"
if ! apt-get update -qq >"$work/log" 2>&1; then
  echo "fetch-mysql: apt-get update failed; MySQL tests will skip" >&2; tail -5 "$work/log" >&2; exit 1
fi
pkgs="mysql-server-core mysql-client-core libc6 libstdc++6 libgcc-s1 libicu78 libprotobuf-lite32t64
  libprotobuf32t64 libssl3t64 libaio1t64 libgoogle-perftools4t64 libtcmalloc-minimal4t64 libunwind8
  libtirpc3t64 libfido2-1 libcbor0.10 libzstd1 liblz4-1 zlib1g libmecab2 libnuma1 libcurl4t64 libedit2
  libbsd0 libmd0 libtinfo6"
echo "fetch-mysql: downloading MySQL's packages"
if ! (cd "$work/debs" && apt-get download $pkgs >"$work/log" 2>&1); then
  echo "fetch-mysql: download failed (package names in sid change); MySQL tests will skip" >&2
  tail -5 "$work/log" >&2; exit 1
fi
tmp="$root.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$tmp" || exit 1; done
rm -rf "$root"; mkdir -p "$(dirname "$root")"; mv "$tmp" "$root"
chmod -R a+rX "$root"
echo "fetch-mysql: $("$root"/usr/lib64/ld-linux-x86-64.so.2 --library-path "$root/usr/lib/x86_64-linux-gnu" "$root/usr/sbin/mysqld" --version 2>&1)"
