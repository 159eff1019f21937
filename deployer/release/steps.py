"""A release is data: the steps a plan is made of. Frozen, printable, serialisable.

Each step is idempotent: the executor can run it again after a crash without harm, and each
carries every parameter it acts on (a gate its limits and window, a wait its timeout, a deploy
its percents), so a stored plan is the whole decision: `resume` never reads deployer.yaml again.
`NEW_REVISION` stands for the task definition registered by the plan's first step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from deployer.release.gates import Thresholds
from deployer.release.metric_verdict import MetricCheck
from deployer.spec.units import format_duration

NEW_REVISION = "<new revision>"


@dataclass(frozen=True)
class GateLimits:
    """What a gate judges by: the spec's `release.gates` (with `release`'s overrides), resolved at planning."""

    max_5xx_rate: float  # percent
    max_p99_ms: float
    margin: float
    p99_min_delta_ms: float
    min_requests: int
    confidence: float
    period: int  # seconds of one window
    max_inconclusive: int
    alarms: tuple[str, ...] = ()
    metrics: tuple[MetricCheck, ...] = ()  # the service's own CloudWatch metrics

    @classmethod
    def from_spec(cls, gates) -> "GateLimits":
        return cls(float(gates.max_5xx_rate), float(gates.max_p99_ms), float(gates.margin), float(gates.p99_min_delta_ms),
                   int(gates.min_requests), float(gates.confidence), int(gates.period), int(gates.max_inconclusive),
                   tuple(gates.alarms), tuple(MetricCheck.from_spec(m) for m in getattr(gates, "metrics", ())))

    @classmethod
    def from_dict(cls, data: dict) -> "GateLimits":
        return cls(**{**data, "alarms": tuple(data.get("alarms") or ()),
                      "metrics": tuple(MetricCheck.from_dict(m) for m in data.get("metrics") or ())})

    def thresholds(self) -> Thresholds:
        """The verdict's inputs (its tests are anytime-valid: a step may look as often as it polls)."""
        return Thresholds(self.max_5xx_rate, self.max_p99_ms, self.margin, self.min_requests, self.confidence,
                          self.p99_min_delta_ms)

    def describe(self) -> str:
        alarms = f", alarms {', '.join(self.alarms)}" if self.alarms else ""
        alarms += "".join(f", {m.describe()}" for m in self.metrics)
        return (f"5xx < {self.max_5xx_rate:g}%, p99 < {self.max_p99_ms:g} ms and within +{self.margin:.0%} of the baseline, "
                f"{self.min_requests}+ requests per {format_duration(self.period)} window, {self.confidence:.0%} confidence, "
                f"up to {self.max_inconclusive} inconclusive{alarms}")


@dataclass(frozen=True)
class Step:
    @property
    def kind(self) -> str:
        return type(self).__name__

    def describe(self) -> str:
        return self.kind

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class RegisterTaskDefinition(Step):
    from_task_definition: str
    image: str

    def describe(self) -> str:
        return f"register a revision of {short(self.from_task_definition)} with image {self.image}"


@dataclass(frozen=True)
class DeployColor(Step):
    """Point a color's ECS service at a revision with a desired count (0 scales it down)."""

    color: str
    task_definition: str
    desired_count: int
    min_healthy_percent: int = 100
    max_percent: int = 200
    circuit_breaker: bool = True

    def describe(self) -> str:
        breaker = ", circuit breaker" if self.circuit_breaker else ""
        return f"deploy {short(self.task_definition)} to {self.color} x{self.desired_count} ({self.min_healthy_percent}/{self.max_percent}{breaker})"


@dataclass(frozen=True)
class WaitHealthy(Step):
    """Until the color runs `count` tasks of its revision and as many targets are healthy."""

    color: str
    count: int
    timeout: int = 180

    def describe(self) -> str:
        return f"wait for {self.count} healthy {self.color} target(s), at most {format_duration(self.timeout)}"


@dataclass(frozen=True)
class WatchRollout(Step):
    """Follow a rolling ECS deployment to COMPLETED or FAILED, gating on the way if `gate`."""

    color: str
    timeout: int = 1800
    limits: GateLimits | None = None  # gate on the way (a release); None for a rollback

    def describe(self) -> str:
        gate = f", gated: {self.limits.describe()}" if self.limits else ""
        return f"follow the {self.color} rollout, at most {format_duration(self.timeout)}{gate}"


@dataclass(frozen=True)
class PointTestListener(Step):
    color: str

    def describe(self) -> str:
        return f"point the test listener at {self.color}"


@dataclass(frozen=True)
class PreTrafficCheck(Step):
    """HTTP checks through the test listener before any user traffic reaches the color."""

    color: str
    requests: int = 10
    path: str = "/health"

    def describe(self) -> str:
        return f"check {self.color} through the test listener ({self.requests} requests to {self.path})"


@dataclass(frozen=True)
class ShiftTraffic(Step):
    weights: tuple[tuple[str, int], ...]
    dns_ttl: int | None = None  # traffic moves by DNS: clients follow within this TTL

    def as_dict(self) -> dict[str, int]:
        return dict(self.weights)

    def describe(self) -> str:
        ttl = f" (DNS, TTL {format_duration(self.dns_ttl)})" if self.dns_ttl is not None else ""
        return "shift traffic: " + ", ".join(f"{c} {w}%" for c, w in self.weights) + ttl


@dataclass(frozen=True)
class Bake(Step):
    """Serve for `seconds`, failing fast when the gate's limits are already broken."""

    seconds: int
    limits: GateLimits | None = None

    def describe(self) -> str:
        return f"bake {format_duration(self.seconds)}"


@dataclass(frozen=True)
class Gate(Step):
    canary: str
    baseline: str | None
    weight: int
    limits: GateLimits

    def describe(self) -> str:
        against = f"against {self.baseline}" if self.baseline else "against absolute limits"
        return f"gate {self.canary} at {self.weight}% {against}: {self.limits.describe()}"


@dataclass(frozen=True)
class Pause(Step):
    """Wait for `deployer promote` (or `abort`)."""

    weight: int

    def describe(self) -> str:
        return f"pause at {self.weight}% until promoted"


@dataclass(frozen=True)
class Promote(Step):
    live: str

    def describe(self) -> str:
        return f"promote {self.live} to live"


@dataclass(frozen=True)
class ScaleDown(Step):
    """Scale a color to zero, once `after` seconds have passed since the step began."""

    color: str
    after: int = 0

    def describe(self) -> str:
        return f"scale {self.color} down" + (f" after {format_duration(self.after)} warm" if self.after else "")


@dataclass(frozen=True)
class StartEcsDeployment(Step):
    """engine ecs: UpdateService with the new revision; ECS starts its own deployment of it."""

    task_definition: str
    strategy: str  # ECS's name (CANARY, LINEAR, BLUE_GREEN, ROLLING), for people

    def describe(self) -> str:
        return f"start ECS's {self.strategy} deployment of {short(self.task_definition)}"


@dataclass(frozen=True)
class FollowEcsDeployment(Step):
    """engine ecs: follow ECS's deployment stage by stage. At each judged stage ECS pauses (a PAUSE
    hook) until deployer's verdict answers CONTINUE or ROLLBACK; while the new revision serves
    between them, a failing gate stops the deployment with ROLLBACK."""

    canary: str  # the target group the new revision registers in
    baseline: str  # the one serving production when the release began
    judge_at: tuple[str, ...]
    limits: GateLimits | None  # None: a rollback's deployment, continued at every hook without judging
    probe_requests: int = 10  # POST_TEST_TRAFFIC_SHIFT: checks through the test listener
    probe_path: str = "/health"
    timeout: int = 1800
    judge: str = "runner"  # lambda: ECS's hooks call the judge function; the runner hands the deployment over

    def describe(self) -> str:
        judged = ", ".join(self.judge_at) or "no stage (ECS's alarms only)"
        if self.judge == "lambda" and self.limits is not None:
            return f"hand ECS's deployment ({self.canary} target group) to the judge function, judging at {judged}"
        if self.limits is None:
            return f"follow ECS's deployment ({self.canary} target group), continuing at every hook, at most {format_duration(self.timeout)}"
        return f"follow ECS's deployment ({self.canary} target group), judging at {judged}, at most {format_duration(self.timeout)}"


@dataclass(frozen=True)
class RollBackEcsDeployment(Step):
    """engine ecs: ECS's own rollback of its deployment (StopServiceDeployment ROLLBACK), followed
    until the old revision has all the traffic."""

    timeout: int = 600

    def describe(self) -> str:
        return f"ECS rolls its deployment back, at most {format_duration(self.timeout)}"


STEP_TYPES: dict[str, type[Step]] = {
    cls.__name__: cls
    for cls in (RegisterTaskDefinition, DeployColor, WaitHealthy, WatchRollout, PointTestListener, PreTrafficCheck,
                ShiftTraffic, Bake, Gate, Pause, Promote, ScaleDown, StartEcsDeployment, FollowEcsDeployment,
                RollBackEcsDeployment)
}


def step_from_dict(data: dict) -> Step:
    cls = STEP_TYPES[data["kind"]]
    values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
    if cls is ShiftTraffic:
        values["weights"] = tuple((c, int(w)) for c, w in values["weights"])
    if cls is FollowEcsDeployment:
        values["judge_at"] = tuple(values["judge_at"])
    if values.get("limits") is not None:
        values["limits"] = GateLimits.from_dict(values["limits"])
    return cls(**values)


def short(task_definition: str) -> str:
    """`arn:...:task-definition/web:7` -> `web:7`."""
    return task_definition.rsplit("/", 1)[-1]
