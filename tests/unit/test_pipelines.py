"""The CI integrations: the composite action's contract, the Jenkins step's exit-code mapping,
and `deployer pipelines init` (the examples in pipelines/ are exactly what it renders)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from deployer.ci.scaffold import ACTION_REPOSITORY, canary_steps_with_approval, render, scaffold_for
from deployer.cli import cli
from deployer.errors import ExitCode
from deployer.spec import load_service

ROOT = Path(__file__).resolve().parent.parent.parent
ACTION = ROOT / "pipelines" / "github" / "action.yml"
STEP = ROOT / "pipelines" / "jenkins" / "vars" / "deployerRelease.groovy"
EXAMPLES = ROOT / "examples" / "deployer.yaml"


def test_examples_in_pipelines_are_what_init_renders():
    files = render("github", scaffold_for(load_service(EXAMPLES, "web"), "deployer.yaml", "eu-west-1", None))
    assert set(files) == {".github/workflows/deployer-release.yml", ".github/workflows/release-web.yml"}
    for rel in files:
        assert (ROOT / "pipelines/github/workflows" / Path(rel).name).read_text() == files[rel], rel
    jenkins = render("jenkins", scaffold_for(load_service(EXAMPLES, "web"), "deployer.yaml", "eu-west-1", None))
    assert (ROOT / "pipelines/jenkins/Jenkinsfile").read_text() == jenkins["Jenkinsfile"]


def test_action_inputs_outputs_and_no_expressions_in_scripts():
    action = yaml.safe_load(ACTION.read_text())
    assert {"service", "image", "strategy", "config", "steps", "bake-time", "max-5xx-rate", "max-p99-ms",
            "wait-minutes", "aws-region", "dry-run"} <= set(action["inputs"])
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in action["inputs"])
    assert set(action["outputs"]) == {"result", "release-id", "task-definition-arn", "previous-task-definition-arn",
                                      "rollback-reason"}
    steps = action["runs"]["steps"]
    for step in steps:
        assert "${{" not in step["run"], f"{step['name']}: inputs must reach the script through env"
    release = next(s for s in steps if s.get("id") == "release")
    assert re.search(r'^\s*exec timeout --signal=INT .* "\$DEPLOYER_BIN" ', release["run"], re.M), "deployer must get the runner's SIGINT"
    install = next(s for s in steps if s.get("id") == "install")
    assert release["env"]["DEPLOYER_BIN"] == "${{ steps.install.outputs.deployer }}" and "GITHUB_OUTPUT" in install["run"]
    used = set(re.findall(r"inputs\.([a-z0-9-]+)", yaml.safe_dump(steps)))
    assert used == set(action["inputs"]), "every input is used, each through env"


def test_action_flags_exist_on_the_command_line():
    release = cli.get_command(None, "release")
    flags = {opt for p in release.params for opt in getattr(p, "opts", [])}
    script = next(s for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"] if s.get("id") == "release")["run"]
    for flag in re.findall(r"(--[a-z0-9-]+)", script):
        if flag not in ("--signal", "--kill-after", "--preserve-status"):
            assert flag in flags, flag


def groovy_outcomes() -> dict[int, str]:
    block = re.search(r"OUTCOMES = \[(.*?)\n\]", STEP.read_text(), re.S).group(1)
    return {int(code): result for code, result in re.findall(r"(\d+)\s*:\s*\['(\w+)'", block)}


def test_jenkins_step_maps_every_exit_code():
    outcomes = groovy_outcomes()
    codes = {v for k, v in vars(ExitCode).items() if k.isupper()}
    assert set(outcomes) == codes, "a new exit code needs a build result"
    assert outcomes[ExitCode.OK] == "SUCCESS"
    assert outcomes[ExitCode.ROLLED_BACK] == "UNSTABLE"
    assert outcomes[ExitCode.INTERRUPTED] == "ABORTED"
    assert outcomes[ExitCode.LOCKED] == "NOT_BUILT"
    for code in (ExitCode.UNEXPECTED, ExitCode.USAGE, ExitCode.ROLLBACK_FAILED, ExitCode.TIMED_OUT):
        assert outcomes[code] == "FAILURE"


def test_jenkins_step_never_interpolates_into_the_shell():
    script = re.search(r"script: '''(.*?)'''", STEP.read_text(), re.S).group(1)
    assert "${" not in script and "DEPLOYER_SERVICE" in script


@pytest.mark.parametrize("steps,expected", [([10, 25, 50, 100], "10,25,50,pause,100"), ([100], "100"),
                                            ([10, "pause", 100], "10,pause,100")])
def test_canary_steps_pause_before_the_last(steps, expected):
    assert canary_steps_with_approval(steps) == expected


def test_init_writes_then_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    args = ["-c", str(EXAMPLES), "pipelines", "init", "--ci", "github", "web", "-d", str(tmp_path)]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    workflow = tmp_path / ".github/workflows/release-web.yml"
    assert yaml.safe_load(workflow.read_text())["jobs"]["release-production"]["with"]["strategy"] == "canary"
    # no copy of the action: the workflow uses it from deployer's repository, pinned to a commit,
    # and it installs deployer from there (a copy would have no deployer source to install)
    assert not (tmp_path / ".github/actions").exists()
    step = yaml.safe_load((tmp_path / ".github/workflows/deployer-release.yml").read_text())["jobs"]["release"]["steps"][-1]
    assert re.fullmatch(re.escape(ACTION_REPOSITORY) + r"/pipelines/github@[0-9a-f]{40}", step["uses"])
    assert runner.invoke(cli, args).exit_code == 0  # same content: nothing to refuse
    workflow.write_text("edited by hand\n")
    from deployer.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == ExitCode.USAGE and workflow.read_text() == "edited by hand\n"
    main([*args, "--force"])  # returns: exit 0
    assert workflow.read_text() != "edited by hand\n"


def test_rolling_jenkinsfile_has_no_canary_approval_branch():
    text = render("jenkins", scaffold_for(load_service(EXAMPLES, "worker-web"), "deployer.yaml", "eu-west-1", None))["Jenkinsfile"]
    assert "parallel(" not in text and "deployer promote" not in text
    assert "strategy: 'rolling'" in text and "[[" not in text and "[%" not in text


@pytest.mark.parametrize("args,needle", [
    (["pipelines", "init", "--ci", "gitlab", "web"], "Invalid value for '--ci'"),
    (["pipelines", "init", "--ci", "github", "nope"], "no service 'nope'"),
    (["release", "web", "--image", "x:1", "--max-5xx-rate", "150"], "150.0 is not in the range 0<=x<=100"),
    (["release", "web", "--image", "x:1", "--max-p99-ms", "0"], "0 is not in the range x>=1"),
])
def test_bad_ci_input_exits_2_with_a_clear_line(capsys, tmp_path, args, needle):
    from deployer.cli import main

    with pytest.raises(SystemExit) as info:
        main(["-c", str(EXAMPLES), *args, *(["-d", str(tmp_path)] if args[0] == "pipelines" else [])])
    assert info.value.code == 2
    assert needle in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_gate_limit_flags_apply_to_this_release_only():
    from deployer.cli.release_cmds import with_gate_limits

    web = load_service(EXAMPLES, "web")
    tighter = with_gate_limits(web, 1.5, 250)
    assert (tighter.release.gates.max_5xx_rate, tighter.release.gates.max_p99_ms) == (1.5, 250)
    assert tighter.release.gates.min_requests == web.release.gates.min_requests
    assert web.release.gates.max_5xx_rate != 1.5 and with_gate_limits(web, None, None) is web
