#!/usr/bin/env bash
# Checks the examples' systemd units: `systemd-analyze verify` (syntax,
# directives, the ExecStart binary) on each unit with its binary built into
# a temporary directory, and `systemd-analyze security --offline` (the
# hardening: exposure at most 1.5 of 10), and that each example's sample
# configuration is accepted by the program itself (-check).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "verify-units: systemd-analyze not installed (scripts/deps.sh)"; exit 1; fi
  echo "verify-units: systemd-analyze not installed; skipped (scripts/deps.sh installs it)"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # example dir, binary name, unit file, sample config
  local dir=$1 bin=$2 unit=$3 conf=$4
  go build -o "$tmp/$bin" "./$dir"
  sed "s#/usr/local/bin/$bin#$tmp/$bin#" "$dir/deploy/$unit" > "$tmp/$unit"
  grep -q "ExecStart=$tmp/$bin " "$tmp/$unit" || { echo "verify-units: $unit does not run /usr/local/bin/$bin"; exit 1; }
  SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/$unit"
  systemd-analyze security --offline=yes --threshold=15 "$tmp/$unit" | tail -1
  # The sample configuration is accepted as the unit passes it.
  install -m 600 /dev/null "$tmp/secret" && echo "s3cret" > "$tmp/secret"
  "$tmp/$bin" -config "$dir/deploy/$conf" -data "$tmp/data" -secret-file "$tmp/secret" -check | tail -1
  echo "verify-units: ok $unit"
}
check examples/pubsub-service pubsub-service xmppkit-pubsub.service pubsub.conf
check examples/transport xmppkit-transport xmppkit-transport.service transport.conf
