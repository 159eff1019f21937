"""Release commands from the command line: dry run, bad flags, status and history against moto."""

from __future__ import annotations

import json

import pytest

from tests.functional.test_cli import run


@pytest.fixture
def provisioned(capsys, spec_path):
    for args in (("bootstrap",), ("provision", "worker-web")):
        code, _, err = run(capsys, "-c", str(spec_path), *args)
        assert code == 0, err
    return str(spec_path)


def test_dry_run_prints_plan_and_estimate(capsys, provisioned):
    code, out, err = run(capsys, "-c", provisioned, "release", "worker-web", "--image", "example/worker-web:2", "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "plan for worker-web (rolling, main -> main):"
    assert lines[1].startswith(" 1. register a revision of worker-web:1 with image example/worker-web:2")
    assert lines[2] == " 2. deploy <new revision> to main x4 (50/100, circuit breaker)"
    assert lines[3] == (" 3. follow the main rollout, at most 30m00s, gated: 5xx < 5%, p99 < 1000 ms and within +20% of the baseline, "
                        "100+ requests per 1m00s window, 99% confidence, up to 5 inconclusive")
    assert any(line.startswith("estimated duration:") for line in lines)
    assert any("maximumPercent 100 < 200" in line for line in lines)


def test_dry_run_shows_the_limits_given_on_the_command_line(capsys, provisioned):
    code, out, err = run(capsys, "-c", provisioned, "release", "worker-web", "--image", "w:2", "--dry-run",
                         "--max-5xx-rate", "1", "--max-p99-ms", "250")
    assert code == 0, err
    assert "gated: 5xx < 1%, p99 < 250 ms and within +20% of the baseline" in out


def test_dry_run_json(capsys, provisioned):
    code, out, _ = run(capsys, "-c", provisioned, "-o", "json", "release", "worker-web", "--image", "w:2", "--dry-run")
    data = json.loads(out)
    assert code == 0 and data["result"] == "noop" and data["plan"]["strategy"] == "rolling"
    assert [s["kind"] for s in data["plan"]["steps"]] == ["RegisterTaskDefinition", "DeployColor", "WatchRollout"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("--steps", "10,200,100"), "--steps 10,200,100: expected a weight 1..100 or 'pause' (got 200)"),
        (("--steps", "50,10,100"), "--steps 50,10,100: weights must strictly increase (got [50, 10, 100])"),
        (("--bake", "forever"), "--bake forever: expected a duration such as 30s, 2m or 1h30m (got 'forever')"),
        (("--strategy", "canary"), "worker-web has one ECS service (strategy rolling in deployer.yaml); canary needs blue and green"),
    ],
)
def test_bad_release_flags_exit_2_with_one_line(capsys, provisioned, args, message):
    code, out, err = run(capsys, "-c", provisioned, "release", "worker-web", "--image", "w:2", *args)
    assert code == 2 and out == ""
    assert err.splitlines()[0] == f"error: {message}"


def test_release_needs_bootstrap(capsys, spec_path):
    code, _, err = run(capsys, "-c", str(spec_path), "release", "worker-web", "--image", "w:2")
    assert code == 2
    assert err.splitlines() == ["error: no release records table (stack deployer-bootstrap)", "hint: run `deployer bootstrap` once per account and region"]


def test_release_needs_image(capsys, provisioned):
    code, _, err = run(capsys, "-c", provisioned, "release", "worker-web")
    assert code == 2 and "Missing option '--image'" in err


def test_status_and_empty_history(capsys, provisioned):
    code, out, err = run(capsys, "-c", provisioned, "status", "worker-web")
    assert code == 0, err
    assert out.splitlines()[0] == "worker-web:" and "main: worker-web:1 x4" in out
    code, out, _ = run(capsys, "-c", provisioned, "history", "worker-web")
    assert code == 0 and out.strip() == "worker-web: no releases yet"
    code, _, err = run(capsys, "-c", provisioned, "promote", "worker-web")
    assert code == 2 and err.strip() == "error: worker-web: no running release to promote"
    code, _, err = run(capsys, "-c", provisioned, "resume", "worker-web")
    assert code == 2 and err.strip() == "error: worker-web: no unfinished release to resume"


@pytest.mark.parametrize(
    "args,message",
    [
        (("--strategy", "bluegreen"), "checkout: ECS runs its canary deployments (release.engine: ecs); "
                                      "--strategy bluegreen cannot change that for one release"),
        (("--steps", "50,100"), "checkout: --steps: ECS runs this deployment with the settings of its stack (release.engine: ecs)"),
    ],
)
def test_engine_ecs_release_refuses_flags_ecs_does_not_take(capsys, spec_path, args, message):
    for setup in (("bootstrap",), ("provision", "checkout")):
        code, _, err = run(capsys, "-c", str(spec_path), *setup)
        assert code == 0, err
    code, out, err = run(capsys, "-c", str(spec_path), "release", "checkout", "--image", "example/checkout:2", *args)
    assert code == 2 and out == ""
    assert err.splitlines()[0] == f"error: {message}"
    assert err.splitlines()[1] == "hint: change release in deployer.yaml and run `deployer provision checkout`"
    code, out, err = run(capsys, "-c", str(spec_path), "-o", "json", "release", "checkout", "--image", "example/checkout:2", "--dry-run")
    plan = json.loads(out)["plan"]
    assert code == 0 and [s["kind"] for s in plan["steps"]] == ["RegisterTaskDefinition", "StartEcsDeployment", "FollowEcsDeployment"]
    assert (plan["live"], plan["target"]) == ("blue", "green")


@pytest.mark.parametrize(
    "service,message",
    [
        ("worker-web", "--detach: worker-web's releases are run by deployer's own engine, which needs its runner"),
        ("checkout", "--detach: checkout's judged stages are PAUSE hooks answered by the runner (release.ecs.judge: runner)"),
    ],
)
def test_detach_is_refused_where_a_runner_must_judge(capsys, provisioned, service, message):
    code, out, err = run(capsys, "-c", provisioned, "release", service, "--image", "example/x:2", "--detach")
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith(f"error: {message}") and err.splitlines()[1].startswith("hint: set release.")


def test_wait_says_what_it_needs(capsys, provisioned):
    code, _, err = run(capsys, "-c", provisioned, "wait", "worker-web", "--until", "HALFWAY")
    assert code == 2 and err.splitlines()[0].startswith("error: --until HALFWAY: expected one of ECS's lifecycle stages (RECONCILE_SERVICE,")
    code, _, err = run(capsys, "-c", provisioned, "wait", "worker-web", "--timeout", "soon")
    assert code == 2 and err.splitlines()[0].startswith("error: --timeout soon: expected a duration")
    code, _, err = run(capsys, "-c", provisioned, "wait", "worker-web")
    assert code == 2 and err.strip() == "error: worker-web: no release yet"
