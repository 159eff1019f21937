"""The two-color plan every traffic-shifting strategy shares: deploy the idle color at full size,
wait until healthy, then for each weight shift, bake and gate; promote; keep the previous color
warm; scale it down. Strategies differ only in the weights and bakes they give it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployer.release.plan import Observed, Plan, ReleaseRequest
    from deployer.spec.models import Service


def plan_shifts(service: "Service", observed: "Observed", request: "ReleaseRequest", pre_traffic_check: bool = False) -> Plan:
    # The engine is imported when a plan is made: validating a spec reads the registry (names,
    # colors) and must not pay for it.
    from deployer.release.plan import Plan, dns_ttl, healthy_timeout, other, spec_digest
    from deployer.release.steps import (
        NEW_REVISION,
        Bake,
        DeployColor,
        Gate,
        GateLimits,
        Pause,
        PointTestListener,
        PreTrafficCheck,
        Promote,
        RegisterTaskDefinition,
        ScaleDown,
        ShiftTraffic,
        Step,
        WaitHealthy,
    )
    live = observed.live_color()
    idle = other(live)
    current = observed.colors[live]
    count = current.desired_count or service.desired_count
    has_test_listener = service.load_balancer.test_listener is not None
    limits = GateLimits.from_spec(service.release.gates)
    ttl = dns_ttl(service)
    steps: list[Step] = [
        RegisterTaskDefinition(current.task_definition, request.image),
        DeployColor(idle, NEW_REVISION, count, circuit_breaker=service.release.circuit_breaker),
        WaitHealthy(idle, count, healthy_timeout(service)),
    ]
    if has_test_listener:
        steps.append(PointTestListener(idle))
        if pre_traffic_check:
            steps.append(PreTrafficCheck(idle, path=service.health_check.path))
    last_weight = 0
    for item in request.steps:
        if item == "pause":
            steps.append(Pause(last_weight))
            continue
        weight = int(item)
        steps.append(ShiftTraffic(((live, 100 - weight), (idle, weight)), ttl))
        steps.append(Bake(request.bake, limits))
        steps.append(Gate(idle, live if weight < 100 else None, weight, limits))
        last_weight = weight
    steps.append(Promote(idle))
    if has_test_listener:
        steps.append(PointTestListener(live))
    steps.append(ScaleDown(live, after=request.keep_previous))
    return Plan(service.name, request.strategy, live, idle, tuple(steps), spec_digest(service))
