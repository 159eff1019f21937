"""rolling: one ECS service updated in place within minimumHealthyPercent / maximumPercent
(`release.rolling`: a preset or both percents), circuit breaker on, the rollout watched and gated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.release.strategies.base import SINGLE, Strategy

if TYPE_CHECKING:
    from deployer.release.plan import Plan


def plan_rolling(service, observed, request) -> "Plan":
    from deployer.release.plan import Plan, spec_digest  # at plan time: the spec reads this registry
    from deployer.release.steps import NEW_REVISION, DeployColor, GateLimits, RegisterTaskDefinition, WatchRollout

    current = observed.colors["main"]
    low, high = service.release.rolling.percents
    count = current.desired_count or service.desired_count
    steps = (
        RegisterTaskDefinition(current.task_definition, request.image),
        DeployColor("main", NEW_REVISION, count, low, high, service.release.circuit_breaker),
        WatchRollout("main", service.release.timeout, GateLimits.from_spec(service.release.gates)),
    )
    return Plan(service.name, request.strategy, "main", "main", steps, spec_digest(service))


STRATEGY = Strategy(
    name="rolling",
    summary="one ECS service updated in place within its healthy/maximum percents, watched and gated",
    colors=SINGLE,
    planner=plan_rolling,
    options="rolling",
)
