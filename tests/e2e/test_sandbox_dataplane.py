"""The sandbox's data plane with real task processes: ECS tasks, draining, the front door, versions.

Each test brings web's idle color up with its own image, does what the release engine does, and
puts web back as it found it (all traffic on the live color, the idle color at 0 tasks).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from deployer.sandbox.traffic import NO_VERSION
from tests.e2e.conftest import Traffic, refreshed, stack_outputs, wait_until

pytestmark = pytest.mark.e2e

DELAY = "deregistration_delay.timeout_seconds"


class Web:
    """web's listener, colors, target groups and ECS services, from its stack outputs."""

    def __init__(self, box):
        self.box = box
        self.elbv2, self.ecs = box.client("elbv2"), box.client("ecs")
        outputs = stack_outputs(box, "web")
        self.listener = outputs["ListenerArn"]
        self.cluster = outputs["ClusterName"]
        self.groups = {c: outputs[f"{c.capitalize()}TargetGroupArn"] for c in ("blue", "green")}
        self.services = {c: outputs[f"{c.capitalize()}ServiceName"] for c in ("blue", "green")}
        weights = self.weights()
        self.live = max(weights, key=weights.get)
        self.idle = "green" if self.live == "blue" else "blue"

    def weights(self) -> dict[str, int]:
        listener = self.elbv2.describe_listeners(ListenerArns=[self.listener])["Listeners"][0]
        by_arn = {g["TargetGroupArn"]: g.get("Weight", 0) for g in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
        return {c: by_arn.get(arn, 0) for c, arn in self.groups.items()}

    def set_weights(self, live: int, idle: int) -> None:
        groups = [{"TargetGroupArn": self.groups[self.live], "Weight": live}, {"TargetGroupArn": self.groups[self.idle], "Weight": idle}]
        self.elbv2.modify_listener(ListenerArn=self.listener, DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}])

    def scale_idle(self, count: int, task_definition: str | None = None) -> None:
        extra = {"taskDefinition": task_definition} if task_definition else {}
        self.ecs.update_service(cluster=self.cluster, service=self.services[self.idle], desiredCount=count, **extra)

    def running_tasks(self, color: str) -> list[dict]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=self.services[color], desiredStatus="RUNNING")["taskArns"]
        return self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"] if arns else []

    def healthy_targets(self, color: str) -> set[tuple[str, int]]:
        health = self.elbv2.describe_target_health(TargetGroupArn=self.groups[color])["TargetHealthDescriptions"]
        return {(h["Target"]["Id"], h["Target"]["Port"]) for h in health if h["TargetHealth"]["State"] == "healthy"}

    def idle_up(self, image: str, count: int = 2) -> str:
        """The idle color at `count` tasks of a new revision running `image`; every healthy target
        one of its tasks (the check the release engine makes before moving traffic to a color)."""
        service = self.ecs.describe_services(cluster=self.cluster, services=[self.services[self.idle]])["services"][0]
        current = self.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "requiresCompatibilities", "cpu", "memory")
        spec = {k: current[k] for k in keep if k in current}
        spec["containerDefinitions"] = [{**c, "image": image} for c in current["containerDefinitions"]]
        revision = self.ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]
        self.scale_idle(count, revision)

        def ready() -> bool:
            tasks = self.running_tasks(self.idle)
            if len(tasks) != count or any(t["taskDefinitionArn"] != revision or t["lastStatus"] != "RUNNING" for t in tasks):
                return False
            addresses = {(n["privateIpv4Address"], 8080) for t in tasks for c in t["containers"] for n in c["networkInterfaces"]}
            return self.healthy_targets(self.idle) == addresses

        assert wait_until(ready, timeout=60, every=0.5), (self.running_tasks(self.idle), self.healthy_targets(self.idle))
        return revision

    def restore(self) -> None:
        self.set_weights(100, 0)
        self.scale_idle(0)
        wait_until(lambda: not self.running_tasks(self.idle), timeout=30)


@pytest.fixture
def web(sandbox):
    made = Web(refreshed(sandbox))
    assert made.weights()[made.live] == 100
    try:
        yield made
    finally:
        made.restore()


def test_tasks_are_listed_with_the_addresses_of_their_targets(web):
    """AWS: ListTasks(serviceName, desiredStatus=RUNNING) + DescribeTasks give each task's ENI IP,
    which with the container port is its target in DescribeTargetHealth; a stopped task leaves the list."""
    revision = web.idle_up("example/web:9")
    tasks = web.running_tasks(web.idle)
    assert {t["startedBy"] for t in tasks} == {web.ecs.describe_services(cluster=web.cluster, services=[web.services[web.idle]])
                                                ["services"][0]["deployments"][0]["id"]}
    assert {t["group"] for t in tasks} == {f"service:{web.services[web.idle]}"} and {t["taskDefinitionArn"] for t in tasks} == {revision}
    web.scale_idle(1)
    assert wait_until(lambda: len(web.running_tasks(web.idle)) == 1, timeout=10)
    stopped = web.ecs.list_tasks(cluster=web.cluster, serviceName=web.services[web.idle], desiredStatus="STOPPED")["taskArns"]
    assert set(stopped) & {t["taskArn"] for t in tasks}


def test_no_503_when_traffic_leaves_a_color_that_is_then_scaled_down(web):
    """AWS: once ModifyListener has moved a target group's weight to 0, no new request goes to it,
    and its deregistering targets finish what they have in flight during the deregistration delay.
    So a rollback (weights back to the stable color, then the idle color scaled to 0) loses no request.

    The delay here (3 s) is longer than any request takes on 2 busy cores; as on AWS, a request still
    in flight when the delay ends is cut. Traffic goes on until the drained tasks have stopped."""
    web.idle_up("example/web:9")
    group = web.groups[web.idle]
    before = {a["Key"]: a["Value"] for a in web.elbv2.describe_target_group_attributes(TargetGroupArn=group)["Attributes"]}
    web.elbv2.modify_target_group_attributes(TargetGroupArn=group, Attributes=[{"Key": DELAY, "Value": "3"}])
    try:
        web.set_weights(50, 50)
        with Traffic(web.box, "web", rps=300, limit=20) as t:
            time.sleep(1.5)  # the proxy re-reads weights every 200 ms: both colors serve by now
            web.set_weights(100, 0)
            web.scale_idle(0)
            assert wait_until(lambda: not web.running_tasks(web.idle), timeout=15)
            time.sleep(0.5)
    finally:
        web.elbv2.modify_target_group_attributes(TargetGroupArn=group, Attributes=[{"Key": DELAY, "Value": before.get(DELAY, "300")}])
    result = t.result
    # the idle color had traffic before the shift (on 2 busy cores the generator may send far fewer than 300 rps)
    assert result.sent > 200 and result.count("9", "2xx") > 50, result.line()
    assert result.statuses.get(503, 0) == 0 and result.count(status_class="5xx") == 0, (result.line(), dict(result.statuses))
    # every answer came from a task of one color or the other; on 2 shared cores the generator
    # itself may see a rare connection error (599, class "none"), which is not the proxy's doing
    assert result.count(NO_VERSION, "none") <= result.sent // 100 and result.versions_seen() == {"9", live_version(web)}, (result.responses, dict(result.failures))


def test_front_door_reaches_the_idle_color_through_the_test_listener(web):
    """AWS: a pre-traffic check reaches the idle color at http://<ALB DNSName>:<test listener port>/health,
    here through DEPLOYER_HTTP_PROXY (the sandbox's front door), which knows the ALB's DNS name."""
    web.idle_up("example/web:9")
    lb_arn = web.elbv2.describe_listeners(ListenerArns=[web.listener])["Listeners"][0]["LoadBalancerArn"]
    dns = web.elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]["DNSName"]
    test_listener = web.elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=8080, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": web.groups[web.idle]}])["Listeners"][0]["ListenerArn"]
    try:
        proxy = refreshed(web.box).env()["DEPLOYER_HTTP_PROXY"]
        assert proxy.startswith("http://127.0.0.1:")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
        assert wait_until(lambda: get(opener, f"http://{dns}:8080/health")[0] == 200, timeout=10)
        for _ in range(10):
            status, version, body = get(opener, f"http://{dns}:8080/health")
            assert (status, version, body["version"]) == (200, "9", "9")
        status, version, _ = get(opener, f"http://{dns}:80/")
        assert status == 200 and version == live_version(web)
        assert get(opener, f"http://{dns}:8081/health")[0] == 502
    finally:
        web.elbv2.delete_listener(ListenerArn=test_listener)


def get(opener, url: str) -> tuple[int, str | None, dict]:
    try:
        with opener.open(url, timeout=5) as r:
            return r.status, r.headers.get("X-App-Version"), json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("X-App-Version"), {}
    except OSError:
        return 0, None, {}


def live_version(web: Web) -> str:
    service = web.ecs.describe_services(cluster=web.cluster, services=[web.services[web.live]])["services"][0]
    image = web.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]["containerDefinitions"][0]["image"]
    return image.rsplit(":", 1)[1]

