#!/usr/bin/env bash
# Idempotent project setup: npm packages, the Python venvs and the TypeScript build.
#
# usage: scripts/setup.sh [--upgrade-venvs]
#
# - `npm ci` runs only when node_modules is missing or package-lock.json changed since the last
#   successful install (stamp: node_modules/.cutover-lock-sha).
# - The default venv (.venv: Airflow 3.3, its providers, temporal, moto, kubectl, ruff) is
#   (re)installed only when python/requirements.txt or python/constraints.txt changed since its
#   last successful install (stamp: .venv/.cutover-req-sha).
# - With --upgrade-venvs (or CUTOVER_UPGRADE_VENVS=1), also the Airflow upgrade runbook's extra
#   venvs, the versions it upgrades FROM: python/airflow-<version>/{requirements,constraints}.txt
#   -> .venvs/airflow-<version>, each with its own stamp (.venvs/airflow-<version>/.cutover-req-sha).
#   scripts/test.sh asks for them; `npm run demo` does not, so a first demo does not wait for them.
# - Venvs are made and filled by uv (UV_VERSION below, installed from PyPI into .cutover/uv-venv the
#   first time a venv needs installing), or by pip when uv cannot be installed;
#   CUTOVER_PY_INSTALLER=pip forces pip. Either way under the same constraints files.
# - `npm run build` (tsc, then the workflow bundle replay uses) always runs.
#
# One line per step with its timing; while a step runs, a line every 10 s with its time so far and
# the tool's last line of output. The tools' own output goes to .cutover/logs/setup-*.log and is
# shown (its tail) only when a step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOG_DIR="$ROOT/.cutover/logs"
mkdir -p "$LOG_DIR"

LOCK_STAMP=node_modules/.cutover-lock-sha
VENV=.venv
REQ=python/requirements.txt
CONSTRAINTS=python/constraints.txt
# Every venv's stamp: the sha256 of its requirements and constraints files at its last finished
# install, "<requirements sha> <constraints sha>" (the Dockerfile writes the same for .venv).
STAMP_NAME=.cutover-req-sha
# The upgrade runbook's extra venvs: python/airflow-<version>/ -> .venvs/airflow-<version>.
EXTRA_VENVS_DIR=.venvs

# uv makes and fills the venvs: a pinned release from PyPI, in a small venv of its own.
UV_VERSION=0.13.9
UV_VENV=.cutover/uv-venv
UV="$UV_VENV/bin/uv"
# uv never downloads a Python build (only the machine's python3 is used), and trusts the system's
# certificate store as pip does here (its own bundled roots would refuse a TLS-inspecting proxy).
export UV_PYTHON_DOWNLOADS=never
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"

# npm warns on every call about the machine's "nodedir" user config: harmless noise.
NPM_NOISE='Unknown user config "nodedir"'
# pip warns once per package that this machine's configured local index folders do not exist.
PIP_NOISE="^WARNING: Location '.*' is ignored"
# While a step runs, a progress line every this many seconds.
HEARTBEAT_S=10

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

usage() {
  cat <<'USAGE'
usage: scripts/setup.sh [--upgrade-venvs]

Installs what is missing or changed: npm packages, the default venv (.venv), and builds (tsc).
  --upgrade-venvs   also the Airflow upgrade runbook's extra venvs, .venvs/airflow-<version>
                    (from python/airflow-<version>/); the same as CUTOVER_UPGRADE_VENVS=1
Environment:
  CUTOVER_UPGRADE_VENVS=1     as --upgrade-venvs
  CUTOVER_PY_INSTALLER=pip    install the venvs with pip instead of uv
USAGE
}

UPGRADE_VENVS=0
case ${CUTOVER_UPGRADE_VENVS:-} in
  '' | 0) ;;
  1) UPGRADE_VENVS=1 ;;
  *) die "CUTOVER_UPGRADE_VENVS must be 1 or 0 (or unset), not '$CUTOVER_UPGRADE_VENVS'" ;;
esac
case ${CUTOVER_PY_INSTALLER:-} in
  '' | uv | pip) ;;
  *) die "CUTOVER_PY_INSTALLER must be uv or pip (or unset), not '$CUTOVER_PY_INSTALLER'" ;;
esac
for arg in "$@"; do
  case $arg in
    --upgrade-venvs) UPGRADE_VENVS=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$arg' (usage: scripts/setup.sh [--upgrade-venvs])" ;;
  esac
done

# heartbeat NAME LOG T0: every HEARTBEAT_S seconds, a line with NAME, its time so far since T0 and
# the last line of LOG, so that a long install is never a silent minute. Ends with setup itself.
heartbeat() {
  local name=$1 log=$2 t0=$3 last
  # sleep's output is /dev/null so that a sleep outliving a killed heartbeat never holds a pipe
  # that reads setup's output open.
  while sleep "$HEARTBEAT_S" >/dev/null 2>&1; do
    kill -0 "$$" 2>/dev/null || exit 0
    last=$(tr -d '\r' <"$log" 2>/dev/null | grep -v -F -e "$NPM_NOISE" | grep -v -e '^[[:space:]]*$' -e "$PIP_NOISE" | tail -n 1 | cut -c 1-120) || last=''
    say "  ... $name: $(elapsed "$t0") so far${last:+ (last output: ${last#"${last%%[![:space:]]*}"})}"
  done
}

HEARTBEAT_PID=''
stop_heartbeat() {
  if [[ -n $HEARTBEAT_PID ]]; then
    kill "$HEARTBEAT_PID" 2>/dev/null || true
    wait "$HEARTBEAT_PID" 2>/dev/null || true
    HEARTBEAT_PID=''
  fi
}
trap stop_heartbeat EXIT

# try_step NAME LOG CMD... : runs CMD with its output in LOG and a heartbeat; prints NAME ok with
# its timing, or on failure the log's tail, and returns CMD's exit code.
try_step() {
  local name=$1 log=$2
  shift 2
  local t0=$EPOCHREALTIME rc=0
  : >"$log"
  heartbeat "$name" "$log" "$t0" 9>&- &
  HEARTBEAT_PID=$!
  set +e
  (
    set -euo pipefail
    "$@"
  ) >"$log" 2>&1
  rc=$?
  set -e
  stop_heartbeat
  if ((rc != 0)); then
    {
      printf 'setup: FAILED: %s (exit %d after %s). Last lines of %s:\n' "$name" "$rc" "$(elapsed "$t0")" "${log#"$ROOT"/}"
      grep -v -F "$NPM_NOISE" "$log" | tail -n 60 | sed 's/^/  | /'
    } >&2
    return "$rc"
  fi
  say "$name ok [$(elapsed "$t0")]"
}

# run_step NAME LOG CMD... : try_step, and setup exits when the step failed.
run_step() {
  local rc=0
  try_step "$@" || rc=$?
  ((rc == 0)) || exit "$rc"
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

# ---- Python venvs -----------------------------------------------------------------------------
INSTALLER='' # uv or pip, chosen by choose_installer when a venv first needs installing

uv_is_pinned() {
  local version
  version=$("$UV" --version 2>/dev/null) || return 1
  [[ $version == "uv $UV_VERSION" || $version == "uv $UV_VERSION "* ]]
}

install_uv() {
  rm -rf "$UV_VENV"
  python3 -m venv "$UV_VENV"
  "$UV_VENV/bin/python" -m pip install --disable-pip-version-check "uv==$UV_VERSION"
  uv_is_pinned || {
    echo "$UV does not report uv $UV_VERSION"
    return 1
  }
}

choose_installer() {
  [[ -z $INSTALLER ]] || return 0
  if [[ ${CUTOVER_PY_INSTALLER:-} == pip ]]; then
    INSTALLER=pip
  elif uv_is_pinned; then
    INSTALLER=uv
  elif try_step "uv $UV_VERSION (the venv installer) into $UV_VENV" "$LOG_DIR/setup-uv.log" install_uv; then
    INSTALLER=uv
  else
    say "uv could not be installed: the venvs are installed with pip instead (slower)"
    INSTALLER=pip
  fi
}

# venv_install VENV REQ CONSTRAINTS STAMP: (re)creates VENV when its python does not run, installs
# REQ under CONSTRAINTS into it, and writes STAMP into it once the install has finished.
venv_install() {
  local venv=$1 req=$2 cons=$3 stamp=$4 python
  rm -f "$venv/$STAMP_NAME"
  if [[ $INSTALLER == uv ]]; then
    if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
      python=$(python3 -c 'import sys; print(sys.executable)')
      echo "creating $venv with $python"
      # --seed: pip in the venv too, as python -m venv gives (and the pip fallback needs).
      "$UV" venv --clear --seed --python "$python" "$venv"
    fi
    # --compile-bytecode: pip compiles at install time and uv does not by default; without it each
    # process compiles what it imports, and nothing is cached when PYTHONDONTWRITEBYTECODE is set
    # (then every airflow CLI call costs seconds more). RUST_LOG: uv prints nothing while it
    # compiles (the longest phase here); its compile module's debug lines show it in the progress.
    RUST_LOG="${RUST_LOG:-uv_installer::compile=debug}" \
      "$UV" pip install --python "$venv/bin/python" --compile-bytecode -r "$req" -c "$cons"
  else
    if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
      echo "creating $venv"
      python3 -m venv --clear "$venv"
    fi
    "$venv/bin/python" -m pip install --disable-pip-version-check -r "$req" -c "$cons"
  fi
  printf '%s\n' "$stamp" >"$venv/$STAMP_NAME"
}

# ensure_venv VENV REQ CONSTRAINTS LOG: installs REQ under CONSTRAINTS into VENV unless VENV's stamp
# says that these very files are installed already.
ensure_venv() {
  local venv=$1 req=$2 cons=$3 log=$4
  [[ -f $req ]] || die "$req is missing in $ROOT"
  [[ -f $cons ]] || die "$cons is missing in $ROOT (the pinned versions of every package for $req)"
  local t0=$EPOCHREALTIME stamp why tool wanted pinned
  stamp="$(sha_of "$req") $(sha_of "$cons")"
  if [[ -x $venv/bin/python && -f $venv/$STAMP_NAME && "$(cat "$venv/$STAMP_NAME")" == "$stamp" ]]; then
    say "python venv $venv up to date, install skipped [$(elapsed "$t0")]"
    return 0
  fi
  if [[ ! -x $venv/bin/python ]]; then
    why='new venv'
  elif [[ ! -f $venv/$STAMP_NAME ]]; then
    why='no finished install recorded'
  else
    why="$req or $cons changed"
  fi
  choose_installer
  tool=$INSTALLER
  [[ $tool == pip ]] || tool="uv $UV_VERSION"
  wanted=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$req" | grep -v '^$' | paste -s -d ' ') || wanted=''
  pinned=$(grep -c '^[A-Za-z0-9]' "$cons") || pinned=0
  say "python venv $venv: installing ${wanted:-nothing} ($pinned pinned packages) with $tool ($why)"
  run_step "python venv $venv: $INSTALLER install -r $req" "$log" venv_install "$venv" "$req" "$cons" "$stamp"
}

ensure_venv "$VENV" "$REQ" "$CONSTRAINTS" "$LOG_DIR/setup-venv.log"

if ((UPGRADE_VENVS)); then
  shopt -s nullglob
  extra_dirs=(python/airflow-*/)
  shopt -u nullglob
  ((${#extra_dirs[@]} > 0)) || die "--upgrade-venvs: no python/airflow-<version>/ directory in $ROOT"
  mkdir -p "$EXTRA_VENVS_DIR"
  for dir in "${extra_dirs[@]}"; do
    name=${dir%/}
    name=${name#python/}
    ensure_venv "$EXTRA_VENVS_DIR/$name" "python/$name/requirements.txt" "python/$name/constraints.txt" "$LOG_DIR/setup-venv-$name.log"
  done
else
  say "upgrade venvs ($EXTRA_VENVS_DIR/airflow-*) not asked for, skipped (scripts/setup.sh --upgrade-venvs installs them)"
fi

# ---- build ------------------------------------------------------------------------------------
run_step "npm run build (tsc, workflow bundle)" "$LOG_DIR/setup-build.log" npm run --silent build

say "done [$(elapsed "$T_START")]"
