#!/usr/bin/env bash
# One entry point for a fresh machine: makes .venv, installs deployer into it, then runs
#   demo  - the main job: in the sandbox, a good canary promoted, a faulty one rolled back,
#           a blue/green release over Route53 weights (about 3 minutes)
#   test  - the whole test suite: the linters, the wheel check (scripts/wheel_check.sh), then
#           pytest (extra arguments go to pytest)
#   lint  - only the linters: pipelines (jactionlint with shellcheck, npm-groovy-lint) and the
#           template scan (checkov on the examples' templates, scripts/lint/template_scan.py)
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
  # jactionlint (actionlint's checks, plus composite actions, pinning, token permissions and checkout
  # credentials; scripts/lint/jactionlint.yaml) with shellcheck on the GitHub files, both binaries
  # from the `test` extra; npm-groovy-lint (CodeNarc, needs Java) on the Jenkins files.
  # Any finding fails: --strict-exit counts warnings and notes too.
  for tool in node:nodejs npm:npm java:default-jre-headless; do
    if ! command -v "${tool%%:*}" >/dev/null; then
      echo "${tool%%:*} not found; installing ${tool#*:}" >&2
      apt-get update -qq && apt-get install -y -qq "${tool#*:}" >/dev/null
    fi
  done
  (cd scripts/lint && npm install --silent --no-audit --no-fund --no-package-lock 2>&1 | grep -v -i "npm warn" || true)
  local bin
  bin="$(cd "$VENV/bin" && pwd)"
  local jactionlint=("$bin/jactionlint" --config-file "$PWD/scripts/lint/jactionlint.yaml" --strict-exit
                     --no-color --no-online --shellcheck="$bin/shellcheck" --pyflakes=)
  # pipelines/ holds the files rendered for the example canary service; render the other
  # strategies too, so every branch of templates/ is linted. The GitHub files are rendered into
  # repositories of their own, where the local reusable workflow resolves and its inputs are checked.
  rendered="$(mktemp -d)"
  trap 'rm -rf "$rendered"' EXIT
  "$VENV/bin/deployer" -c examples/deployer.yaml pipelines init --ci jenkins worker-web -d "$rendered/rolling" >/dev/null
  "${jactionlint[@]}" pipelines/github/action.yml pipelines/github/workflows/*.yml
  for service in web api; do
    "$VENV/bin/deployer" -c examples/deployer.yaml pipelines init --ci github "$service" -d "$rendered/$service" >/dev/null
    git init -q "$rendered/$service"
    (cd "$rendered/$service" && "${jactionlint[@]}")
  done
  echo "jactionlint $("$bin/jactionlint" --version | head -1) with $("$bin/shellcheck" --version | sed -n 's/^version: /shellcheck /p'): no findings"
  for dir in "$PWD/pipelines/jenkins" "$rendered/rolling"; do  # one folder per run: CodeNarc scans from their common root
    (cd scripts/lint && npx --no-install npm-groovy-lint --failon warning --noserver \
        --config ../../pipelines/jenkins/.groovylintrc.json "$dir" 2>&1 | grep -v -i "npm warn")
  done
}

scan_templates() {
  # checkov in a venv of its own (it pins its own boto3); the examples' templates; the findings
  # held to a budget, each explained in the template (DEPLOYER_SKIP_TEMPLATE_SCAN=1 skips it)
  [ "${DEPLOYER_SKIP_TEMPLATE_SCAN:-}" = "1" ] && return 0
  local scan_venv="${DEPLOYER_SCAN_VENV:-.venv-scan}"
  [ -x "$scan_venv/bin/python" ] || python3 -m venv "$scan_venv"
  "$scan_venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==3.3.30" 2>&1 | grep -v -i "^WARNING: Location" || true
  local out
  out="$(mktemp -d)"
  "$VENV/bin/deployer" -c examples/deployer.yaml synth -d "$out" >/dev/null
  "$PY" scripts/lint/template_scan.py "$scan_venv/bin/checkov" "$out"
  rm -rf "$out"
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
    scan_templates
    # the wheel, installed elsewhere, works (about 1.5 min; DEPLOYER_SKIP_WHEEL_CHECK=1 skips it while iterating)
    if [ "${DEPLOYER_SKIP_WHEEL_CHECK:-}" != "1" ]; then
      DEPLOYER_PYTHON="$(cd "$VENV/bin" && pwd)/python" bash scripts/wheel_check.sh
    fi
    # two workers in two lanes, the e2e tier on two sandboxes at once (tests/conftest.py)
    exec "$PY" -m pytest -n "${DEPLOYER_TEST_WORKERS:-2}" "$@"
    ;;
  lint)
    install "[test]"
    lint_pipelines
    scan_templates
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
