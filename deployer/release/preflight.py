"""Before a release: how long it should take, and which settings make it slow. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from deployer.release.plan import Plan
from deployer.release.steps import (
    Bake,
    DeployColor,
    FollowEcsDeployment,
    Gate,
    Pause,
    PreTrafficCheck,
    ShiftTraffic,
    WaitHealthy,
    WatchRollout,
)
from deployer.spec import Service
from deployer.spec.units import format_duration

TASK_START_SECONDS = 30  # image pull and container start, typical for a small Fargate task


@dataclass(frozen=True)
class Estimate:
    seconds: int
    parts: tuple[tuple[str, int], ...]
    warnings: tuple[str, ...]

    def lines(self) -> list[str]:
        out = [f"estimated duration: {format_duration(self.seconds)} (without pauses)"]
        out += [f"  {name}: {format_duration(sec)}" for name, sec in self.parts]
        out += [f"warning: {w}" for w in self.warnings]
        return out


def time_to_healthy(service: Service) -> int:
    hc = service.health_check
    return TASK_START_SECONDS + hc.interval * hc.healthy_threshold


def estimate(service: Service, plan: Plan) -> Estimate:
    parts: list[tuple[str, int]] = []
    hc = service.health_check
    for step in plan.steps:
        if isinstance(step, WaitHealthy):
            parts.append((f"{step.color} healthy", time_to_healthy(service)))
        elif isinstance(step, Bake):
            parts.append(("bake", step.seconds))
        elif isinstance(step, Gate):
            parts.append(("gate window", step.limits.period))
        elif isinstance(step, PreTrafficCheck):
            parts.append(("pre-traffic check", 2))
        elif isinstance(step, WatchRollout):
            deploy = next(s for s in plan.steps if isinstance(s, DeployColor))
            low, high = deploy.min_healthy_percent, deploy.max_percent
            count = deploy.desired_count or service.desired_count
            batch = max(1, math.floor(count * (high - low) / 100)) if high > low else count
            batches = math.ceil(count / batch)
            per_batch = time_to_healthy(service) + service.deregistration_delay
            parts.append((f"rollout ({batches} batch(es) of {batch})", batches * per_batch))
        elif isinstance(step, FollowEcsDeployment):
            parts += _ecs_parts(service, step)
    merged: dict[str, int] = {}
    for name, sec in parts:
        merged[name] = merged.get(name, 0) + sec
    total = sum(merged.values())

    warnings = []
    if service.deregistration_delay >= 300:
        warnings.append(f"deregistration_delay is {service.deregistration_delay}s: every drain waits that long (30s suits most HTTP services)")
    if hc.interval * hc.healthy_threshold >= 60:
        warnings.append(f"health checks need {hc.interval}s x {hc.healthy_threshold} = {hc.interval * hc.healthy_threshold}s before a task counts as healthy")
    deploy = next((s for s in plan.steps if isinstance(s, DeployColor)), None)
    if plan.in_place and deploy is not None:
        low, high = deploy.min_healthy_percent, deploy.max_percent
        if high < 200:
            warnings.append(f"maximumPercent {high} < 200: tasks are replaced in batches with {100 - low}% capacity lost meanwhile")
    bakes = sum(s.seconds for s in plan.steps if isinstance(s, Bake))
    if bakes >= 900:
        warnings.append(f"bake time adds up to {format_duration(bakes)} over {sum(isinstance(s, Bake) for s in plan.steps)} steps")
    ttl = next((s.dns_ttl for s in plan.steps if isinstance(s, ShiftTraffic) and s.dns_ttl is not None), None)
    if ttl is not None:
        warnings.append(f"traffic moves by DNS: a rollback reaches clients within the TTL ({ttl}s), not at once")
    if any(isinstance(s, Pause) for s in plan.steps):
        warnings.append("the plan pauses: it waits for `deployer promote` or `deployer abort`")
    return Estimate(total, tuple(merged.items()), tuple(warnings))


def _ecs_parts(service: Service, step: FollowEcsDeployment) -> list[tuple[str, int]]:
    """ECS's own deployment: the new revision's tasks, its bakes, and a gate window per judged stage."""
    from deployer.spec.native import linear_steps

    release = service.release
    parts = [("new revision healthy (ECS)", time_to_healthy(service))]
    if release.strategy == "canary":
        parts.append(("canary bake (ECS)", release.ecs_options.canary_bake))
    if release.strategy == "linear":
        step_bake = release.linear.step_bake if release.linear.step_bake is not None else release.bake
        parts.append(("step bakes (ECS)", step_bake * linear_steps(release.linear.step_percent)))
    parts.append(("bake time (ECS)", release.bake))
    if step.limits is not None and step.judge_at:
        parts.append(("gate window", step.limits.period * len(step.judge_at)))
    return parts
