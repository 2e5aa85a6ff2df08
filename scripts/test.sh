#!/usr/bin/env bash
# The project's checks: setup (install + build), lint, typecheck, then the tests from dist/ with
# node's test runner, two files at a time (2 cores; tests start real servers).
#
# usage: scripts/test.sh [FILTER...]
#   FILTER selects test files by substring of their source path, e.g. `npm test -- test/plan`
#   runs test/plan*.test.ts (as dist/test/plan*.test.js). test/x.test.ts and dist/test/x.test.js
#   are accepted too. Without filters every test runs.
#
# CUTOVER_TEST_SKIP_CHECKS=1 skips lint and typecheck (for quick local reruns; CI never sets it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

elapsed() {
  local now=$EPOCHREALTIME
  local us=$((${now//[.,]/} - ${1//[.,]/}))
  printf '%d.%01ds' $((us / 1000000)) $(((us % 1000000) / 100000))
}

# npm warns on every call about the machine's "nodedir" user config: harmless noise.
npm_quiet() {
  npm "$@" 2>&1 | { grep -v -F 'Unknown user config "nodedir"' || true; }
}

step() {
  local name=$1 t0=$EPOCHREALTIME
  shift
  printf 'test: %s\n' "$name"
  if ! "$@"; then
    printf 'test: FAILED: %s [%s]\n' "$name" "$(elapsed "$t0")" >&2
    exit 1
  fi
  printf 'test: %s ok [%s]\n' "$name" "$(elapsed "$t0")"
}

T_START=$EPOCHREALTIME
# --upgrade-venvs: the upgrade runbook's tests run the Airflow versions it upgrades from
# (.venvs/airflow-<version>); `npm run demo` leaves them out.
bash scripts/setup.sh --upgrade-venvs
if [[ ${CUTOVER_TEST_SKIP_CHECKS:-} == 1 ]]; then
  echo 'test: lint and typecheck skipped (CUTOVER_TEST_SKIP_CHECKS=1)'
else
  step 'npm run lint' npm_quiet run --silent lint
  step 'npm run typecheck' npm_quiet run --silent typecheck
fi

# Test files: compiled tests whose source still exists (tsc leaves stale outputs of deleted files).
[[ -d dist/test ]] || {
  echo 'test: ERROR: no dist/test directory: did the build compile test/?' >&2
  exit 1
}
mapfile -t all < <(find dist/test -type f -name '*.test.js' | LC_ALL=C sort)
files=()
for f in "${all[@]}"; do
  src="${f#dist/}"
  src="${src%.js}.ts"
  [[ -f $src ]] || continue
  if (($# > 0)); then
    match=0
    for filter in "$@"; do
      filter="${filter#./}"
      filter="${filter#dist/}"
      filter="${filter%.ts}"
      filter="${filter%.js}"
      if [[ $src == *"$filter"* ]]; then
        match=1
        break
      fi
    done
    ((match)) || continue
  fi
  files+=("$f")
done
if ((${#files[@]} == 0)); then
  if (($# > 0)); then
    known=("${all[@]#dist/}")
    echo "test: ERROR: no test file matches: $* (test files: ${known[*]/%.js/.ts})" >&2
  else
    echo 'test: ERROR: no test files found (dist/test/**/*.test.js)' >&2
  fi
  exit 1
fi

# Two files at a time: one file alone left the two cores 45 % idle (waiting on Airflow's heartbeats,
# DAG runs and health polls); two at a time took the tests from 2135 s to 1366 s on an idle VM,
# each file 1.1 to 1.6x its time alone (bench/README.md, "CI: the whole run").
# CUTOVER_TEST_CONCURRENCY=1 runs one at a time.
concurrency=${CUTOVER_TEST_CONCURRENCY:-2}

# The tests use the venv's tools (temporal, airflow, moto_server, ...).
export CUTOVER_VENV="$ROOT/.venv"
export PATH="$CUTOVER_VENV/bin:$PATH"

printf 'test: node --test over %d file(s) [%s so far]\n' "${#files[@]}" "$(elapsed "$T_START")"
# Nothing is printed after node's own summary, so that it stays the closing lines of the run. The
# reporter is node's spec reporter plus, just before that summary, the 10 slowest files with their
# times (node's own per-file durations); every file's time goes to CUTOVER_TEST_TIMES_FILE.
export CUTOVER_TEST_TIMES_FILE="$ROOT/test-artifacts/test-file-times.txt"
rm -f "$CUTOVER_TEST_TIMES_FILE"
# Each Airflow's schema is migrated once per run into a template database the files copy
# (test/support/airflow-db.ts); the run starts without any and drops them at its end, quietly.
node dist/test/support/drop-airflow-templates.js
status=0
node --test --test-concurrency="$concurrency" --enable-source-maps \
  --test-reporter=./dist/test/support/file-times-reporter.js --test-reporter-destination=stdout \
  "${files[@]}" || status=$?
node dist/test/support/drop-airflow-templates.js || true
exit "$status"
