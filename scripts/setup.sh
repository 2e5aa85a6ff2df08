#!/usr/bin/env bash
# Idempotent project setup: npm packages, the Python venv (.venv) and the TypeScript build.
#
# - `npm ci` runs only when node_modules is missing or package-lock.json changed since the last
#   successful install (stamp: node_modules/.cutover-lock-sha).
# - The venv is (re)installed only when python/requirements.txt or python/constraints.txt changed
#   since the last successful `pip install -r ... -c ...` (stamp: .venv/.cutover-req-sha).
# - `npm run build` (tsc) always runs.
#
# Quiet on success: one line per step with its timing. The tools' own output goes to
# .cutover/logs/setup-*.log and is shown (its tail) only when a step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOG_DIR="$ROOT/.cutover/logs"
mkdir -p "$LOG_DIR"

LOCK_STAMP=node_modules/.cutover-lock-sha
VENV=.venv
REQ=python/requirements.txt
CONSTRAINTS=python/constraints.txt
REQ_STAMP="$VENV/.cutover-req-sha"

# npm warns on every call about the machine's "nodedir" user config: harmless noise.
NPM_NOISE='Unknown user config "nodedir"'

T_START=$EPOCHREALTIME

elapsed() { # elapsed START -> seconds with one decimal since START (an $EPOCHREALTIME value)
  local now=$EPOCHREALTIME
  local us=$((${now//[.,]/} - ${1//[.,]/}))
  printf '%d.%01ds' $((us / 1000000)) $(((us % 1000000) / 100000))
}

say() { printf 'setup: %s\n' "$*"; }

die() {
  printf 'setup: ERROR: %s\n' "$*" >&2
  exit 1
}

# run_step NAME LOG CMD... : runs CMD with its output in LOG; on failure shows the log's tail and exits.
run_step() {
  local name=$1 log=$2
  shift 2
  local t0=$EPOCHREALTIME rc=0
  set +e
  (
    set -euo pipefail
    "$@"
  ) >"$log" 2>&1
  rc=$?
  set -e
  if ((rc != 0)); then
    {
      printf 'setup: FAILED: %s (exit %d after %s). Last lines of %s:\n' "$name" "$rc" "$(elapsed "$t0")" "${log#"$ROOT"/}"
      grep -v -F "$NPM_NOISE" "$log" | tail -n 60 | sed 's/^/  | /'
    } >&2
    exit "$rc"
  fi
  say "$name ok [$(elapsed "$t0")]"
}

for tool in node npm python3 sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not on PATH; it is needed to set up this project."
done

# One setup at a time (tests of two shells at once would otherwise race on node_modules/.venv).
exec 9>"$ROOT/.cutover/setup.lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 900 9 || die "another scripts/setup.sh has held .cutover/setup.lock for 15 minutes"
fi

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---- npm packages -----------------------------------------------------------------------------
[[ -f package-lock.json ]] || die "package-lock.json is missing in $ROOT"
lock_sha=$(sha_of package-lock.json)
t0=$EPOCHREALTIME
if [[ -d node_modules && -f $LOCK_STAMP && "$(cat "$LOCK_STAMP")" == "$lock_sha" ]]; then
  say "npm packages up to date, npm ci skipped [$(elapsed "$t0")]"
else
  npm_install() {
    rm -f "$LOCK_STAMP"
    # --ignore-scripts skips the root "prepare" (tsc), which would fail the install whenever the
    # tree does not compile; `npm rebuild` then runs the dependencies' own install scripts.
    local ci_out="$LOG_DIR/setup-npm-ci.log" rc=0
    npm ci --ignore-scripts --no-audit --no-fund >"$ci_out" 2>&1 || rc=$?
    cat "$ci_out"
    if ((rc != 0)); then
      # The registry reachable here serves only the linux builds of platform-specific optional
      # packages (e.g. @swc/core-darwin-arm64 is missing), so the lock has no entries for the others
      # and npm ci's sync check refuses it. If every "Missing:" package is named in the lock (as
      # someone's optional dependency), `npm install` honours the lock as-is; it must leave the lock
      # byte-identical, or this is a real out-of-sync lock and we fail.
      grep -q 'can only install packages when your package.json and package-lock.json' "$ci_out" || return "$rc"
      local missing name
      missing=$(sed -n 's/^npm error Missing: \(.*\)@[^@]* from lock file$/\1/p' "$ci_out")
      [[ -n $missing ]] || return "$rc"
      for name in $missing; do
        grep -q -F "\"$name\":" package-lock.json || {
          echo "setup: $name is missing from package-lock.json: run 'npm install' and commit the lock"
          return "$rc"
        }
      done
      echo "setup: npm ci refused the lock only for optional platform packages; using npm install with the lock"
      local backup="$ROOT/.cutover/package-lock.json.before-install"
      cp package-lock.json "$backup"
      npm install --ignore-scripts --no-audit --no-fund
      if [[ "$(sha_of package-lock.json)" != "$lock_sha" ]]; then
        cp "$backup" package-lock.json
        echo "setup: npm install wanted to change package-lock.json (restored): the lock is out of sync with package.json; run 'npm install' and commit the lock"
        return 1
      fi
    fi
    npm rebuild
    printf '%s\n' "$lock_sha" >"$LOCK_STAMP"
  }
  run_step "npm ci (package-lock.json changed or node_modules missing)" "$LOG_DIR/setup-npm.log" npm_install
fi

# ---- Python venv ------------------------------------------------------------------------------
[[ -f $REQ ]] || die "$REQ is missing in $ROOT"
req_sha="$(sha_of "$REQ") $(sha_of "$CONSTRAINTS")"
t0=$EPOCHREALTIME
if [[ -x $VENV/bin/python && -f $REQ_STAMP && "$(cat "$REQ_STAMP")" == "$req_sha" ]]; then
  say "python venv up to date, pip skipped [$(elapsed "$t0")]"
else
  venv_install() {
    rm -f "$REQ_STAMP"
    if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
      echo "creating $VENV"
      python3 -m venv --clear "$VENV"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check -r "$REQ" -c "$CONSTRAINTS"
    printf '%s\n' "$req_sha" >"$REQ_STAMP"
  }
  run_step "python venv: pip install -r $REQ" "$LOG_DIR/setup-pip.log" venv_install
fi

# ---- build ------------------------------------------------------------------------------------
run_step "npm run build (tsc)" "$LOG_DIR/setup-build.log" npm run --silent build

say "done [$(elapsed "$T_START")]"
