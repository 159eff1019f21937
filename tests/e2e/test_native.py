"""engine ecs in the sandbox: ECS's own canary, blue/green and linear deployments (emulated stage by
stage), judged by deployer at their PAUSE hooks, with real traffic through the listener rules ECS
moves; and ECS's deployment alarms rolling back with no runner left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import Traffic, refreshed, run, stack_outputs, wait_until

pytestmark = pytest.mark.e2e

NATIVE = ("nat-canary", "nat-bg", "nat-linear", "nat-alarm")


@pytest.fixture(scope="module")
def native(sandbox):
    for service in NATIVE:
        code, _, err = run(sandbox, "provision", service)
        assert code == 0, err
    return sandbox


def ready(box, service: str, count: int) -> None:
    """The service's tasks healthy in the production target group."""
    def healthy() -> int:
        outputs = stack_outputs(box, service)
        elbv2 = box.client("elbv2")
        return sum(1 for key in ("BlueTargetGroupArn", "GreenTargetGroupArn")
                   for t in elbv2.describe_target_health(TargetGroupArn=outputs[key])["TargetHealthDescriptions"]
                   if t["TargetHealth"]["State"] == "healthy")
    assert wait_until(lambda: healthy() >= count, timeout=90), f"{service} not healthy"


def deployment(box, arn: str) -> dict:
    return box.client("ecs").describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def production(box, service: str) -> dict[str, int]:
    """The production rule's weights by target group color, read from the load balancer."""
    outputs = stack_outputs(box, service)
    rule = box.client("elbv2").describe_rules(RuleArns=[outputs["ListenerArn"]])["Rules"][0]
    by_arn = {g["TargetGroupArn"]: g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]}
    return {color: by_arn[outputs[f"{color.capitalize()}TargetGroupArn"]] for color in ("blue", "green")}


def release(box, service: str, image: str, rps: float, count: int = 2):
    ready(box, service, count)
    with Traffic(box, service, rps=rps) as t:
        code, report, err = run(box, "release", service, "--image", image, "--poll", "1s", timeout=240)
    return code, report, err, t.result


def stages(report: dict) -> list[str]:
    return [e["text"].split()[2] for e in report["events"] if e["text"].startswith("ECS stage ")]


def test_good_native_canary_is_continued_through_every_stage(native):
    before = production(native, "nat-canary")
    code, report, err, sent = release(native, "nat-canary", "example/web:2", rps=60)
    assert code == 0, err
    assert report["result"] == "released"
    seen = stages(report)
    for stage in ("SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT",
                  "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME"):
        assert stage in seen, (stage, seen)
    assert seen.index("POST_TEST_TRAFFIC_SHIFT") < seen.index("PRE_PRODUCTION_TRAFFIC_SHIFT") < seen.index("BAKE_TIME")
    answers = [e["text"] for e in report["events"] if " answered at " in e["text"]]
    assert answers == ["CONTINUE answered at POST_TEST_TRAFFIC_SHIFT", "CONTINUE answered at PRE_PRODUCTION_TRAFFIC_SHIFT",
                       "CONTINUE answered at PRE_PRODUCTION_TRAFFIC_SHIFT"]
    judged = [v for v in report["verdicts"] if v["weight"] == 20]
    assert judged and judged[-1]["outcome"] == "PASS" and judged[-1]["canary"]["requests"] >= 40
    assert deployment(native, report["ecs_deployment"])["status"] == "SUCCESSFUL"
    new = "green" if before["blue"] == 100 else "blue"
    assert production(native, "nat-canary")[new] == 100
    assert sent.versions.get("2", 0) > 0


def test_native_canary_with_20_percent_5xx_is_rolled_back_by_the_judge_at_the_canary_stage(native):
    before = production(native, "nat-canary")
    code, report, err, _ = release(native, "nat-canary", "example/web:3", rps=100)
    assert code == 3, err
    assert report["result"] == "rolled_back"
    assert report["rollback_reason"].startswith(("error_rate_above_limit", "error_rate_above_baseline"))
    fail = next(v for v in report["verdicts"] if v["outcome"] == "FAIL")
    assert fail["weight"] == 20 and fail["canary"]["requests"] > 0
    assert deployment(native, report["ecs_deployment"])["status"] == "ROLLBACK_SUCCESSFUL"
    assert production(native, "nat-canary") == before
    # the proxy's own log: the production rule all on the previous target group within 1 s of the FAIL
    live = max(before, key=before.get)
    group = stack_outputs(native, "nat-canary")[f"{live.capitalize()}TargetGroupArn"].rsplit("/", 2)[-2]
    lines = (refreshed(native).directory / "proxy-events.log").read_text().splitlines()
    restored = [float(line.split(" ", 1)[0]) for line in lines
                if float(line.split(" ", 1)[0]) >= fail["at"] and "rule 1: " in line and f"{group}=100" in line]
    assert restored and restored[0] - fail["at"] < 1.0, (fail["at"], restored[:3])


def test_native_bluegreen_failing_its_test_listener_check_is_rolled_back_before_production_traffic(native):
    before = production(native, "nat-bg")
    code, report, err, sent = release(native, "nat-bg", "example/web:14", rps=30, count=1)
    assert code == 3, err
    assert report["rollback_reason"].startswith("pre_traffic_check_failed: 10/10 checks of http://")
    answers = [e["text"] for e in report["events"] if " answered at " in e["text"]]
    assert len(answers) == 1 and answers[0].startswith("ROLLBACK answered at POST_TEST_TRAFFIC_SHIFT"), answers
    assert not [e for e in report["events"] if e["text"].startswith("ECS set weights")]  # production never moved
    assert deployment(native, report["ecs_deployment"])["status"] == "ROLLBACK_SUCCESSFUL"
    assert production(native, "nat-bg") == before
    assert sent.versions.get("14", 0) == 0  # no user request reached the bad version


def test_native_linear_moves_production_in_equal_steps_each_judged(native):
    code, report, err, _ = release(native, "nat-linear", "example/web:2", rps=60, count=1)
    assert code == 0, err
    moved = [e["text"] for e in report["events"] if e["text"].startswith("ECS set weights")]
    shares = [sorted(int(part.split()[1]) for part in text.removeprefix("ECS set weights ").split(", ")) for text in moved]
    assert shares == [[50, 50], [0, 100]], moved
    assert {v["weight"] for v in report["verdicts"] if v["outcome"] == "PASS"} == {50}


def test_deployment_alarm_rolls_back_with_no_runner_left(native):
    """ECS's own safety net: the runner is killed (SIGKILL, as a lost CI agent) while the bad canary
    serves; the alarm deployer synthesized goes into ALARM and ECS rolls back by itself."""
    ready(native, "nat-alarm", 1)
    before = production(native, "nat-alarm")
    env = {**os.environ, **native.env()}
    with Traffic(native, "nat-alarm", rps=40):
        runner = subprocess.Popen([sys.executable, "-m", "deployer", "-o", "json", "release", "nat-alarm",
                                   "--image", "example/web:3", "--poll", "1s"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_until(lambda: min(production(native, "nat-alarm").values()) > 0, timeout=120), "canary never served"
        finally:
            runner.send_signal(signal.SIGKILL)
            runner.wait(timeout=10)
        ecs = native.client("ecs")
        arn = ecs.describe_services(cluster="e2e", services=["nat-alarm"])["services"][0].get("currentServiceDeployment")
        arn = arn or ecs.list_service_deployments(cluster="e2e", service="nat-alarm")["serviceDeployments"][0]["serviceDeploymentArn"]
        killed = time.monotonic()
        assert wait_until(lambda: deployment(native, arn)["status"] == "ROLLBACK_SUCCESSFUL", timeout=90)
    found = deployment(native, arn)
    assert found["alarms"]["status"] == "TRIGGERED" and found["alarms"]["triggeredAlarmNames"]
    assert production(native, "nat-alarm") == before
    alarm = found["alarms"]["triggeredAlarmNames"][0]
    state = native.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
    assert state == "ALARM"
    print(f"alarm rollback {time.monotonic() - killed:.1f}s after the runner was killed")
