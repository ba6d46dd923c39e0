#!/usr/bin/env bash
# Installs the real servers and clients the integration tests run against,
# from Debian 12: Prosody (+ prosody-modules for mod_privilege and
# mod_delegation), ejabberd, slixmpp (for /usr/bin/python3), ngircd,
# InspIRCd with Anope (IRC services, for SASL), PostgreSQL, Chromium with
# chromedriver, and systemd (for systemd-analyze). Each is checked by the file the tests run; nothing is
# done when all are present. Without root it only says what is missing.
set -euo pipefail

missing=()
# need PACKAGE TEST...: PACKAGE is missing unless the test command succeeds.
need() {
  local pkg=$1
  shift
  "$@" >/dev/null 2>&1 || missing+=("$pkg")
}
has() { command -v "$1" || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

check_all() {
  missing=()
  need prosody          has prosody
  need prosody-modules  test -f /usr/lib/prosody/modules/mod_privilege/mod_privilege.lua
  need ejabberd         sh -c 'command -v erl && ls -d /usr/lib/*/ejabberd-[0-9]*'
  need python3-slixmpp  /usr/bin/python3 -c 'import slixmpp'
  need ngircd           has ngircd
  need inspircd         has inspircd
  need anope            has anope
  need postgresql       sh -c 'ls /usr/lib/postgresql/*/bin/postgres /usr/lib/postgresql/*/bin/initdb && command -v psql'
  need chromium         has chromium
  need chromium-driver  has chromedriver
  need systemd          has systemd-analyze
}
check_all

all="prosody, prosody-modules, ejabberd, slixmpp, ngircd, inspircd, anope, postgresql, chromium, chromedriver, systemd-analyze"
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: $all are installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing ${missing[*]}; as root run: apt-get update && apt-get install -y ${missing[*]}"
  echo "deps: integration tests will skip (or fail under CI=true)"
  exit 0
fi
# Keep the packages' maintainer scripts from starting daemons on default
# ports (prosody, ejabberd, ngircd, inspircd, postgresql): the tests start
# their own, on free loopback ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
# Check again: a package that installed but lacks the file is an error.
check_all
if [ ${#missing[@]} -ne 0 ]; then
  echo "deps: installed, but still missing: ${missing[*]}" >&2
  exit 1
fi
echo "deps: installed"
