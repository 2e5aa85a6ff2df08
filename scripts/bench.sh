#!/usr/bin/env bash
# Builds the project, then runs every benchmark script (bench/*.ts, run as dist/bench/*.js) one
# after the other, with the venv's tools (temporal, airflow, ...) on PATH. See bench/README.md.
#
# usage: scripts/bench.sh [NAME...]
#   NAME selects benchmarks by file name without extension, e.g. `npm run bench -- orchestration-overhead`
#   or `npm run bench -- state-store-heal` (the state store heal against a plain UPDATE, ~2 min).
#   Each benchmark runs with its default arguments; for other settings run `node dist/bench/NAME.js`
#   by hand with the flags its header lists. A failing benchmark does not stop the others; the exit
#   status is non-zero if any failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

elapsed() {
  local now=$EPOCHREALTIME
  local us=$((${now//[.,]/} - ${1//[.,]/}))
  printf '%d.%01ds' $((us / 1000000)) $(((us % 1000000) / 100000))
}

# npm warns on every call about the machine's "nodedir" user config: harmless noise.
if ! npm run --silent build 2>&1 | { grep -v -F 'Unknown user config "nodedir"' || true; }; then
  echo 'bench: ERROR: the build failed' >&2
  exit 1
fi

export CUTOVER_VENV="$ROOT/.venv"
export PATH="$CUTOVER_VENV/bin:$PATH"

# Benchmarks: top-level bench/*.ts (bench/workflows/ and other folders hold their helpers).
benches=()
for src in bench/*.ts; do
  [[ -e $src ]] || continue
  name="$(basename "$src" .ts)"
  if (($# > 0)); then
    match=0
    for want in "$@"; do [[ $name == "$want" ]] && match=1; done
    ((match)) || continue
  fi
  benches+=("$name")
done
if ((${#benches[@]} == 0)); then
  echo "bench: ERROR: no benchmark matches: ${*:-(none in bench/)}" >&2
  exit 1
fi

failed=()
for name in "${benches[@]}"; do
  t0=$EPOCHREALTIME
  printf '\nbench: %s\n' "$name"
  if node --enable-source-maps "dist/bench/$name.js"; then
    printf 'bench: %s ok [%s]\n' "$name" "$(elapsed "$t0")"
  else
    printf 'bench: FAILED: %s [%s]\n' "$name" "$(elapsed "$t0")" >&2
    failed+=("$name")
  fi
done
if ((${#failed[@]} > 0)); then
  echo "bench: ${#failed[@]} failed: ${failed[*]}" >&2
  exit 1
fi
