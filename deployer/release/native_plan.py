"""The plan of a release whose deployment ECS runs itself (`release.engine: ecs`). Pure.

Three steps: register the revision, start ECS's deployment of it, follow it (judging at the
stages the spec names). Its rollback is ECS's own (StopServiceDeployment ROLLBACK), so the
executor never moves traffic behind ECS's back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.release.plan import Plan, other, spec_digest
from deployer.release.steps import (
    NEW_REVISION,
    FollowEcsDeployment,
    GateLimits,
    RegisterTaskDefinition,
    RollBackEcsDeployment,
    StartEcsDeployment,
    Step,
)
from deployer.spec.native import ECS_STRATEGY, judge_at

if TYPE_CHECKING:
    from deployer.release.plan import Observed, ReleaseRequest
    from deployer.spec import Service

PRE_TRAFFIC_REQUESTS = 10


def plan_native(service: "Service", observed: "Observed", request: "ReleaseRequest") -> Plan:
    current = observed.colors["main"]
    if service.target_colors == ("main",):  # ECS's rolling update: one target group
        live = target = "main"
    else:
        live = observed.production_group()
        target = other(live)
    steps: tuple[Step, ...] = (
        RegisterTaskDefinition(current.task_definition, request.image),
        StartEcsDeployment(NEW_REVISION, ECS_STRATEGY[service.release.strategy]),
        FollowEcsDeployment(target, live, judge_at(service), GateLimits.from_spec(service.release.gates),
                            PRE_TRAFFIC_REQUESTS, service.release.ecs_options.test_path or service.health_check.path,
                            follow_timeout(service), service.release.ecs_options.judge),
    )
    return Plan(service.name, service.release.strategy, live, target, steps, spec_digest(service))


def follow_timeout(service: "Service") -> int:
    """`release.timeout` beyond the time ECS itself bakes: a long bake is a setting, not a hang."""
    from deployer.spec.native import linear_steps

    release = service.release
    bakes = release.bake
    if release.strategy == "canary":
        bakes += release.ecs_options.canary_bake
    if release.strategy == "linear":
        step_bake = release.linear.step_bake if release.linear.step_bake is not None else release.bake
        bakes += step_bake * linear_steps(release.linear.step_percent)
    return release.timeout + bakes


def plan_native_manual_rollback(service: "Service", observed: "Observed", previous_revision: str) -> Plan:
    """`deployer rollback` after ECS's deployment finished: ECS deploys the previous revision the
    same way (its old tasks are gone once the bake time is over), its hooks continued unjudged.
    While ECS still bakes, the release is unfinished and ECS's own rollback undoes it instead."""
    live, target = ("main", "main") if service.target_colors == ("main",) else (observed.production_group(), None)
    target = target or other(live)
    steps: tuple[Step, ...] = (
        StartEcsDeployment(previous_revision, ECS_STRATEGY[service.release.strategy]),
        FollowEcsDeployment(target, live, judge_at(service), None, 0, service.health_check.path, follow_timeout(service)),
    )
    return Plan(service.name, "rollback", live, target, steps, spec_digest(service))


def is_native(plan: Plan) -> bool:
    return any(isinstance(s, StartEcsDeployment) for s in plan.steps)


def plan_native_rollback(plan: Plan, done: int) -> tuple[Step, ...]:
    """Once ECS's deployment may have started (the step at `done` may have run partly), ECS rolls it back."""
    started = any(isinstance(s, StartEcsDeployment) for s in plan.steps[: done + 1])
    follow = next((s for s in plan.steps if isinstance(s, FollowEcsDeployment)), None)
    return (RollBackEcsDeployment(follow.timeout if follow else 600),) if started else ()
