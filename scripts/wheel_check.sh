#!/usr/bin/env bash
# The wheel works on its own: build it from a clean copy of the tree, install it with its
# [sandbox] extra into a fresh venv in a temp directory outside the repository, and from there run
# sandbox up, bootstrap, judge install, provision web, pipelines init (github and jenkins) and sandbox down.
# Everything the commands read (example app, images, spec, pipeline templates) must come from the
# installed package. The sandbox is always torn down; any failure fails the script.
# Called by `scripts/dev.sh test` (so by .ci/run). About a minute; DEPLOYER_PYTHON picks the Python.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
started=$SECONDS
python="${DEPLOYER_PYTHON:-python3}"  # scripts/dev.sh passes its venv's Python (it has pip)

work="$(mktemp -d "${TMPDIR:-/tmp}/deployer-wheel.XXXXXX")"
venv="$work/venv"
deployer="$venv/bin/deployer"
export DEPLOYER_SANDBOX_DIR="$work/sandbox"

cleanup() {
  local rc=$?
  if [ -x "$deployer" ]; then
    "$deployer" sandbox down >/dev/null 2>&1 || echo "wheel check: sandbox down failed" >&2
  fi
  if [ "$rc" -ne 0 ]; then
    echo "wheel check FAILED (exit $rc); sandbox log:" >&2
    tail -n 30 "$DEPLOYER_SANDBOX_DIR/daemon.out" "$DEPLOYER_SANDBOX_DIR/sandbox.log" 2>/dev/null >&2 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "wheel check: [$((SECONDS - started))s] $*" >&2; }
# A command's output is shown only when it fails.
run() { "$@" >"$work/last.log" 2>&1 || { local rc=$?; echo "wheel check: failed (exit $rc): ${*#"$venv/bin/"}" >&2; cat "$work/last.log" >&2; return "$rc"; }; }

# A clean copy (tracked and new files, not ignored ones, symlinks kept): no stale build/ or
# egg-info, and nothing written into the working tree.
step "building the wheel"
mkdir "$work/src" "$work/dist"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/src"
else
  tar --exclude=./.venv --exclude=./build --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$work/src"
fi
run "$python" -m pip wheel --no-deps --disable-pip-version-check -w "$work/dist" "$work/src"
wheel=("$work"/dist/deployer_ecs-*.whl)
[ -f "${wheel[0]}" ] || { echo "wheel check: no wheel was built" >&2; exit 1; }

# The package data is in the wheel, as files (not symlinks).
"$python" - "${wheel[0]}" <<'EOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
needed = ["deployer/resources.py", "deployer/_data/examples/app/app.py", "deployer/_data/examples/deployer.yaml",
          "deployer/_data/examples/sandbox-images.yaml", "deployer/_data/examples/hooks.yaml",
          "deployer/_data/templates/github/deployer-release.yml.j2", "deployer/_data/templates/github/release-service.yml.j2",
          "deployer/_data/templates/jenkins/Jenkinsfile.j2"]
missing = [n for n in needed if n not in names]
if missing:
    sys.exit(f"wheel check: missing from the wheel: {', '.join(missing)}")
if any("__pycache__" in n or n.endswith(".pyc") for n in names):
    sys.exit("wheel check: the wheel carries compiled files")
EOF

step "installing $(basename "${wheel[0]}")[sandbox] into a fresh venv"
run "$python" -m venv "$venv"
run "$venv/bin/python" -m pip install --no-compile --disable-pip-version-check "${wheel[0]}[sandbox]"

# From the temp directory: no repository in sight (cwd, sys.path), and the package is the wheel's.
cd "$work"
installed="$("$venv/bin/python" -c 'import deployer; print(deployer.__file__)')"
case "$installed" in
  "$venv"/*) ;;
  *) echo "wheel check: deployer imported from $installed, not from the wheel" >&2; exit 1 ;;
esac
case "$("$venv/bin/python" -c 'from deployer import resources; print(resources.data().resolve())')" in
  "$repo"/*) echo "wheel check: package data resolves into the repository" >&2; exit 1 ;;
esac

step "sandbox up"
run "$deployer" sandbox up
exports="$(grep '^export ' "$work/last.log")"
eval "$exports"
[ -n "${AWS_ENDPOINT_URL:-}" ] && [ -f "${DEPLOYER_CONFIG:-}" ] || { echo "wheel check: sandbox up printed no usable exports" >&2; exit 1; }

step "bootstrap, provision web, api, worker-web and checkout (engine ecs)"
run "$deployer" bootstrap
for service in web api worker-web checkout; do run "$deployer" provision "$service"; done

step "judge install (its zip packaged from the installed wheel; the sandbox's Lambda runs the ping)"
run "$deployer" judge install
grep -q "ping answered version" "$work/last.log" || { echo "wheel check: the judge function did not answer its ping" >&2; exit 1; }

step "release checkout --dry-run (ECS's own canary)"
run "$deployer" release checkout --image example/checkout:2 --dry-run
grep -q "start ECS's CANARY deployment" "$work/last.log" || { echo "wheel check: the engine-ecs dry run printed no plan" >&2; exit 1; }

step "train release storefront --dry-run"
run "$deployer" train release storefront --dry-run --image api=example/api:2 --image web=example/web:2 --image worker-web=example/worker-web:2
grep -q "^train storefront: 3 members in 2 wave(s)" "$work/last.log" || { echo "wheel check: the train's dry run printed no plan" >&2; exit 1; }

step "pipelines init (github, jenkins)"
run "$deployer" pipelines init --ci github web -d "$work/repo-github"
run "$deployer" pipelines init --ci jenkins web -d "$work/repo-jenkins"
for f in repo-github/.github/workflows/deployer-release.yml repo-github/.github/workflows/release-web.yml repo-jenkins/Jenkinsfile; do
  [ -s "$work/$f" ] || { echo "wheel check: pipelines init did not write $f" >&2; exit 1; }
done

step "sandbox down"
run "$deployer" sandbox down
if [ -n "$("$deployer" sandbox status | grep -v '^no sandbox is running$' || true)" ]; then
  echo "wheel check: the sandbox is still running after sandbox down" >&2; exit 1
fi

echo "wheel check: the wheel installs and runs sandbox up, bootstrap, provision, judge install, an engine-ecs and a train's dry run, pipelines init, sandbox down ($((SECONDS - started))s)"
