#!/usr/bin/env bash
# Installs the real servers and clients the integration tests run against:
# Prosody, ejabberd, slixmpp (for /usr/bin/python3) and ngircd, from Debian.
# Does nothing when they are present. Without root it only says what is missing.
set -euo pipefail
pkgs=(prosody ejabberd python3-slixmpp ngircd)
missing=()
command -v prosody >/dev/null 2>&1 || missing+=(prosody)
{ command -v erl >/dev/null 2>&1 && ls -d /usr/lib/*/ejabberd-[0-9]* >/dev/null 2>&1; } || missing+=(ejabberd)
/usr/bin/python3 -c 'import slixmpp' >/dev/null 2>&1 || missing+=(python3-slixmpp)
command -v ngircd >/dev/null 2>&1 || [ -x /usr/sbin/ngircd ] || missing+=(ngircd)
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: prosody, ejabberd, slixmpp and ngircd are installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing ${missing[*]}; as root run: apt-get update && apt-get install -y ${pkgs[*]}"
  echo "deps: integration tests will skip (or fail under CI=true)"
  exit 0
fi
# Keep the packages' maintainer scripts from starting daemons on default ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
echo "deps: installing ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${pkgs[@]}" >/dev/null
echo "deps: installed"
