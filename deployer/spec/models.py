"""The service spec (`deployer.yaml`) as validated, typed, frozen objects.

All input checking lives here: everything past this module may trust the spec. The models are
msgspec Structs: their types and `Meta` bounds are checked when a mapping is converted
(`deployer.spec.loader`), scalars with rules of their own are `deployer.spec.checked` types, and
rules across fields run in `__post_init__`. msgspec builds these classes in about a millisecond,
where the same models cost 100-170 ms per process in pydantic (benchmarks/synth_floor.py).
This module never does I/O; the loader reads files and formats errors.
"""


import re
from typing import Annotated, Any, Literal, Union

from deployer.spec.lean_msgspec import msgspec

Meta, field = msgspec.Meta, msgspec.field

from deployer.spec.checked import (
    DEFAULT_SSL_POLICY,
    Image,
    RetentionDays,
    Seconds,
    ServiceName,
    SslPolicy,
    Statistic,
    StrategyName,
)
from deployer.spec.units import fargate_size_problem

# `--poll` of the release commands (not a deployer.yaml field): seconds between progress polls.
PollSeconds = Seconds.between(1, 300)

ARN = Annotated[str, Meta(pattern=r"^arn:aws[a-zA-Z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:.+$")]
KMS_KEY_ARN = Annotated[str, Meta(pattern=r"^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+$")]
SUBNET = Annotated[str, Meta(pattern=r"^subnet-[0-9a-f]+$")]
CIDR = Annotated[str, Meta(pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")]
SECURITY_GROUP = Annotated[str, Meta(pattern=r"^sg-[0-9a-f]+$")]
ENV_NAME = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]

# A canary step: a weight 1..100 or the word `pause`; one message for both (ITEM_MESSAGES).
STEP = Union[Annotated[int, Meta(ge=1, le=100)], Literal["pause"]]
ITEM_MESSAGES = {"steps": "expected a weight 1..100 or 'pause'"}  # a field -> what its items must be, in one line

# Percent presets for rolling updates (minimumHealthyPercent, maximumPercent).
ROLLING_PRESETS: dict[str, tuple[int, int]] = {
    "cheapest": (50, 100),  # no extra capacity; half the tasks replaced at a time
    "no-capacity-loss": (100, 200),  # new tasks first, then old ones drained
}


def field_error(name: str, text: str) -> ValueError:
    """A rule across fields that is about one of them: the loader shows it at that field's path."""
    return ValueError(f"[{name}] {text}")


class Model(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Strict by default: unknown fields are errors (typos must not pass silently)."""

    def replace(self, **changes):
        """A copy with these fields changed (not checked again: for values already checked)."""
        return msgspec.structs.replace(self, **changes)


class HealthCheck(Model):
    path: Annotated[str, Meta(pattern=r"^/", description="HTTP path the target group checks.")] = "/health"
    interval: Annotated[Seconds.between(5, 300), Meta(description="Seconds between checks.")] = 10
    timeout: Annotated[Seconds.between(2, 120), Meta(description="Seconds before a check counts as failed.")] = 5
    healthy_threshold: Annotated[int, Meta(ge=2, le=10)] = 2
    unhealthy_threshold: Annotated[int, Meta(ge=2, le=10)] = 3
    grace_period: Annotated[Seconds.between(0, 7200), Meta(description="ECS ignores failing checks this long after a task starts.")] = 30
    matcher: Annotated[str, Meta(pattern=r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")] = "200-399"

    def __post_init__(self) -> None:
        if self.timeout >= self.interval:
            raise ValueError(f"timeout ({self.timeout}s) must be less than interval ({self.interval}s), as ALB requires")


class Network(Model):
    vpc: Annotated[str, Meta(pattern=r"^vpc-[0-9a-f]+$")]
    subnets: Annotated[list[SUBNET], Meta(min_length=1)]
    security_groups: Annotated[list[SECURITY_GROUP], Meta(description="Extra security groups for tasks (one is always created).")] = []
    assign_public_ip: bool = False


class Listener(Model):
    port: Annotated[int, Meta(ge=1, le=65535)]
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    certificate: Annotated[ARN | None, Meta(description="ACM certificate ARN; required for HTTPS.")] = None
    ssl_policy: SslPolicy = DEFAULT_SSL_POLICY
    allowed_cidrs: Annotated[list[CIDR] | None, Meta(
        description="Test listener only: who may reach it (it serves the unreleased color); default nobody. "
        "The main listener's clients are load_balancer.allowed_cidrs.")] = None
    allowed_security_groups: Annotated[list[SECURITY_GROUP], Meta(
        description="Security groups whose members may reach this listener (e.g. a smoke-test runner).")] = []

    def __post_init__(self) -> None:
        if self.protocol == "HTTPS" and not self.certificate:
            raise ValueError("protocol HTTPS needs a certificate ARN")
        if self.protocol == "HTTP" and self.certificate:
            raise ValueError("a certificate is only used with protocol HTTPS")


class AccessLogs(Model):
    bucket: Annotated[str, Meta(
        pattern=r"^(bootstrap|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$",
        description="`bootstrap`: the encrypted, lifecycle-managed bucket `deployer bootstrap` creates; "
        "or the name of a bucket whose policy already lets ALB log delivery write.")] = "bootstrap"
    prefix: Annotated[Annotated[str, Meta(pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")] | None, Meta(
        description="Key prefix; defaults to the service name.")] = None


class SharedListenerRule(Model):
    """Attach to an existing ALB listener with a host/path rule instead of creating an ALB."""

    listener_arn: Annotated[str, Meta(pattern=r"^arn:aws[a-zA-Z-]*:elasticloadbalancing:.+:listener/app/.+$")]
    load_balancer_full_name: Annotated[str, Meta(
        pattern=r"^app/[^/]+/[0-9a-f]+$", description="`app/<name>/<id>`, for CloudWatch metric dimensions.")]
    alb_security_group: Annotated[str, Meta(pattern=r"^sg-[0-9a-f]+$", description="The shared ALB's security group.")]
    priority: Annotated[int, Meta(ge=1, le=50000)]
    hosts: list[str] = []
    paths: list[Annotated[str, Meta(pattern=r"^/")]] = []

    def __post_init__(self) -> None:
        if not self.hosts and not self.paths:
            raise ValueError("a listener rule needs at least one of hosts or paths")


class LoadBalancer(Model):
    scheme: Literal["internet-facing", "internal"] = "internet-facing"
    subnets: Annotated[list[SUBNET] | None, Meta(description="ALB subnets (two zones at least); defaults to the network's subnets.")] = None
    listener: Annotated[Listener | None, Meta(description="Create an ALB with this listener.")] = None
    test_listener: Annotated[Listener | None, Meta(description="Second listener that always reaches the idle color.")] = None
    rule: Annotated[SharedListenerRule | None, Meta(description="Use a rule on an existing listener instead.")] = None
    idle_timeout: Seconds.between(1, 4000) = 60
    allowed_cidrs: Annotated[list[CIDR], Meta(min_length=1, description="Who may reach the ALB's main listener.")] = \
        field(default_factory=lambda: ["0.0.0.0/0"])
    http_redirect_port: Annotated[Annotated[int, Meta(ge=1, le=65535)] | None, Meta(
        description="With an HTTPS listener: an HTTP listener on this port that redirects to it (null: none).")] = 80
    drop_invalid_header_fields: Annotated[bool, Meta(description="The ALB drops header fields that are not valid HTTP.")] = True
    desync_mitigation_mode: Annotated[Literal["monitor", "defensive", "strictest"], Meta(
        description="How the ALB treats requests that could desynchronise it from its targets.")] = "defensive"
    access_logs: Annotated[AccessLogs | None, Meta(description="ALB access logs to S3 (off unless set: storage costs money).")] = None

    def __post_init__(self) -> None:
        if (self.listener is None) == (self.rule is None):
            raise ValueError("set exactly one of listener (new ALB) or rule (existing shared listener)")
        if self.rule is not None and self.test_listener is not None:
            raise ValueError("test_listener needs an ALB of our own (listener), not a shared rule")
        if self.listener and self.test_listener and self.listener.port == self.test_listener.port:
            raise ValueError("test_listener.port must differ from listener.port")
        if self.subnets is not None and len(self.subnets) < 2:
            raise ValueError("an ALB needs subnets in at least two availability zones")
        ports = [x.port for x in (self.listener, self.test_listener) if x]
        if self.redirects_http and self.http_redirect_port in ports:
            raise ValueError(f"http_redirect_port {self.http_redirect_port} is taken by a listener; pick another port or null")
        if self.listener and self.listener.allowed_cidrs is not None:
            raise ValueError("the main listener's clients are load_balancer.allowed_cidrs; set allowed_cidrs there")
        if self.rule is not None and self.access_logs is not None:
            raise ValueError("access_logs are a setting of the shared ALB that owns the listener, not of a rule on it")

    @property
    def redirects_http(self) -> bool:
        """An HTTPS listener gets a plain-HTTP neighbour that only redirects to it."""
        return bool(self.listener and self.listener.protocol == "HTTPS" and self.http_redirect_port)


class Dns(Model):
    zone: Annotated[str, Meta(pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}\.?$", description="Hosted zone name, e.g. example.com.")]
    record: Annotated[str, Meta(pattern=r"^([a-z0-9*-]+\.)+[a-z]{2,}\.?$", description="Full record name, e.g. web.example.com.")]
    mode: Annotated[Literal["alias", "weighted"], Meta(
        description="alias: one A alias to the ALB. weighted: two weighted CNAMEs (DNS blue/green).")] = "alias"
    ttl: Annotated[Seconds.between(0, 86400), Meta(description="TTL of weighted records; bounds how fast a DNS rollback lands.")] = 60

    def __post_init__(self) -> None:
        zone = self.zone.rstrip(".")
        record = self.record.rstrip(".")
        if not (record == zone or record.endswith("." + zone)):
            raise ValueError(f"record {self.record} is not inside zone {self.zone}")
        if self.mode == "weighted" and record == zone:
            raise ValueError("weighted mode uses CNAME records, which cannot be at the zone apex")


class Rolling(Model):
    preset: Annotated[Literal["cheapest", "no-capacity-loss"] | None, Meta(description="cheapest = 50/100, no-capacity-loss = 100/200.")] = None
    min_healthy_percent: Annotated[int, Meta(ge=0, le=100)] | None = None
    max_percent: Annotated[int, Meta(ge=100, le=200)] | None = None

    def __post_init__(self) -> None:
        explicit = self.min_healthy_percent is not None or self.max_percent is not None
        if self.preset and explicit:
            raise ValueError("set either preset or min_healthy_percent/max_percent, not both")
        if not self.preset and (self.min_healthy_percent is None or self.max_percent is None):
            raise ValueError("set a preset, or both min_healthy_percent and max_percent")
        low, high = self.percents
        if low == 0 and high == 100:
            raise ValueError("min_healthy_percent 0 with max_percent 100 stops every task at once")

    @property
    def percents(self) -> tuple[int, int]:
        if self.preset:
            return ROLLING_PRESETS[self.preset]
        return (int(self.min_healthy_percent or 0), int(self.max_percent or 0))


METRIC_PLACEHOLDERS = ("color", "target_group", "service")


class MetricGate(Model):
    """A CloudWatch metric of the service's own (errors, latency, a business number), read for the
    canary and the baseline over the gate's window. The dimensions tell the colors apart through
    `{color}`, `{target_group}` (its full name) or `{service}` (the color's ECS service name)."""

    name: Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Shown in reports and records.")]
    namespace: Annotated[str, Meta(min_length=1, max_length=255)]
    metric: Annotated[str, Meta(min_length=1, max_length=255, description="The metric's name.")]
    dimensions: Annotated[
        dict[Annotated[str, Meta(min_length=1, max_length=255)], Annotated[str, Meta(min_length=1, max_length=1024)]],
        Meta(min_length=1, max_length=30, description="Name -> value; values may hold {color}, {target_group}, {service}."),
    ]
    kind: Annotated[Literal["errors", "latency", "value"], Meta(
        description="errors: a count, judged as a percent of the color's requests; latency: ms; value: any number.")]
    statistic: Statistic = "Sum"
    direction: Annotated[Literal["lower", "higher"], Meta(description="Which way is better (errors and latency: lower).")] = "lower"
    limit: Annotated[float | None, Meta(description="errors: percent of requests; latency: ms; value: the metric's unit.")] = None
    margin: Annotated[float, Meta(ge=0, le=10, description="The canary may be this fraction worse than the baseline (0.2 = 20%).")] | None = None

    def __post_init__(self) -> None:
        found = {p for value in self.dimensions.values() for p in re.findall(r"\{([^{}]*)\}", value)}
        unknown = sorted(found - set(METRIC_PLACEHOLDERS))
        if unknown:
            raise field_error("dimensions", f"unknown placeholder {{{unknown[0]}}}: expected {{color}}, {{target_group}} or {{service}}")
        if not found:
            raise field_error("dimensions", "the dimensions must tell the canary from the baseline: use {color}, {target_group} or {service} in a value")
        if self.limit is None and self.margin is None:
            raise ValueError("set a limit, a margin over the baseline, or both")
        if self.kind in ("errors", "latency") and self.direction != "lower":
            raise ValueError(f"a {self.kind} metric is better lower; direction higher is for kind value")
        if self.kind == "errors" and self.statistic not in ("Sum", "SampleCount"):
            raise ValueError("an errors metric is a count: statistic Sum (or SampleCount)")
        if self.kind == "errors" and self.limit is not None and not 0 <= self.limit <= 100:
            raise ValueError(f"an errors limit is a percent of requests, 0..100 (got {self.limit:g})")


class Gates(Model):
    max_5xx_rate: Annotated[float, Meta(ge=0, le=100, description="Tripwire: canary 5xx percent that fails at once.")] = 5.0
    max_p99_ms: Annotated[int, Meta(ge=1, le=600_000, description="Tripwire: canary p99 latency in ms that fails at once.")] = 1000
    margin: Annotated[float, Meta(ge=0, le=10, description="Canary p99 may exceed the baseline's by this fraction (0.2 = 20%).")] = 0.2
    p99_min_delta_ms: Annotated[int, Meta(
        ge=0, le=600_000, description="A canary p99 this close to the baseline's is noise, whatever the margin says.")] = 50
    min_requests: Annotated[int, Meta(ge=1, le=1_000_000, description="A canary never passes on fewer requests than this.")] = 100
    confidence: Annotated[float, Meta(gt=0.5, lt=1, description=(
        "1 - the error rate of each gate test (a false rollback, a missed regression); it holds however often the gate looks."))] = 0.99
    period: Annotated[Seconds.between(1, 3600), Meta(description="Metric period of one gate window.")] = 60
    max_inconclusive: Annotated[int, Meta(ge=0, le=100, description="INCONCLUSIVE windows a step may wait before giving up.")] = 5
    alarms: Annotated[list[Annotated[str, Meta(min_length=1, max_length=255)]], Meta(
        max_length=100, description="CloudWatch alarm names that fail the gate when in ALARM.")] = []
    metrics: Annotated[list[MetricGate], Meta(max_length=10, description="The service's own CloudWatch metrics, canary vs baseline.")] = []

    def __post_init__(self) -> None:
        names = [m.name for m in self.metrics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise field_error("metrics", f"metric names must be unique (twice: {', '.join(twice)})")


def _two_color_strategies() -> str:
    from deployer.release.strategies import registry

    found = [s.name for s in registry().values() if s.two_colors]
    return ", ".join(found[:-1]) + " or " + found[-1]


class Linear(Model):
    """Options of the `linear` strategy."""

    step_percent: Annotated[int, Meta(ge=1, le=100, description="Weight added at each step: 20 -> 20, 40, 60, 80, 100.")] = 20
    step_bake: Annotated[Seconds.between(0, 86400), Meta(description="Time each step serves before its gate (default: release.bake).")] | None = None


class NativeOptions(Model):
    """Options of ECS's own deployments (`release.engine: ecs`); bounds in deployer.spec.native."""

    canary_percent: Annotated[float, Meta(ge=0.1, le=100, description=(
        "canary: the share of production traffic the new revision takes first (0.1..100, steps of 0.1)."))] = 10.0
    canary_bake: Annotated[Seconds.between(0, 1440 * 60), Meta(description=(
        "canary: how long that share serves before the rest moves (whole minutes)."))] = 600
    judge_at: Annotated[Annotated[list[str], Meta(max_length=3)] | None, Meta(description=(
        "Lifecycle stages where deployer's gates decide (a PAUSE hook each): POST_TEST_TRAFFIC_SHIFT, "
        "PRE_PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT. Default: by strategy."))] = None
    hook_timeout: Annotated[Seconds.between(60, 20160 * 60), Meta(description=(
        "How long ECS waits at a judged stage for the verdict (whole minutes) before on_hook_timeout."))] = 3600
    on_hook_timeout: Annotated[Literal["rollback", "continue"], Meta(description=(
        "What ECS does when no verdict came in time (e.g. the runner was lost)."))] = "rollback"
    deployment_alarms: Annotated[bool, Meta(description=(
        "The service's alarms (alarms: and gates.alarms) roll an ECS deployment back on their own."))] = True
    test_path: Annotated[Annotated[str, Meta(pattern=r"^/[^\s]*$", max_length=1024)] | None, Meta(description=(
        "POST_TEST_TRAFFIC_SHIFT: the path requested through the test listener (default: health_check.path)."))] = None
    judge: Annotated[Literal["runner", "lambda"], Meta(description=(
        "Who decides at the judged stages: runner (deployer's process answers PAUSE hooks; it must stay up) or "
        "lambda (ECS invokes the judge function, an AWS_LAMBDA hook each, so `release --detach` can return; "
        "`deployer judge install` first)."))] = "runner"


class Release(Model):
    engine: Annotated[Literal["deployer", "ecs"], Meta(description=(
        "Who moves traffic: deployer (two ECS services, ALB or Route53 weights) or ecs (one service, "
        "ECS's own blue/green, linear and canary deployments, judged by deployer at lifecycle hooks)."))] = "deployer"
    strategy: StrategyName = "rolling"
    rolling: Rolling = field(default_factory=lambda: Rolling(preset="no-capacity-loss"))
    linear: Linear = field(default_factory=Linear)
    steps: Annotated[list[STEP], Meta(max_length=50, description="Canary weights in percent; `pause` waits for promote.")] = \
        field(default_factory=lambda: [10, 25, 50, 100])
    bake: Annotated[Seconds.between(0, 86400), Meta(description="Time each step serves before its gate is read.")] = 120
    gates: Gates = field(default_factory=Gates)
    keep_previous: Annotated[Seconds.between(0, 7 * 86400), Meta(description="How long the previous color stays warm.")] = 600
    circuit_breaker: bool = True
    timeout: Annotated[Seconds.between(60, 86400), Meta(description="Give up (exit 5) after this long.")] = 1800
    ecs: Annotated[NativeOptions | None, Meta(description="engine ecs only: ECS's canary, hooks and alarms.")] = None
    on_orphan: Annotated[Literal["rollback", "resume"], Meta(description=(
        "engine deployer: what the judge function's guard does with a release whose runner is gone (its lock's "
        "lease ran out while traffic is split or a canary serves): rollback (one weight write, read back) or "
        "resume it. Needs `deployer judge install`; without it, `deployer resume|rollback` by hand."))] = "rollback"

    def __post_init__(self) -> None:
        problem = steps_problem(self.steps)
        if problem:
            raise field_error("steps", problem)
        if self.ecs is not None and self.engine != "ecs":
            raise field_error("ecs", "these are options of ECS's own deployments; set release.engine: ecs, or remove them")

    @property
    def native(self) -> bool:
        """ECS moves the traffic (one ECS service, two target groups); deployer judges."""
        return self.engine == "ecs"

    @property
    def ecs_options(self) -> NativeOptions:
        return self.ecs or NativeOptions()

    @property
    def weights(self) -> list[int]:
        return [int(s) for s in self.steps if s != "pause"]


def steps_problem(steps: list) -> str | None:
    """What is wrong with a list of canary steps (each already a weight or `pause`), or None."""
    weights = [s for s in steps if s != "pause"]
    if not weights:
        return "steps need at least one weight, ending with 100"
    if any(b <= a for a, b in zip(weights, weights[1:])):
        return f"weights must strictly increase (got {weights})"
    if weights[-1] != 100:
        return f"the last weight must be 100 (got {weights[-1]})"
    if steps[0] == "pause":
        return "a pause must follow a weight"
    if steps[-1] == "pause":
        return "a pause after 100 waits for nothing: the release is complete at 100%; pause after an earlier weight"
    if any(a == b == "pause" for a, b in zip(steps, steps[1:])):
        return "two pauses in a row; one waits for promote"
    return None


class PlacementStrategy(Model):
    type: Literal["spread", "binpack", "random"]
    field: Annotated[str | None, Meta(description="e.g. attribute:ecs.availability-zone, instanceId, memory, cpu.")] = None

    def __post_init__(self) -> None:
        if self.type == "random" and self.field:
            raise ValueError("random placement takes no field")
        if self.type == "binpack" and self.field not in ("cpu", "memory"):
            raise ValueError("binpack field must be cpu or memory")
        if self.type == "spread" and not self.field:
            raise ValueError("spread needs a field, e.g. attribute:ecs.availability-zone")


class PlacementConstraint(Model):
    type: Literal["distinctInstance", "memberOf"]
    expression: Annotated[str | None, Meta(description="Cluster query language, e.g. attribute:ecs.instance-type =~ t3.*")] = None

    def __post_init__(self) -> None:
        if self.type == "memberOf" and not self.expression:
            raise ValueError("memberOf needs an expression")
        if self.type == "distinctInstance" and self.expression:
            raise ValueError("distinctInstance takes no expression")


class Placement(Model):
    strategies: Annotated[list[PlacementStrategy], Meta(max_length=5)] = []
    constraints: Annotated[list[PlacementConstraint], Meta(max_length=10)] = []


class Alarms(Model):
    enabled: bool = True
    target_5xx_count: Annotated[int, Meta(ge=1, le=1_000_000, description="Alarm when a target group's 5xx count per period reaches this.")] = 10
    p99_ms: Annotated[int, Meta(ge=1, le=600_000, description="Alarm when a target group's p99 response time reaches this.")] = 1000
    period: Annotated[Seconds.between(0, 86400), Meta(description="10, 30 or a multiple of 60 seconds.")] = 60
    evaluation_periods: Annotated[int, Meta(ge=1, le=10)] = 1
    datapoints_to_alarm: Annotated[int, Meta(ge=1, le=10)] = 1

    def __post_init__(self) -> None:
        if self.period not in (10, 30) and (self.period < 60 or self.period % 60):
            raise field_error("period", f"expected 10, 30 or a multiple of 60 seconds (got {self.period})")
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError("datapoints_to_alarm cannot exceed evaluation_periods")
        if self.period * self.evaluation_periods > 86400:
            raise ValueError("period x evaluation_periods must be at most one day (86400 s), as CloudWatch requires")


class Service(Model):
    name: ServiceName
    cluster: Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,255}$")]
    image: Annotated[Image, Meta(description="Initial image; releases bring new ones.")]
    network: Network
    load_balancer: LoadBalancer
    launch_type: Literal["FARGATE", "EC2"] = "FARGATE"
    cpu: Annotated[int, Meta(ge=128, le=196_608, description="CPU units (1024 = 1 vCPU); ECS allows up to 192 vCPU.")] = 256
    memory: Annotated[int, Meta(ge=128, le=1_048_576, description="MiB.")] = 512
    container_port: Annotated[int, Meta(ge=1, le=65535)] = 8080
    environment: dict[ENV_NAME, str] = {}
    secrets: Annotated[dict[ENV_NAME, ARN], Meta(description="Environment name -> Secrets Manager or SSM parameter ARN.")] = {}
    health_check: HealthCheck = field(default_factory=HealthCheck)
    desired_count: Annotated[int, Meta(ge=1, le=1000)] = 2
    dns: Dns | None = None
    release: Release = field(default_factory=Release)
    placement: Annotated[Placement | None, Meta(description="EC2 launch type only.")] = None
    deregistration_delay: Seconds.between(0, 3600) = 30
    log_retention_days: RetentionDays = 30
    kms_key: Annotated[KMS_KEY_ARN | None, Meta(
        description="KMS key that encrypts the log group (its policy must let CloudWatch Logs use it).")] = None
    readonly_root_filesystem: Annotated[bool, Meta(description="The container's root filesystem is read-only.")] = True
    scratch_paths: Annotated[list[Annotated[str, Meta(pattern=r"^/[A-Za-z0-9._/-]*$", max_length=255)]], Meta(
        max_length=10, description="Writable, empty paths for the container (e.g. /tmp), on task storage.")] = []
    alarms: Alarms = field(default_factory=Alarms)

    def __post_init__(self) -> None:
        if self.launch_type == "FARGATE":
            problem = fargate_size_problem(self.cpu, self.memory)
            if problem:
                raise ValueError(problem)
            if self.placement is not None:
                raise ValueError("placement strategies and constraints apply to the EC2 launch type only")
        strategy = self.release.strategy
        in_place = self.target_colors == ("main",)
        if self.dns and self.dns.mode == "weighted":
            if in_place:
                raise ValueError(f"dns.mode weighted switches between two colors; use strategy {_two_color_strategies()}")
            if self.load_balancer.rule is not None:
                raise ValueError("dns.mode weighted needs an ALB per color (load_balancer.listener), not a shared rule")
            if self.load_balancer.test_listener is not None:
                raise ValueError("dns.mode weighted gives each color its own ALB; test_listener is not needed")
        if in_place and self.load_balancer.test_listener is not None:
            raise ValueError(f"test_listener serves the idle color; strategy {strategy} has none")
        if self.release.native:
            from deployer.spec.native import problems

            for where, text in problems(self):
                raise field_error(where, text)

    # Derived facts the rest of the code asks about, named once here.
    @property
    def colors(self) -> tuple[str, ...]:
        """ECS services this spec owns: one for rolling or engine ecs, blue and green otherwise."""
        from deployer.release.strategies import get
        from deployer.release.strategies.base import SINGLE

        return SINGLE if self.release.native else get(self.release.strategy).colors

    @property
    def target_colors(self) -> tuple[str, ...]:
        """Target groups: one per ECS service, or ECS's production and alternate pair under engine ecs."""
        from deployer.release.strategies import get

        return get(self.release.strategy).colors

    @property
    def dns_switched(self) -> bool:
        """True when traffic moves by Route53 record weights instead of ALB weights."""
        return bool(self.dns and self.dns.mode == "weighted")

    def ecs_service_name(self, color: str) -> str:
        return self.name if color == "main" else f"{self.name}-{color}"


class Train(Model):
    """Services released together: in waves, each member with its own strategy and gates, one decision."""

    services: Annotated[list[ServiceName], Meta(max_length=200, description="The members; order them with depends_on.")] = []
    depends_on: Annotated[dict[str, list[ServiceName]], Meta(
        description="member -> the members released before it (a DAG: its levels are the waves).")] = {}
    waves: Annotated[list[Annotated[list[ServiceName], Meta(min_length=1, max_length=200)]], Meta(
        max_length=50, description="Explicit waves instead of services and depends_on.")] = []
    bake_between: Annotated[Seconds.between(0, 86400), Meta(description="Time a released wave serves before the next starts.")] = 0
    max_parallel: Annotated[int, Meta(ge=1, le=50, description="Members of one wave released at the same time.")] = 4
    on_failure: Annotated[Literal["rollback_all", "stop"], Meta(
        description="rollback_all: roll back the members already released; stop: leave them released.")] = "rollback_all"

    def __post_init__(self) -> None:
        from deployer.train.order import OrderError, check_waves, waves_of

        if self.waves and (self.services or self.depends_on):
            raise field_error("waves", "give either waves, or services with depends_on; not both")
        if not self.waves and not self.services:
            raise field_error("services", "a train needs members: services (ordered by depends_on) or waves")
        twice = sorted({s for s in self.services if self.services.count(s) > 1})
        if twice:
            raise field_error("services", f"a member is listed twice: {', '.join(twice)}")
        try:
            check_waves(self.waves) if self.waves else waves_of(list(self.services), self.depends_on)
        except OrderError as exc:
            raise field_error("waves" if self.waves else "depends_on", str(exc)) from None

    @property
    def members(self) -> list[str]:
        return [m for wave in self.waves for m in wave] if self.waves else list(self.services)

    def order(self) -> list[list[str]]:
        """The waves, in order."""
        from deployer.train.order import waves_of

        return [list(w) for w in self.waves] if self.waves else waves_of(list(self.services), self.depends_on)


class DeployerConfig(Model):
    services: Annotated[dict[str, Service], Meta(min_length=1)]
    version: Literal[1] = 1
    defaults: Annotated[dict[str, Any], Meta(description="Fields merged into every service (a service's own value wins).")] = {}
    trains: Annotated[dict[str, Train], Meta(description="Release trains: services released in order, in waves.")] = {}

    def train(self, name: str) -> Train:
        return self.trains[name]

    def service(self, name: str) -> Service:
        return self.services[name]


def convert(data: Any, model: type):
    """`data` (plain YAML values) as `model`, or msgspec.ValidationError for the first problem."""
    from deployer.spec.checked import dec_hook

    return msgspec.convert(data, model, dec_hook=dec_hook)
