"""The service spec (`deployer.yaml`) as validated, typed, frozen objects.

All input checking lives here: everything past this module may trust the spec.
This module never does I/O; `deployer.spec.loader` reads files and formats errors.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from deployer.spec.units import clip, fargate_size_problem, parse_duration

Seconds = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda v: v, return_type=int),
    Field(json_schema_extra={"examples": ["30s", "2m", "1h30m", 90]}),
]

# `--poll` of the release commands (not a deployer.yaml field): seconds between progress polls.
PollSeconds = Annotated[Seconds, Field(ge=1, le=300)]

# A container image reference as Docker/ECS take it: [registry[:port]/]name[:tag][@digest].
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PORT = r"(?::[0-9]{1,5})"
# A registry has a dot or a port, or is localhost; else the first part belongs to the name.
_DOMAIN = rf"(?:localhost{_PORT}?|{_LABEL}(?:\.{_LABEL})+{_PORT}?|{_LABEL}{_PORT})"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (
    rf"^(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
IMAGE_MAX_LENGTH = 255  # ECS containerDefinitions.image
_IMAGE = re.compile(IMAGE_PATTERN)


def _image(value: str) -> str:
    if len(value) > IMAGE_MAX_LENGTH or not _IMAGE.fullmatch(value):
        why = f"{len(value)} characters" if len(value) > IMAGE_MAX_LENGTH else clip(value)
        raise ValueError(
            f"expected an image [registry[:port]/]name[:tag][@digest]: lowercase name, at most {IMAGE_MAX_LENGTH} characters, "
            f"no spaces or control characters (got {why})"
        )
    return value


Image = Annotated[
    str,
    AfterValidator(_image),
    Field(json_schema_extra={"pattern": IMAGE_PATTERN, "maxLength": IMAGE_MAX_LENGTH, "examples": ["registry.example.com:5000/team/web:1.2.3"]}),
]

ARN = Annotated[str, Field(pattern=r"^arn:aws[a-zA-Z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:.+$")]
KMS_KEY_ARN = Annotated[str, Field(pattern=r"^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+$")]
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,23}$")

# Percent presets for rolling updates (minimumHealthyPercent, maximumPercent).
ROLLING_PRESETS: dict[str, tuple[int, int]] = {
    "cheapest": (50, 100),  # no extra capacity; half the tasks replaced at a time
    "no-capacity-loss": (100, 200),  # new tasks first, then old ones drained
}

LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


class Model(BaseModel):
    """Strict by default: unknown fields are errors (typos must not pass silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN would disable a gate


class HealthCheck(Model):
    path: str = Field("/health", pattern=r"^/", description="HTTP path the target group checks.")
    interval: Seconds = Field(10, ge=5, le=300, description="Seconds between checks.")
    timeout: Seconds = Field(5, ge=2, le=120, description="Seconds before a check counts as failed.")
    healthy_threshold: int = Field(2, ge=2, le=10)
    unhealthy_threshold: int = Field(3, ge=2, le=10)
    grace_period: Seconds = Field(30, ge=0, le=7200, description="ECS ignores failing checks this long after a task starts.")
    matcher: str = Field("200-399", pattern=r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> "HealthCheck":
        if self.timeout >= self.interval:
            raise ValueError(f"timeout ({self.timeout}s) must be less than interval ({self.interval}s), as ALB requires")
        return self


class Network(Model):
    vpc: str = Field(pattern=r"^vpc-[0-9a-f]+$")
    subnets: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]+$")]] = Field(min_length=1)
    security_groups: list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]+$")]] = Field(
        default_factory=list, description="Extra security groups for tasks (one is always created)."
    )
    assign_public_ip: bool = False


CIDR = Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")]
SECURITY_GROUP = Annotated[str, Field(pattern=r"^sg-[0-9a-f]+$")]
# ALB TLS policies whose oldest protocol is TLS 1.2 (or 1.3): the TLS13 family with its restricted,
# FIPS and post-quantum variants, and the TLS 1.2-only and forward-secrecy ones.
SSL_POLICY = re.compile(r"^ELBSecurityPolicy-(TLS13-1-[23]-[A-Za-z0-9-]+|TLS-1-2-[A-Za-z0-9-]+|FS-1-2-[A-Za-z0-9-]+)$")
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def _ssl_policy(value: str) -> str:
    if not SSL_POLICY.fullmatch(value):
        raise ValueError(
            f"expected an ALB TLS policy whose oldest protocol is TLS 1.2, such as {DEFAULT_SSL_POLICY} "
            f"or ELBSecurityPolicy-TLS13-1-3-2021-06 (got {clip(value)})"
        )
    return value


class Listener(Model):
    port: int = Field(ge=1, le=65535)
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    certificate: ARN | None = Field(None, description="ACM certificate ARN; required for HTTPS.")
    ssl_policy: Annotated[str, AfterValidator(_ssl_policy)] = Field(
        DEFAULT_SSL_POLICY, description="TLS policy of an HTTPS listener (TLS 1.2 at least)."
    )
    allowed_cidrs: list[CIDR] | None = Field(
        None,
        description="Test listener only: who may reach it (it serves the unreleased color); default nobody. "
        "The main listener's clients are load_balancer.allowed_cidrs.",
    )
    allowed_security_groups: list[SECURITY_GROUP] = Field(
        default_factory=list, description="Security groups whose members may reach this listener (e.g. a smoke-test runner)."
    )

    @model_validator(mode="after")
    def _https_needs_certificate(self) -> "Listener":
        if self.protocol == "HTTPS" and not self.certificate:
            raise ValueError("protocol HTTPS needs a certificate ARN")
        if self.protocol == "HTTP" and self.certificate:
            raise ValueError("a certificate is only used with protocol HTTPS")
        return self


class AccessLogs(Model):
    bucket: str = Field(
        "bootstrap",
        pattern=r"^(bootstrap|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$",
        description="`bootstrap`: the encrypted, lifecycle-managed bucket `deployer bootstrap` creates; "
        "or the name of a bucket whose policy already lets ALB log delivery write.",
    )
    prefix: str | None = Field(
        None, pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", description="Key prefix; defaults to the service name."
    )


class SharedListenerRule(Model):
    """Attach to an existing ALB listener with a host/path rule instead of creating an ALB."""

    listener_arn: str = Field(pattern=r"^arn:aws[a-zA-Z-]*:elasticloadbalancing:.+:listener/app/.+$")
    load_balancer_full_name: str = Field(
        pattern=r"^app/[^/]+/[0-9a-f]+$", description="`app/<name>/<id>`, for CloudWatch metric dimensions."
    )
    alb_security_group: str = Field(pattern=r"^sg-[0-9a-f]+$", description="The shared ALB's security group.")
    priority: int = Field(ge=1, le=50000)
    hosts: list[str] = Field(default_factory=list)
    paths: list[Annotated[str, Field(pattern=r"^/")]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs_a_condition(self) -> "SharedListenerRule":
        if not self.hosts and not self.paths:
            raise ValueError("a listener rule needs at least one of hosts or paths")
        return self


class LoadBalancer(Model):
    scheme: Literal["internet-facing", "internal"] = "internet-facing"
    subnets: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]+$")]] | None = Field(
        None, description="ALB subnets (two zones at least); defaults to the network's subnets."
    )
    listener: Listener | None = Field(None, description="Create an ALB with this listener.")
    test_listener: Listener | None = Field(None, description="Second listener that always reaches the idle color.")
    rule: SharedListenerRule | None = Field(None, description="Use a rule on an existing listener instead.")
    idle_timeout: Seconds = Field(60, ge=1, le=4000)
    allowed_cidrs: list[CIDR] = Field(
        default_factory=lambda: ["0.0.0.0/0"], min_length=1, description="Who may reach the ALB's main listener."
    )
    http_redirect_port: int | None = Field(
        80, ge=1, le=65535, description="With an HTTPS listener: an HTTP listener on this port that redirects to it (null: none)."
    )
    drop_invalid_header_fields: bool = Field(True, description="The ALB drops header fields that are not valid HTTP.")
    desync_mitigation_mode: Literal["monitor", "defensive", "strictest"] = Field(
        "defensive", description="How the ALB treats requests that could desynchronise it from its targets."
    )
    access_logs: AccessLogs | None = Field(None, description="ALB access logs to S3 (off unless set: storage costs money).")

    @model_validator(mode="after")
    def _one_entry_point(self) -> "LoadBalancer":
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
        return self

    @property
    def redirects_http(self) -> bool:
        """An HTTPS listener gets a plain-HTTP neighbour that only redirects to it."""
        return bool(self.listener and self.listener.protocol == "HTTPS" and self.http_redirect_port)


class Dns(Model):
    zone: str = Field(pattern=r"^([a-z0-9-]+\.)+[a-z]{2,}\.?$", description="Hosted zone name, e.g. example.com.")
    record: str = Field(pattern=r"^([a-z0-9*-]+\.)+[a-z]{2,}\.?$", description="Full record name, e.g. web.example.com.")
    mode: Literal["alias", "weighted"] = Field(
        "alias", description="alias: one A alias to the ALB. weighted: two weighted CNAMEs (DNS blue/green)."
    )
    ttl: Seconds = Field(60, ge=0, le=86400, description="TTL of weighted records; bounds how fast a DNS rollback lands.")

    @model_validator(mode="after")
    def _record_in_zone(self) -> "Dns":
        zone = self.zone.rstrip(".")
        record = self.record.rstrip(".")
        if not (record == zone or record.endswith("." + zone)):
            raise ValueError(f"record {self.record} is not inside zone {self.zone}")
        if self.mode == "weighted" and record == zone:
            raise ValueError("weighted mode uses CNAME records, which cannot be at the zone apex")
        return self


class Rolling(Model):
    preset: Literal["cheapest", "no-capacity-loss"] | None = Field(
        None, description="cheapest = 50/100, no-capacity-loss = 100/200."
    )
    min_healthy_percent: int | None = Field(None, ge=0, le=100)
    max_percent: int | None = Field(None, ge=100, le=200)

    @model_validator(mode="after")
    def _preset_or_percents(self) -> "Rolling":
        explicit = self.min_healthy_percent is not None or self.max_percent is not None
        if self.preset and explicit:
            raise ValueError("set either preset or min_healthy_percent/max_percent, not both")
        if not self.preset and (self.min_healthy_percent is None or self.max_percent is None):
            raise ValueError("set a preset, or both min_healthy_percent and max_percent")
        low, high = self.percents
        if low == 0 and high == 100:
            raise ValueError("min_healthy_percent 0 with max_percent 100 stops every task at once")
        return self

    @property
    def percents(self) -> tuple[int, int]:
        if self.preset:
            return ROLLING_PRESETS[self.preset]
        return (int(self.min_healthy_percent or 0), int(self.max_percent or 0))


METRIC_PLACEHOLDERS = ("color", "target_group", "service")
STATISTIC = re.compile(r"^(SampleCount|Average|Sum|Minimum|Maximum|p(\d{1,2}(\.\d{1,2})?|100))$")


class MetricGate(Model):
    """A CloudWatch metric of the service's own (errors, latency, a business number), read for the
    canary and the baseline over the gate's window. The dimensions tell the colors apart through
    `{color}`, `{target_group}` (its full name) or `{service}` (the color's ECS service name)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Shown in reports and records.")
    namespace: str = Field(min_length=1, max_length=255)
    metric: str = Field(min_length=1, max_length=255, description="The metric's name.")
    dimensions: dict[Annotated[str, Field(min_length=1, max_length=255)], Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        min_length=1, max_length=30, description="Name -> value; values may hold {color}, {target_group}, {service}.")
    statistic: str = Field("Sum", description="SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p99.")
    kind: Literal["errors", "latency", "value"] = Field(
        description="errors: a count, judged as a percent of the color's requests; latency: ms; value: any number.")
    direction: Literal["lower", "higher"] = Field("lower", description="Which way is better (errors and latency: lower).")
    limit: float | None = Field(None, description="errors: percent of requests; latency: ms; value: the metric's unit.")
    margin: float | None = Field(None, ge=0, le=10, description="The canary may be this fraction worse than the baseline (0.2 = 20%).")

    @field_validator("statistic")
    @classmethod
    def _known_statistic(cls, value: str) -> str:
        if not STATISTIC.match(value):
            raise ValueError(f"expected SampleCount, Average, Sum, Minimum, Maximum or pNN such as p99 (got {clip(value)})")
        return value

    @field_validator("dimensions")
    @classmethod
    def _placeholders(cls, dims: dict[str, str]) -> dict[str, str]:
        found = {p for value in dims.values() for p in re.findall(r"\{([^{}]*)\}", value)}
        unknown = sorted(found - set(METRIC_PLACEHOLDERS))
        if unknown:
            raise ValueError(f"unknown placeholder {{{unknown[0]}}}: expected {{color}}, {{target_group}} or {{service}}")
        if not found:
            raise ValueError("the dimensions must tell the canary from the baseline: use {color}, {target_group} or {service} in a value")
        return dims

    @model_validator(mode="after")
    def _judgeable(self) -> "MetricGate":
        if self.limit is None and self.margin is None:
            raise ValueError("set a limit, a margin over the baseline, or both")
        if self.kind in ("errors", "latency") and self.direction != "lower":
            raise ValueError(f"a {self.kind} metric is better lower; direction higher is for kind value")
        if self.kind == "errors" and self.statistic not in ("Sum", "SampleCount"):
            raise ValueError("an errors metric is a count: statistic Sum (or SampleCount)")
        if self.kind == "errors" and self.limit is not None and not 0 <= self.limit <= 100:
            raise ValueError(f"an errors limit is a percent of requests, 0..100 (got {self.limit:g})")
        return self


class Gates(Model):
    max_5xx_rate: float = Field(5.0, ge=0, le=100, description="Tripwire: canary 5xx percent that fails at once.")
    max_p99_ms: int = Field(1000, ge=1, le=600_000, description="Tripwire: canary p99 latency in ms that fails at once.")
    margin: float = Field(
        0.2, ge=0, le=10, description="Canary p99 may exceed the baseline's by this fraction (0.2 = 20%)."
    )
    p99_min_delta_ms: int = Field(
        50, ge=0, le=600_000, description="A canary p99 this close to the baseline's is noise, whatever the margin says."
    )
    min_requests: int = Field(100, ge=1, le=1_000_000, description="Fewer canary requests than this is INCONCLUSIVE, never FAIL.")
    confidence: float = Field(0.99, gt=0.5, lt=1, description="Confidence of the two-proportion test.")
    period: Seconds = Field(60, ge=1, le=3600, description="Metric period of one gate window.")
    max_inconclusive: int = Field(5, ge=0, le=100, description="INCONCLUSIVE windows a step may wait before giving up.")
    alarms: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(default_factory=list, max_length=100, description="CloudWatch alarm names that fail the gate when in ALARM.")
    metrics: list[MetricGate] = Field(default_factory=list, max_length=10, description="The service's own CloudWatch metrics, canary vs baseline.")

    @field_validator("metrics")
    @classmethod
    def _unique_names(cls, metrics: list[MetricGate]) -> list[MetricGate]:
        names = [m.name for m in metrics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"metric names must be unique (twice: {', '.join(twice)})")
        return metrics


def _parse_step(value: Any) -> int | str:
    """A canary step is a weight 1..100 or the word `pause` (one clear error for both)."""
    if value == "pause":
        return "pause"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
        return value
    raise ValueError(f"expected a weight 1..100 or 'pause' (got {clip(value)})")


Step = Annotated[
    Union[int, str],
    BeforeValidator(_parse_step),
    Field(json_schema_extra={"examples": [10, "pause", 100]}),
]


def _registered_strategy(name: str) -> str:
    """Strategies are declared once, in the registry (release/strategies); read when a spec is
    validated, so the spec never imports the release engine at import time."""
    from deployer.release.strategies import names

    if name not in names():
        quoted = [f"'{n}'" for n in names()]
        raise ValueError(f"expected {', '.join(quoted[:-1])} or {quoted[-1]} (got {clip(name)})")
    return name


def _two_color_strategies() -> str:
    from deployer.release.strategies import registry

    found = [s.name for s in registry().values() if s.two_colors]
    return ", ".join(found[:-1]) + " or " + found[-1]


def _strategy_schema(schema: dict) -> None:
    from deployer.release.strategies import names

    schema["enum"] = list(names())


StrategyName = Annotated[str, AfterValidator(_registered_strategy), Field(json_schema_extra=_strategy_schema)]


class Linear(Model):
    """Options of the `linear` strategy."""

    step_percent: int = Field(20, ge=1, le=100, description="Weight added at each step: 20 -> 20, 40, 60, 80, 100.")
    step_bake: Seconds | None = Field(None, ge=0, le=86400, description="Time each step serves before its gate (default: release.bake).")


class Release(Model):
    strategy: StrategyName = "rolling"
    rolling: Rolling = Field(default_factory=lambda: Rolling(preset="no-capacity-loss"))
    linear: Linear = Field(default_factory=Linear)
    steps: list[Step] = Field(
        default_factory=lambda: [10, 25, 50, 100], max_length=50, description="Canary weights in percent; `pause` waits for promote."
    )
    bake: Seconds = Field(120, ge=0, le=86400, description="Time each step serves before its gate is read.")
    gates: Gates = Field(default_factory=Gates)
    keep_previous: Seconds = Field(600, ge=0, le=7 * 86400, description="How long the previous color stays warm.")
    circuit_breaker: bool = True
    timeout: Seconds = Field(1800, ge=60, le=86400, description="Give up (exit 5) after this long.")

    @field_validator("steps")
    @classmethod
    def _steps_ascend_to_100(cls, steps: list[Step]) -> list[Step]:
        weights = [s for s in steps if s != "pause"]
        if not weights:
            raise ValueError("steps need at least one weight, ending with 100")
        if any(b <= a for a, b in zip(weights, weights[1:])):
            raise ValueError(f"weights must strictly increase (got {weights})")
        if weights[-1] != 100:
            raise ValueError(f"the last weight must be 100 (got {weights[-1]})")
        if steps[0] == "pause":
            raise ValueError("a pause must follow a weight")
        if steps[-1] == "pause":
            raise ValueError("a pause after 100 waits for nothing: the release is complete at 100%; pause after an earlier weight")
        if any(a == b == "pause" for a, b in zip(steps, steps[1:])):
            raise ValueError("two pauses in a row; one waits for promote")
        return steps

    @property
    def weights(self) -> list[int]:
        return [int(s) for s in self.steps if s != "pause"]


class PlacementStrategy(Model):
    type: Literal["spread", "binpack", "random"]
    field: str | None = Field(None, description="e.g. attribute:ecs.availability-zone, instanceId, memory, cpu.")

    @model_validator(mode="after")
    def _field_rules(self) -> "PlacementStrategy":
        if self.type == "random" and self.field:
            raise ValueError("random placement takes no field")
        if self.type == "binpack" and self.field not in ("cpu", "memory"):
            raise ValueError("binpack field must be cpu or memory")
        if self.type == "spread" and not self.field:
            raise ValueError("spread needs a field, e.g. attribute:ecs.availability-zone")
        return self


class PlacementConstraint(Model):
    type: Literal["distinctInstance", "memberOf"]
    expression: str | None = Field(None, description="Cluster query language, e.g. attribute:ecs.instance-type =~ t3.*")

    @model_validator(mode="after")
    def _expression_rules(self) -> "PlacementConstraint":
        if self.type == "memberOf" and not self.expression:
            raise ValueError("memberOf needs an expression")
        if self.type == "distinctInstance" and self.expression:
            raise ValueError("distinctInstance takes no expression")
        return self


class Placement(Model):
    strategies: list[PlacementStrategy] = Field(default_factory=list, max_length=5)
    constraints: list[PlacementConstraint] = Field(default_factory=list, max_length=10)


class Alarms(Model):
    enabled: bool = True
    target_5xx_count: int = Field(10, ge=1, le=1_000_000, description="Alarm when a target group's 5xx count per period reaches this.")
    p99_ms: int = Field(1000, ge=1, le=600_000, description="Alarm when a target group's p99 response time reaches this.")
    period: Seconds = Field(60, le=86400, description="10, 30 or a multiple of 60 seconds.")
    evaluation_periods: int = Field(1, ge=1, le=10)
    datapoints_to_alarm: int = Field(1, ge=1, le=10)

    @field_validator("period")
    @classmethod
    def _cloudwatch_period(cls, period: int) -> int:
        if period not in (10, 30) and (period < 60 or period % 60):
            raise ValueError(f"expected 10, 30 or a multiple of 60 seconds (got {period})")
        return period

    @model_validator(mode="after")
    def _datapoints_fit(self) -> "Alarms":
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError("datapoints_to_alarm cannot exceed evaluation_periods")
        if self.period * self.evaluation_periods > 86400:
            raise ValueError("period x evaluation_periods must be at most one day (86400 s), as CloudWatch requires")
        return self


class Service(Model):
    name: str = Field(description="Set from the key under `services`.")
    cluster: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,255}$")
    launch_type: Literal["FARGATE", "EC2"] = "FARGATE"
    image: Image = Field(description="Initial image; releases bring new ones.")
    cpu: int = Field(256, ge=128, le=196_608, description="CPU units (1024 = 1 vCPU); ECS allows up to 192 vCPU.")
    memory: int = Field(512, ge=128, le=1_048_576, description="MiB.")
    container_port: int = Field(8080, ge=1, le=65535)
    environment: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = Field(default_factory=dict)
    secrets: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], ARN] = Field(
        default_factory=dict, description="Environment name -> Secrets Manager or SSM parameter ARN."
    )
    health_check: HealthCheck = Field(default_factory=HealthCheck)
    desired_count: int = Field(2, ge=1, le=1000)
    network: Network
    load_balancer: LoadBalancer
    dns: Dns | None = None
    release: Release = Field(default_factory=Release)
    placement: Placement | None = Field(None, description="EC2 launch type only.")
    deregistration_delay: Seconds = Field(30, ge=0, le=3600)
    log_retention_days: int = 30
    kms_key: KMS_KEY_ARN | None = Field(
        None, description="KMS key that encrypts the log group (its policy must let CloudWatch Logs use it)."
    )
    readonly_root_filesystem: bool = Field(True, description="The container's root filesystem is read-only.")
    scratch_paths: list[Annotated[str, Field(pattern=r"^/[A-Za-z0-9._/-]*$", max_length=255)]] = Field(
        default_factory=list, max_length=10, description="Writable, empty paths for the container (e.g. /tmp), on task storage."
    )
    alarms: Alarms = Field(default_factory=Alarms)

    @field_validator("name")
    @classmethod
    def _name_fits_aws_limits(cls, name: str) -> str:
        if not SERVICE_NAME.match(name):
            raise ValueError(
                "expected lowercase letters, digits and '-', starting with a letter, at most 24 characters "
                "(target group names are limited to 32)"
            )
        return name

    @field_validator("log_retention_days")
    @classmethod
    def _retention_allowed(cls, days: int) -> int:
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(f"expected one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return days

    @model_validator(mode="after")
    def _consistent(self) -> "Service":
        if self.launch_type == "FARGATE":
            problem = fargate_size_problem(self.cpu, self.memory)
            if problem:
                raise ValueError(problem)
            if self.placement is not None:
                raise ValueError("placement strategies and constraints apply to the EC2 launch type only")
        strategy = self.release.strategy
        in_place = self.colors == ("main",)
        if self.dns and self.dns.mode == "weighted":
            if in_place:
                raise ValueError(f"dns.mode weighted switches between two colors; use strategy {_two_color_strategies()}")
            if self.load_balancer.rule is not None:
                raise ValueError("dns.mode weighted needs an ALB per color (load_balancer.listener), not a shared rule")
            if self.load_balancer.test_listener is not None:
                raise ValueError("dns.mode weighted gives each color its own ALB; test_listener is not needed")
        if in_place and self.load_balancer.test_listener is not None:
            raise ValueError(f"test_listener serves the idle color; strategy {strategy} has none")
        return self

    # Derived facts the rest of the code asks about, named once here.
    @property
    def colors(self) -> tuple[str, ...]:
        """ECS services this spec owns: one for rolling, blue and green otherwise."""
        from deployer.release.strategies import get

        return get(self.release.strategy).colors

    @property
    def dns_switched(self) -> bool:
        """True when traffic moves by Route53 record weights instead of ALB weights."""
        return bool(self.dns and self.dns.mode == "weighted")

    def ecs_service_name(self, color: str) -> str:
        return self.name if color == "main" else f"{self.name}-{color}"


class DeployerConfig(Model):
    version: Literal[1] = 1
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="Fields merged into every service (a service's own value wins)."
    )
    services: dict[str, Service] = Field(min_length=1)

    def service(self, name: str) -> Service:
        return self.services[name]
