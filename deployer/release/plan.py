"""The plan: what a release will do, as data. Pure: no AWS, no clock.

The plan is the whole decision: every step carries the limits, windows, timeouts and percents
it acts on, resolved from the spec and the request's overrides (each strategy in
`release/strategies` plans its own), and the record stores it. Also plans the rollback from any
point of a plan, so the executor never improvises.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from deployer.errors import InconsistentState, UsageError
from deployer.release.steps import (
    NEW_REVISION,
    DeployColor,
    GateLimits,
    PointTestListener,
    Promote,
    ScaleDown,
    ShiftTraffic,
    Step,
    WaitHealthy,
    WatchRollout,
)

if TYPE_CHECKING:
    from deployer.spec import Service


@dataclass(frozen=True)
class ColorState:
    task_definition: str
    desired_count: int
    weight: int | None = None  # None for the rolling service's only color


@dataclass(frozen=True)
class Observed:
    """What the planner needs to know about the live service."""

    colors: dict[str, ColorState]
    groups: dict[str, int] = field(default_factory=dict)  # engine ecs: production weight per target group

    def production_group(self) -> str:
        """engine ecs: the target group serving production; the other takes the new revision."""
        serving = [g for g, w in self.groups.items() if w > 0]
        if len(serving) != 1:
            split = ", ".join(f"{g} {w}" for g, w in sorted(self.groups.items()))
            raise InconsistentState(f"production traffic is split ({split}); an ECS deployment seems to be in progress",
                                    hint="`deployer status SERVICE` shows its stage; wait for it, or `deployer rollback SERVICE`")
        return serving[0]

    def live_color(self) -> str:
        """The color serving all traffic; an in-between split means a release was interrupted."""
        if list(self.colors) == ["main"]:
            return "main"
        weights = {c: s.weight or 0 for c, s in self.colors.items()}
        serving = [c for c, w in weights.items() if w > 0]
        if len(serving) != 1:
            split = ", ".join(f"{c} {w}" for c, w in sorted(weights.items()))
            raise InconsistentState(
                f"traffic is split ({split}); a release seems to be in progress or interrupted",
                hint="run `deployer resume SERVICE` (or `deployer rollback SERVICE`) first",
            )
        return serving[0]


@dataclass(frozen=True)
class ReleaseRequest:
    image: str
    strategy: str
    steps: tuple = (10, 25, 50, 100)
    bake: int = 120
    keep_previous: int = 600


PLAN_VERSION = 2  # 1: steps without their parameters (the executor read the spec)


@dataclass(frozen=True)
class Plan:
    service: str
    strategy: str
    live: str  # the color serving when the release starts
    target: str  # the color the release deploys to
    steps: tuple[Step, ...] = field(default_factory=tuple)
    spec_digest: str = ""  # of the service spec it was planned from: `resume` says when it changed since

    @property
    def in_place(self) -> bool:
        """One ECS service updated in place (rolling), rather than two colors."""
        return self.live == "main"

    def lines(self) -> list[str]:
        return [f"{i + 1:>2}. {s.describe()}" for i, s in enumerate(self.steps)]

    def to_dict(self) -> dict:
        return {"version": PLAN_VERSION, "service": self.service, "strategy": self.strategy, "live": self.live,
                "target": self.target, "spec_digest": self.spec_digest, "steps": [s.to_dict() for s in self.steps]}


def spec_digest(service: Service) -> str:
    import msgspec

    from deployer.spec.checked import enc_hook

    return hashlib.sha256(msgspec.json.encode(service, enc_hook=enc_hook)).hexdigest()[:16]


def healthy_timeout(service: Service) -> int:
    """How long new tasks may take to be healthy: three times what the health check needs, 3 min at least."""
    hc = service.health_check
    return max(180, 3 * (hc.grace_period + hc.interval * (hc.healthy_threshold + 1)))


def other(color: str) -> str:
    return {"blue": "green", "green": "blue"}[color]


def dns_ttl(service: Service) -> int | None:
    return service.dns.ttl if service.dns_switched else None


def plan_rollback(plan: Plan, done: int, previous_task_definition: str, desired_count: int) -> tuple[Step, ...]:
    """Steps that put the service back as it was, given that `done` steps of `plan` completed
    (the step at index `done` may have run partly: the rollback covers it too).

    Colors: traffic back to the live color in one call, then the idle color scaled down. That
    holds after the promotion too, while the release is unfinished: the previous color is still
    warm (nothing scales it down before the release is recorded as released).
    Rolling: the service back on the previous revision, followed to completion.
    A finished release is not rolled back here: `deployer rollback` plans a new one
    (`plan_manual_rollback`).
    """
    from deployer.release.native_plan import is_native, plan_native_rollback

    if is_native(plan):
        return plan_native_rollback(plan, done)
    if plan.in_place:
        if done == 0:
            return ()
        deploy = _first_deploy(plan)
        timeout = next((s.timeout for s in plan.steps if isinstance(s, WatchRollout)), 1800)
        return (DeployColor("main", previous_task_definition, desired_count, deploy.min_healthy_percent, deploy.max_percent,
                            deploy.circuit_breaker),
                WatchRollout("main", timeout))
    live, idle = plan.live, plan.target
    ttl = next((s.dns_ttl for s in plan.steps if isinstance(s, ShiftTraffic)), None)
    steps: list[Step] = [ShiftTraffic(((live, 100), (idle, 0)), ttl)]
    if any(isinstance(s, PointTestListener) for s in plan.steps[: done + 1]):
        steps.append(PointTestListener(idle))
    if any(isinstance(s, DeployColor) for s in plan.steps[: done + 1]):  # the idle color was (being) deployed
        steps.append(ScaleDown(idle))
    return tuple(steps)


def _first_deploy(plan: Plan) -> DeployColor:
    """The plan's first deploy (the release's own): its count, percents and circuit breaker."""
    return next((s for s in plan.steps if isinstance(s, DeployColor)), DeployColor("main", NEW_REVISION, 0))


def plan_from_dict(data: dict, service: Service | None = None) -> Plan:
    """The stored plan. A version-1 plan (steps without their parameters) is completed from
    `service`, the spec as it is now: the only case where the spec speaks into a running release."""
    from deployer.release.steps import step_from_dict

    steps = data["steps"]
    if data.get("version", 1) < 2:
        steps = [_complete_v1(s, service) for s in steps]
    return Plan(data["service"], data["strategy"], data["live"], data["target"], tuple(step_from_dict(s) for s in steps),
                data.get("spec_digest", ""))


def _complete_v1(step: dict, service: Service | None) -> dict:
    if service is None:
        raise InconsistentState("the release was planned by an older deployer: its plan needs deployer.yaml to go on")
    limits = GateLimits.from_spec(service.release.gates).__dict__
    kind = step["kind"]
    if kind in ("Gate", "Bake"):
        return {**step, "limits": limits}
    if kind == "WatchRollout":
        return {**step, "timeout": service.release.timeout, "limits": limits if step.get("gate") else None}
    if kind == "WaitHealthy":
        return {**step, "timeout": healthy_timeout(service)}
    if kind == "PreTrafficCheck":
        return {**step, "path": service.health_check.path}
    if kind == "ShiftTraffic":
        return {**step, "dns_ttl": dns_ttl(service)}
    if kind == "DeployColor":
        return {**step, "circuit_breaker": service.release.circuit_breaker}
    return step


def plan_manual_rollback(service: Service, observed: Observed, previous_revision: str, warm: bool, keep_previous: int) -> Plan:
    """`deployer rollback` after a finished release.

    Warm previous color: one traffic switch back, nothing else. Otherwise redeploy the previous
    revision (to the idle color, checked healthy, then switched; or in place for rolling).
    """
    if not previous_revision:
        raise UsageError(f"{service.name}: no previous revision is known to roll back to")
    if service.release.native:
        from deployer.release.native_plan import plan_native_manual_rollback

        return plan_native_manual_rollback(service, observed, previous_revision)
    breaker = service.release.circuit_breaker
    if list(observed.colors) == ["main"]:
        current = observed.colors["main"]
        low, high = service.release.rolling.percents
        steps = (DeployColor("main", previous_revision, current.desired_count or service.desired_count, low, high, breaker),
                 WatchRollout("main", service.release.timeout))
        return Plan(service.name, "rolling", "main", "main", steps, spec_digest(service))
    live = observed.live_color()
    previous = other(live)
    count = observed.colors[live].desired_count or service.desired_count
    switch = ShiftTraffic(((previous, 100), (live, 0)), dns_ttl(service))
    if warm:
        steps: tuple[Step, ...] = (switch, Promote(previous))
    else:
        steps = (
            DeployColor(previous, previous_revision, count, circuit_breaker=breaker),
            WaitHealthy(previous, count, healthy_timeout(service)),
            switch,
            Promote(previous),
        )
    steps = steps + (ScaleDown(live, after=keep_previous),)
    return Plan(service.name, "rollback", live, previous, steps, spec_digest(service))
