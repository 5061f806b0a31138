#!/usr/bin/env bash
# Reliability suite of cairn: fuzzes every decoder for a fixed time, then runs
# the scenario tests (build tag `reliability`) and prints one table row each.
#
#   reliability/run.sh                      full mode (20 crashes each, 60 s per fuzz target, ...)
#   RELIABILITY_SHORT=1 reliability/run.sh  CI mode: few runs, 10 s per fuzz target, a few minutes
#
# Env: FUZZTIME (per target, e.g. 30s) and RELIABILITY_RUNS (runs per scenario)
# override the mode's defaults; RELIABILITY_ONLY=fuzz|scenarios runs one half.
# Needs root for the disk-full scenario (mount -t tmpfs); it is skipped otherwise.
# Hostile archives (restore_hostile_test.go) run crafted restores as root would
# (chown, device nodes; without root the device-node cases are left out) and
# count every file beside the target that changed: the row reads
# "0 files outside the target touched in N crafted restores".
# Server API attacks (server_attack_test.go): method confusion (state changes over
# GET/HEAD without CSRF), log forging, limiter memory (logins with 400 KB and ever
# new user names; the row states the server's RSS and log growth) and ownerless
# group access.
# Resource exhaustion (exhaust_test.go, internal/hostile): each memory attack of
# one backup user (huge fixed index, dynamic index entries, catalog bombs, debug
# task logs with 200 KB paths, zstd bombs) against a fresh cairn serve, the row
# stating "server RSS under each attack <= N MiB" (bound 512 MiB); fd
# exhaustion: 300 idle sessions of one user against a server limited to 400
# descriptors, with the session caps, another user's backup and the idle timeout.
# Exit status: 0 when every row passes.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
if [ "${RELIABILITY_SHORT:-}" = 1 ]; then MODE=short; FT=${FUZZTIME:-10s}; else MODE=full; FT=${FUZZTIME:-60s}; fi
OUT=$(mktemp -d)
RES=$OUT/results.tsv
: >"$RES"
status=0

if [ "${RELIABILITY_ONLY:-}" != scenarios ]; then
  # Every fuzz target of the module, one at a time.
  grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '^./reliability/' |
    sed -E 's|^\./(.*)/[^/]*_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|' | sort -u >"$OUT/targets"
  while read -r pkg name; do
    before=$(ls "$pkg/testdata/fuzz/$name" 2>/dev/null | sort)
    log=$OUT/fuzz-$(echo "$pkg" | tr / _)-$name.log
    echo "fuzz ./$pkg $name for $FT" >&2
    # A short minimisation budget: by default Go may spend up to 60 s shrinking
    # each new interesting input, and a fuzz time that ends meanwhile fails
    # with "context deadline exceeded" although nothing crashed.
    # On a loaded machine the engine itself may also miss its deadline at the
    # end ("context deadline exceeded", no input written): a real crash always
    # writes its input to testdata, so such a run is retried, twice at most.
    ok=; flakes=0
    for try in 1 2 3; do
      if go test -run '^$' -fuzz "^$name\$" -fuzztime "$FT" -fuzzminimizetime 1s "./$pkg" >"$log" 2>&1; then ok=1; break; fi
      [ "$(ls "$pkg/testdata/fuzz/$name" 2>/dev/null | sort)" = "$before" ] && grep -q 'context deadline exceeded' "$log" &&
        ! grep -q 'Failing input written' "$log" || break
      flakes=$((flakes + 1))
    done
    if [ -n "$ok" ]; then
      execs=$(grep -Eo 'execs: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
      outcome="PASS: 0 crashers (${execs:-?} execs)"
      [ $flakes -gt 0 ] && outcome="$outcome; $flakes run(s) ended by the engine's own deadline, no input written, retried"
    else
      status=1
      after=$(ls "$pkg/testdata/fuzz/$name" 2>/dev/null | sort)
      new=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
      outcome="FAIL: crasher ${new:-(see log)}: $(grep -m1 -E 'panic|---|Error' "$log" | cut -c1-120)"
      cp "$log" "$ROOT/reliability/last-fuzz-failure-$name.log" 2>/dev/null
    fi
    printf 'fuzz: %s %s\t1\t%s of coverage-guided fuzzing\tno panic, no hang, round-trip properties of the target\t%s\n' \
      "$pkg" "$name" "$FT" "$outcome" >>"$RES"
  done <"$OUT/targets"
fi

if [ "${RELIABILITY_ONLY:-}" != fuzz ]; then
  echo "scenarios ($MODE mode)" >&2
  RELIABILITY_RESULTS=$RES go test -tags reliability -count=1 -v -timeout 90m ./reliability/ >"$OUT/scenarios.log" 2>&1 || status=1
  grep -E '^(--- FAIL|FAIL|ok|panic)' "$OUT/scenarios.log" >&2
  cp "$OUT/scenarios.log" "$ROOT/reliability/last-run.log"
fi

echo
echo "cairn reliability, $MODE mode, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo +dirty)"
echo
printf '| scenario | runs | injected | checked | outcome |\n|---|---|---|---|---|\n'
awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$RES"
grep -q $'\tFAIL' "$RES" && status=1
rm -rf "$OUT"
exit $status
