"""In-memory stand-ins with the same methods as the real objects, for tests without AWS.

FakeTarget behaves like a service on ECS behind an ALB: a deployment makes its tasks run and
turn healthy after `start_polls` polls; traffic splits by the weights; each revision has an
error rate and a latency that the metrics reflect.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field

from deployer.aws.ecs import Rollout
from deployer.release.gates import WindowStats
from deployer.release.plan import ColorState, Observed
from deployer.release.sources import Readout
from deployer.sandbox.target_health import TargetHealth

# The test process runs moto in-process as a sandbox process does: one TargetHealth for it, which
# moto's DescribeTargetHealth reports from (tests/functional/conftest.py installs the extensions).
SANDBOX_HEALTH = TargetHealth()



class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


@dataclass
class FakeColor:
    task_definition: str
    desired: int
    running: int
    healthy: int
    state: str = "COMPLETED"
    reason: str = ""
    polls_left: int = 0
    previous: str = ""
    stale_healthy: int = 0  # healthy targets still running `previous` (a warm color being replaced)
    stale_polls: int = 0  # polls the stale targets stay healthy after the new ones are


@dataclass
class Behaviour:
    error_rate: float = 0.01
    p99_ms: float = 100.0
    crashes: bool = False  # tasks never become healthy; ECS circuit breaker trips
    breaker_rollback: bool = False  # ...and puts the previous revision back as PRIMARY
    fails_health: bool = False  # tasks run but never pass their health check (no breaker)
    p50_ms: float | None = None  # default: half the p99; equal medians and far p99s = a slow minority
    metrics: dict[str, float] = field(default_factory=dict)  # the app's own metric name -> per request (errors) or value


@dataclass
class FakeTarget:
    colors: dict[str, FakeColor]
    clock: FakeClock
    weights_now: dict[str, int] = field(default_factory=dict)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)  # by task definition
    rps: float = 500.0
    start_polls: int = 1
    drain_polls: int = 0  # polls a replaced warm color's old tasks keep serving beside the new ones
    revisions: int = 1
    test_listener: str = "green"
    calls: list = field(default_factory=list)
    fail_next: list = field(default_factory=list)  # exceptions raised by the next calls
    tokens: dict = field(default_factory=dict)  # revision -> the release id it was registered for

    def _touch(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_next:
            raise self.fail_next.pop(0)

    @classmethod
    def colors_service(cls, clock: FakeClock, live: str = "blue", count: int = 2, **kw) -> "FakeTarget":
        idle = "green" if live == "blue" else "blue"
        return cls(
            colors={live: FakeColor("web:1", count, count, count), idle: FakeColor("web:1", 0, 0, 0)},
            clock=clock, weights_now={live: 100, idle: 0}, **kw)

    @classmethod
    def rolling_service(cls, clock: FakeClock, count: int = 4, **kw) -> "FakeTarget":
        return cls(colors={"main": FakeColor("web:1", count, count, count)}, clock=clock, **kw)

    # --- the ServiceTarget interface ---
    def register(self, base: str, image: str, token: str = "") -> str:
        self._touch("register")
        self.revisions += 1
        arn = f"web:{self.revisions}"
        self.behaviour.setdefault(arn, self.behaviour.get(image, Behaviour()))
        self.tokens[arn] = token
        return arn

    def find_registered(self, base: str, token: str) -> str | None:
        self._touch("find_registered")
        return next((arn for arn, t in self.tokens.items() if t == token), None)

    def deploy(self, color, task_definition, count, min_healthy, max_percent, circuit_breaker=True) -> None:
        self._touch("deploy")
        c = self.colors[color]
        if c.task_definition == task_definition and c.desired == count and c.state == "COMPLETED":
            return
        if c.task_definition != task_definition and c.healthy:  # a warm color: its old tasks serve until replaced
            c.stale_healthy, c.stale_polls = c.healthy, self.drain_polls
        c.previous, c.task_definition, c.desired = c.task_definition, task_definition, count
        c.running = 0
        c.state, c.reason, c.polls_left = "IN_PROGRESS", "", self.start_polls
        self._settle(color)

    def _settle(self, color: str) -> None:
        c = self.colors[color]
        if c.state != "IN_PROGRESS":
            return
        if c.polls_left > 0:
            c.polls_left -= 1
            return
        behaviour = self.behaviour.get(c.task_definition, Behaviour())
        if behaviour.crashes and behaviour.breaker_rollback:
            c.task_definition, c.running, c.healthy = c.previous, 0, 0
            c.reason = "ECS deployment circuit breaker: rolling back to the previous deployment."
            return
        if behaviour.crashes:
            c.state, c.reason = "FAILED", "ECS deployment circuit breaker: tasks failed to start."
            c.running = c.healthy = 0
            return
        if behaviour.fails_health:  # new tasks run, never turn healthy; ECS keeps the old ones serving
            c.running = c.desired
            return
        c.running = c.desired
        if c.stale_healthy and c.stale_polls > 0:  # new tasks healthy, old ones not drained yet
            c.stale_polls -= 1
            c.healthy = c.desired + c.stale_healthy
            return
        c.healthy = c.desired
        c.stale_healthy = 0
        c.state = "COMPLETED"

    def scale(self, color, count) -> None:
        self._touch("scale")
        c = self.colors[color]
        c.desired = c.running = c.healthy = count
        c.stale_healthy = 0

    def rollout(self, color) -> Rollout:
        self._touch("rollout")
        self._settle(color)
        c = self.colors[color]
        return Rollout(c.task_definition, c.desired, c.running, 0, 0 if c.state != "FAILED" else 3, c.state, c.reason, 1, ())

    def healthy(self, color) -> int:
        self._touch("healthy")
        return self.colors[color].healthy

    def serving_revisions(self, color) -> dict[str, int]:
        self._touch("serving_revisions")
        c = self.colors[color]
        counts = {c.task_definition: c.healthy - c.stale_healthy, c.previous: c.stale_healthy}
        return {revision: n for revision, n in counts.items() if n}

    def weights(self) -> dict[str, int]:
        self._touch("weights")
        return dict(self.weights_now)

    def set_weights(self, weights: dict[str, int]) -> dict[str, int]:
        self._touch("set_weights")
        self.weights_now.update(weights)
        return dict(self.weights_now)

    def point_test_listener(self, color) -> None:
        self._touch("point_test_listener")
        self.test_listener = color

    def read_window(self, colors, start, end, period, checks=(), latency_ms=None) -> Readout:
        """One read (counted as "window"): the traffic of each color and the app's own metrics; an errors
        count is a share of the window's requests, any other metric a value. Latencies are log-normal
        with the behaviour's p50 and p99, so the requests slower than a threshold follow from them."""
        self._touch("window")
        traffic = {}
        for color in colors:
            c = self.colors[color]
            share = self.weights_now.get(color, 100 if color == "main" else 0) / 100
            requests = int(self.rps * max(0.0, min(end, self.clock()) - start) * share)
            b = self.behaviour.get(c.task_definition, Behaviour())
            p50 = b.p50_ms if b.p50_ms is not None else b.p99_ms / 2
            slow = {}
            if latency_ms:
                allowed, reference = (int(round(requests * share_slower(p50, b.p99_ms, ms))) for ms in latency_ms)
                slow = {"slower_than_allowed": allowed, "slower_than_reference": reference}
            traffic[color] = WindowStats(requests, int(round(requests * b.error_rate)), b.p99_ms if requests else None,
                                         p50 if requests else None, **slow)
        metrics = {}
        for check in checks:
            metrics[check.name] = {}
            for color in colors:
                per = self.behaviour.get(self.colors[color].task_definition, Behaviour()).metrics.get(check.metric)
                if per is not None and traffic[color].requests:
                    metrics[check.name][color] = (per * traffic[color].requests,) if check.kind == "errors" else (per,)
        return Readout(traffic, metrics)

    def alarms_in_alarm(self, names) -> list[str]:
        return []

    def observe(self) -> Observed:
        self._touch("observe")
        return Observed({
            color: ColorState(c.task_definition, c.desired, self.weights_now.get(color) if color != "main" else None)
            for color, c in self.colors.items()
        })


def share_slower(p50_ms: float, p99_ms: float, threshold_ms: float) -> float:
    """The share of log-normal latencies with this median and p99 that are above `threshold_ms`."""
    from statistics import NormalDist

    if p99_ms <= p50_ms:
        return 0.0 if threshold_ms >= p50_ms else 1.0
    sigma = (math.log(p99_ms) - math.log(p50_ms)) / NormalDist().inv_cdf(0.99)
    return 1 - NormalDist().cdf((math.log(threshold_ms) - math.log(p50_ms)) / sigma)


class RecordingProgress:
    def __init__(self):
        self.lines: list[str] = []
        self.verdicts: list[dict] = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    def step(self, index: int, total: int, text: str) -> None:
        self.lines.append(f"[{index}/{total}] {text}")

    def untrusted(self, text: str) -> None:
        self.lines.append(text)

    def close(self) -> None:
        pass

    def verdict(self, step: str, data: dict) -> None:
        self.verdicts.append(data)


class FakeEcsAdapter:
    """ECS at the adapter interface (moto never moves a deployment): tasks start at once, get a
    loopback address of their own and are registered in the service's target group, as ECS does."""

    def __init__(self, elbv2_client, target_groups: dict[str, str], task_definitions: dict[str, str], crashing_images=()):
        self.elbv2 = elbv2_client
        self.target_groups = target_groups  # ECS service name -> target group ARN
        self.services_state: dict[str, dict] = {}
        self.task_definitions = dict(task_definitions)  # arn -> image
        self.crashing_images = set(crashing_images)
        self.next_ip = 2
        self.calls = 0

    def create(self, name: str, task_definition: str, count: int) -> None:
        self.services_state[name] = {"td": task_definition, "desired": 0, "ips": [], "state": "COMPLETED", "reason": ""}
        self.update("demo", name, task_definition=task_definition, desired_count=count, min_healthy_percent=100, max_percent=200, circuit_breaker=True)

    def services(self, cluster, names):
        from deployer.aws.ecs import ServiceState

        self.calls += 1
        return {n: ServiceState(n, s["td"], s["desired"], len(s["ips"]), "ACTIVE") for n, s in self.services_state.items() if n in names}

    def register_with_image(self, base_arn, container, image, token=None):
        self.calls += 1
        family = base_arn.rsplit("/", 1)[-1].split(":")[0]
        revision = 1 + sum(1 for arn in self.task_definitions if arn.rsplit("/", 1)[-1].split(":")[0] == family)
        arn = f"arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{revision}"
        self.task_definitions[arn] = image
        return arn

    def update(self, cluster, service, *, task_definition, desired_count, min_healthy_percent, max_percent, circuit_breaker):
        self.calls += 1
        s = self.services_state[service]
        tg = self.target_groups[service]
        if s["ips"]:
            self.elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 8080} for ip in s["ips"]])
        s["td"], s["desired"], s["ips"] = task_definition, desired_count, []
        if self.task_definitions.get(task_definition) in self.crashing_images:
            s["state"], s["reason"] = "FAILED", "ECS deployment circuit breaker: tasks failed to start."
            return
        for _ in range(desired_count):
            s["ips"].append(f"127.0.0.{self.next_ip}")
            self.next_ip += 1
        if s["ips"]:
            self.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 8080} for ip in s["ips"]])
            for ip in s["ips"]:  # the tasks pass their health checks at once (the in-process moto shares this)
                SANDBOX_HEALTH.set(tg, ip, "healthy")
        s["state"], s["reason"] = "COMPLETED", ""

    def scale(self, cluster, service, desired_count):
        s = self.services_state[service]
        self.update(cluster, service, task_definition=s["td"], desired_count=desired_count, min_healthy_percent=100, max_percent=200, circuit_breaker=True)

    def service_tasks(self, cluster, service):
        from deployer.aws.ecs import TaskInfo

        self.calls += 1
        s = self.services_state[service]
        return [TaskInfo(f"task/{ip}", s["td"], "RUNNING", "RUNNING", ((ip, 8080),)) for ip in s["ips"]]

    def find_registered(self, family, token):
        self.calls += 1
        return None

    def rollout(self, cluster, service):
        self.calls += 1
        s = self.services_state[service]
        return Rollout(s["td"], s["desired"], len(s["ips"]), 0, 0, s["state"], s["reason"], 1, ())


class FakeCloudWatchAdapter:
    """GetMetricData at the adapter interface (moto answers p99 with HTTP 500): each target group
    serves `rps` x its listener weight, with the error rate and p99 of the image its tasks run."""

    def __init__(self, weights_of, image_of_group, clock, rps=500.0, behaviour=None):
        self.weights_of = weights_of  # () -> {target group full name: weight}
        self.image_of_group = image_of_group  # target group full name -> image
        self.clock = clock
        self.rps = rps
        self.behaviour = behaviour or {}
        self.calls = 0

    def metric_values(self, queries, start, end, period):
        """The ALB series of each target group queried (custom metrics have no data here), one call."""
        self.calls += 1
        weights = self.weights_of()
        seconds = max(0.0, min(end.timestamp(), self.clock()) - start.timestamp())
        out = {}
        for key, (namespace, metric, dimensions, stat) in queries.items():
            tg = next((d["Value"] for d in dimensions if d["Name"] == "TargetGroup"), None)
            if namespace != "AWS/ApplicationELB" or tg is None:
                out[key] = ()
                continue
            requests = self.rps * seconds * weights.get(tg, 0) / 100
            b = self.behaviour.get(self.image_of_group(tg), Behaviour())
            if stat.startswith("PR(:"):  # the percent of requests at most t seconds, log-normal latencies
                threshold_ms = float(stat[4:-1]) * 1000
                out[key] = (100 * (1 - share_slower(b.p99_ms / 2, b.p99_ms, threshold_ms)),) if requests else ()
                continue
            series = {("RequestCount", "Sum"): (requests,), ("HTTPCode_Target_5XX_Count", "Sum"): (round(requests * b.error_rate),),
                      ("TargetResponseTime", "p99"): (b.p99_ms / 1000,), ("TargetResponseTime", "p50"): (b.p99_ms / 2000,),
                      ("TargetResponseTime", "SampleCount"): (requests,)}[(metric, stat)]
            out[key] = series if requests else ()
        return out

    def alarms_in_alarm(self, names):
        return []
