#!/usr/bin/env bash
# Runs every fuzz target of the SDK and the examples' module (go.work joins
# them), one after the other, for the
# given time each (default 10s): scripts/fuzz.sh 2s (the CI short form) or
# scripts/fuzz.sh 5m. FUZZPKGS restricts the packages (a go list pattern);
# FUZZPARALLEL sets the fuzz workers per target (default: GOMAXPROCS).
# Each target's committed corpus (testdata/fuzz/FuzzXxx) is its seed set;
# new crashers are written there by go test and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-10s}"
par=()
if [ -n "${FUZZPARALLEL:-}" ]; then par=(-parallel "$FUZZPARALLEL"); fi
fail=0
n=0
start=$(date +%s)
for pkg in $(go list ${FUZZPKGS:-./... ./examples/...}); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/' | sort -u); do
    t0=$(date +%s)
    ok=0
    for attempt in 1 2; do
      if go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "${par[@]}" "$pkg" > /tmp/fuzz.$$.out 2>&1; then
        ok=1
        break
      fi
      # Go's fuzz coordinator sometimes ends a short run with a bare
      # "context deadline exceeded" while a worker is still starting or
      # minimizing; no input failed then (no "Failing input" line). Run
      # that target once more; a real failure fails both times.
      if grep -q 'Failing input' /tmp/fuzz.$$.out || ! grep -q 'context deadline exceeded' /tmp/fuzz.$$.out; then
        break
      fi
      echo "fuzz: $pkg $f: coordinator timeout without a failing input; running it again"
    done
    if [ $ok = 1 ]; then
      echo "fuzz: ok   $pkg $f ($(( $(date +%s) - t0 ))s)"
    else
      fail=1
      echo "fuzz: FAIL $pkg $f"
      tail -30 /tmp/fuzz.$$.out
    fi
    n=$((n + 1))
  done
done
rm -f /tmp/fuzz.$$.out
echo "fuzz: $n targets, $t each, $(( $(date +%s) - start ))s in total"
exit $fail
