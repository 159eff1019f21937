"""Releases that outlive their runner, in the sandbox: the judge function deployed by
`deployer judge install` (its zip run as a local process for each call, as Lambda would run it),
called by ECS's AWS_LAMBDA hooks at the judged stages of a native canary released with --detach,
and by the schedule as the guard of a two-service canary whose runner was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import Traffic, run, stack_outputs, wait_until
from tests.e2e.test_native import deployment, production, ready

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def judged(sandbox):
    code, report, err = run(sandbox, "judge", "install", timeout=300)
    assert code == 0, err
    for service in ("nat-judge", "orphan", "orphan-resume"):
        code, _, err = run(sandbox, "provision", service)
        assert code == 0, err
    yield sandbox
    # the schedule calls the guard every sandbox minute: stop it for the tests that follow
    cfn = sandbox.client("cloudformation")
    cfn.delete_stack(StackName="deployer-judge")


def detached(box, service: str, image: str) -> dict:
    code, report, err = run(box, "release", service, "--image", image, "--detach", "--poll", "1s", timeout=120)
    assert code == 0, err
    assert report["result"] == "detached" and report["judge"] == "lambda" and report["ecs_deployment"], report
    return report


def test_detached_native_canary_is_judged_by_the_function_to_completion(judged):
    ready(judged, "nat-judge", 2)
    with Traffic(judged, "nat-judge", rps=60):
        started = detached(judged, "nat-judge", "example/web:2")
        code, report, err = run(judged, "wait", "nat-judge", "--release", started["release_id"], "--poll", "1s", timeout=240)
    assert code == 0, err
    assert report["result"] == "released" and report["judge"] == "lambda"
    answers = [e["text"] for e in report["events"] if " answered at " in e["text"]]
    assert answers and set(answers) == {"SUCCEEDED answered at PRE_PRODUCTION_TRAFFIC_SHIFT"}, answers  # outside the VPC: no test-listener check
    judged_at_20 = [v for v in report["verdicts"] if v["weight"] == 20]
    assert judged_at_20 and judged_at_20[-1]["outcome"] == "PASS" and judged_at_20[-1]["canary"]["requests"] >= 40
    assert deployment(judged, report["ecs_deployment"])["status"] == "SUCCESSFUL"


def test_detached_bad_canary_is_failed_by_the_function_and_wait_exits_3(judged):
    ready(judged, "nat-judge", 2)
    before = production(judged, "nat-judge")
    with Traffic(judged, "nat-judge", rps=100):
        started = detached(judged, "nat-judge", "example/web:3")
        code, report, err = run(judged, "wait", "nat-judge", "--poll", "1s", timeout=240)
    assert code == 3, err
    assert report["release_id"] == started["release_id"] and report["result"] == "rolled_back"
    assert report["rollback_reason"].startswith(("error_rate_above_limit", "error_rate_above_baseline"))
    # the function failed it: at ECS's next hook, or at the guard's read between hooks (whichever came first)
    assert any(e["text"].startswith(("FAILED answered at PRE_PRODUCTION_TRAFFIC_SHIFT", "StopServiceDeployment ROLLBACK by the guard"))
               for e in report["events"]), report["events"]
    assert deployment(judged, report["ecs_deployment"])["status"] == "ROLLBACK_SUCCESSFUL"
    assert production(judged, "nat-judge") == before


def listener_weights(box, service: str) -> dict[str, int]:
    outputs = stack_outputs(box, service)
    listener = box.client("elbv2").describe_listeners(ListenerArns=[outputs["ListenerArn"]])["Listeners"][0]
    by_arn = {g["TargetGroupArn"]: g.get("Weight", 0) for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
    return {c: by_arn.get(outputs[f"{c.capitalize()}TargetGroupArn"], 0) for c in ("blue", "green")}


def test_guard_rolls_back_a_canary_whose_runner_was_killed(judged):
    """kill -9 of the runner while a 20% 5xx canary serves 10%: the guard (the same function, on the
    schedule) rolls it back once the runner's lease has run out; no request meets a target group
    without healthy targets. Printed: seconds from the kill to all traffic on the stable color."""
    before = listener_weights(judged, "orphan")
    stable = max(before, key=before.get)
    env = {**os.environ, **judged.env()}
    with Traffic(judged, "orphan", rps=60) as t:
        runner = subprocess.Popen([sys.executable, "-m", "deployer", "release", "orphan", "--image", "example/web:3", "--poll", "1s"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_until(lambda: min(listener_weights(judged, "orphan").values()) > 0, timeout=120), "canary never served"
        finally:
            runner.send_signal(signal.SIGKILL)
            runner.wait(timeout=10)
        killed = time.monotonic()
        assert wait_until(lambda: listener_weights(judged, "orphan")[stable] == 100, timeout=120, every=0.2)
        recovered = time.monotonic() - killed
        time.sleep(1.0)
    code, report, err = run(judged, "wait", "orphan", "--timeout", "60s", "--poll", "1s")
    assert code == 3, err
    assert report["judge"] == "guard" and report["rollback_reason"].startswith("orphaned: the runner ")
    result = t.result
    assert result.statuses.get(503, 0) == 0, dict(result.statuses)  # never a target group without healthy targets
    assert result.count("3", "5xx") > 0  # the bad canary did serve before the kill
    print(f"orphan recovered {recovered:.1f}s after SIGKILL (lease 20 s, schedule every sandbox minute)")


def test_guard_resumes_a_canary_whose_runner_was_killed_when_the_spec_says_so(judged):
    """on_orphan: resume: the guard takes the release over from its recorded step and carries it to
    the end (its gates read as the runner's would), then `deployer wait` exits 0."""
    before = listener_weights(judged, "orphan-resume")
    stable = max(before, key=before.get)
    env = {**os.environ, **judged.env()}
    with Traffic(judged, "orphan-resume", rps=60):
        runner = subprocess.Popen([sys.executable, "-m", "deployer", "release", "orphan-resume", "--image", "example/web:2",
                                   "--poll", "1s"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_until(lambda: min(listener_weights(judged, "orphan-resume").values()) > 0, timeout=120), "canary never served"
        finally:
            runner.send_signal(signal.SIGKILL)
            runner.wait(timeout=10)
        code, report, err = run(judged, "wait", "orphan-resume", "--timeout", "150s", "--poll", "1s", timeout=200)
    assert code == 0, err
    assert report["result"] == "released" and report["judge"] == "guard"
    assert any(e["text"].startswith("the guard resumes it: the runner ") for e in report["events"]), report["events"]
    assert listener_weights(judged, "orphan-resume")[stable] == 0  # all traffic on the new color
    assert [v for v in report["verdicts"] if v["weight"] == 50 and v["outcome"] == "PASS"]
