#!/usr/bin/env bash
# One entry point for a fresh machine: makes .venv, installs deployer into it, then runs
#   demo  - the main job: in the sandbox, a good canary promoted, a faulty one rolled back,
#           a blue/green release over Route53 weights (about 3 minutes)
#   test  - the whole test suite (extra arguments go to pytest)
#   bench - the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${DEPLOYER_VENV:-.venv}"
PY="$VENV/bin/python"

ensure_venv() {
  if [ ! -x "$PY" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      echo "python3 -m venv failed; installing python3-venv" >&2
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$VENV"
    fi
  fi
}

install() {
  ensure_venv
  "$PY" -m pip install --quiet --disable-pip-version-check -e ".$1" 2>&1 | grep -v -i "^WARNING: Location" || true
  "$PY" -c "import deployer" # fail loudly if the install did not work
}

cmd="${1:-demo}"
shift || true
case "$cmd" in
  demo)
    install "[sandbox]"
    "$VENV/bin/deployer" -c examples/deployer.yaml validate
    exec "$VENV/bin/deployer" sandbox demo "$@"
    ;;
  test)
    install "[test]"
    exec "$PY" -m pytest "$@"
    ;;
  bench)
    install "[test]"
    for script in benchmarks/*.py; do "$PY" "$script"; done
    ;;
  *)
    echo "usage: scripts/dev.sh demo|test|bench" >&2
    exit 2
    ;;
esac
