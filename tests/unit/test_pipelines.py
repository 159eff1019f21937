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
TRAIN_STEP = ROOT / "pipelines" / "jenkins" / "vars" / "deployerTrain.groovy"
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
    assert {"service", "image", "train", "images", "strategy", "config", "steps", "bake-time", "max-5xx-rate",
            "max-p99-ms", "wait-minutes", "aws-region", "dry-run"} <= set(action["inputs"])
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in action["inputs"])
    assert not [name for name, spec in action["inputs"].items() if spec.get("required")], "service or train: neither is required alone"
    assert set(action["outputs"]) == {"result", "release-id", "task-definition-arn", "previous-task-definition-arn",
                                      "rollback-reason", "train-id", "halted-by", "members"}
    from deployer.reporting.github import OUTPUT_NAMES, TRAIN_OUTPUT_NAMES

    read = {name for spec in action["outputs"].values() for name in re.findall(r"steps\.release\.outputs\.([a-z0-9-]+)", spec["value"])}
    assert read == set(OUTPUT_NAMES) | set(TRAIN_OUTPUT_NAMES), "the action passes on what deployer's GitHub mode writes"
    steps = action["runs"]["steps"]
    for step in steps:
        assert "${{" not in step["run"], f"{step['name']}: inputs must reach the script through env"
    release = next(s for s in steps if s.get("id") == "release")
    assert re.search(r'^\s*exec timeout --signal=INT .* "\$DEPLOYER_BIN" ', release["run"], re.M), "deployer must get the runner's SIGINT"
    install = next(s for s in steps if s.get("id") == "install")
    assert release["env"]["DEPLOYER_BIN"] == "${{ steps.install.outputs.deployer }}" and "GITHUB_OUTPUT" in install["run"]
    used = set(re.findall(r"inputs\.([a-z0-9-]+)", yaml.safe_dump(steps)))
    assert used == set(action["inputs"]), "every input is used, each through env"


def release_script() -> str:
    return next(s for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"] if s.get("id") == "release")["run"]


def test_action_flags_exist_on_the_command_line():
    def flags_of(command) -> set[str]:
        return {opt for p in command.params for opt in getattr(p, "opts", [])}

    release = flags_of(cli.get_command(None, "release"))
    train = flags_of(cli.get_command(None, "train").get_command(None, "release"))
    for flag in re.findall(r"(--[a-z0-9-]+)", release_script()):
        if flag not in ("--signal", "--kill-after", "--preserve-status"):
            assert flag in release | train, flag
    for flag in ("--image", "--poll", "--dry-run"):  # what the train mode passes
        assert flag in train, flag


def run_action(tmp_path, **inputs) -> tuple[int, list[str], str]:
    """The action's release script under bash as the runner runs it, inputs in env, with a fake deployer
    that prints its arguments (one per line): (exit code, arguments, stdout)."""
    import os
    import subprocess

    fake = tmp_path / "deployer"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\n')
    fake.chmod(0o755)
    script = tmp_path / "release.sh"
    script.write_text(release_script())
    names = {"service": "", "image": "", "train": "", "images": "", "strategy": "", "config": "deployer.yaml", "steps": "",
             "bake-time": "", "max-5xx-rate": "", "max-p99-ms": "", "wait-minutes": "60", "aws-region": "", "dry-run": "false"}
    names.update({k.replace("_", "-"): v for k, v in inputs.items()})
    env_names = {"bake-time": "BAKE", "max-5xx-rate": "MAX_5XX_RATE", "max-p99-ms": "MAX_P99_MS", "wait-minutes": "WAIT_MINUTES",
                 "aws-region": "REGION", "dry-run": "DRY_RUN"}
    env = {"PATH": os.environ["PATH"], "DEPLOYER_BIN": str(fake)}
    env.update({f"DEPLOYER_{env_names.get(k, k.upper())}": v for k, v in names.items()})
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], env=env,
                          capture_output=True, text=True, timeout=30)
    args = [line.removeprefix("arg:") for line in proc.stdout.splitlines() if line.startswith("arg:")]
    return proc.returncode, args, proc.stdout


def test_action_releases_a_train_with_one_image_flag_per_line(tmp_path):
    code, args, _ = run_action(tmp_path, train="storefront", dry_run="true",
                               images="api=registry/api:1\r\n\n  web=registry/web:1  \nworker-web=registry/worker-web:1")
    assert code == 0
    assert args == ["train", "release", "storefront", "--image", "api=registry/api:1", "--image", "web=registry/web:1",
                    "--image", "worker-web=registry/worker-web:1", "--poll", "10s", "--dry-run"]


def test_action_still_releases_a_service(tmp_path):
    code, args, _ = run_action(tmp_path, service="web", image="registry/web:2", strategy="canary")
    assert code == 0
    assert args == ["release", "web", "--image", "registry/web:2", "--strategy", "canary", "--poll", "10s"]


@pytest.mark.parametrize("inputs,message", [
    ({"service": "web", "image": "r/web:1", "train": "storefront", "images": "web=r/web:1"}, "give either service (with image) or train (with images), not both"),
    ({}, "give service (with image) or train (with images)"),
    ({"service": "web"}, "service: image is required"),
    ({"service": "web", "image": "r/web:1", "images": "web=r/web:1"}, "images is for a train"),
    ({"train": "storefront"}, "train: images is empty"),
    ({"train": "storefront", "images": "api=r/api:1\nweb"}, "images, line 2: expected SERVICE=IMAGE"),
    ({"train": "storefront", "images": "api=r/api:1", "image": "r/web:1"}, "not image"),
    ({"train": "storefront", "images": "api=r/api:1", "strategy": "canary"}, "are for a service"),
])
def test_action_refuses_unclear_inputs_with_an_error_annotation(tmp_path, inputs, message):
    code, args, out = run_action(tmp_path, **inputs)
    assert code == 1 and args == []  # deployer never ran
    assert out.startswith("::error title=deployer action::") and message in out, out


def groovy_outcomes(step: Path = STEP) -> dict[int, str]:
    block = re.search(r"OUTCOMES = \[(.*?)\n\]", step.read_text(), re.S).group(1)
    return {int(code): result for code, result in re.findall(r"(\d+)\s*:\s*\['(\w+)'", block)}


@pytest.mark.parametrize("step", [STEP, TRAIN_STEP], ids=lambda p: p.stem)
def test_jenkins_step_maps_every_exit_code(step):
    outcomes = groovy_outcomes(step)
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
    script = re.search(r"script: '''(.*?)'''", TRAIN_STEP.read_text(), re.S).group(1)
    assert "${" not in script and "DEPLOYER_TRAIN" in script and "DEPLOYER_IMAGES" in script
    assert "\\" not in script, "a Groovy ''' string would turn a backslash escape into another character"


def test_jenkins_train_step_passes_one_image_flag_per_member(tmp_path):
    """The step's shell script under /bin/sh (what Jenkins' `sh` runs), with a fake deployer: every
    line of DEPLOYER_IMAGES becomes one --image, whatever characters the image holds."""
    import os
    import subprocess

    script = re.search(r"script: '''(.*?)'''", TRAIN_STEP.read_text(), re.S).group(1)
    (tmp_path / "deployer").write_text('#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\n')
    (tmp_path / "deployer").chmod(0o755)
    images = "api=registry/api:1\nweb=registry/web:1 *  $(touch pwned) ;x\nworker-web=registry/worker-web:1"
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "DEPLOYER_TRAIN": "storefront", "DEPLOYER_IMAGES": images,
           "DEPLOYER_CONFIG": "deployer.yaml", "DEPLOYER_REPORT": str(tmp_path / "report.json"), "DEPLOYER_POLL": "10s"}
    proc = subprocess.run(["/bin/sh", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    args = [line.removeprefix("arg:") for line in (tmp_path / "report.json").read_text().splitlines()]
    assert args == ["-o", "json", "-c", "deployer.yaml", "train", "release", "storefront", "--poll", "10s",
                    "--image", "api=registry/api:1", "--image", "web=registry/web:1 *  $(touch pwned) ;x",
                    "--image", "worker-web=registry/worker-web:1"]
    assert not (tmp_path / "pwned").exists()


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
