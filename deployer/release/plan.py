"""The planner: spec + observed state + request -> the list of steps. Pure: no AWS, no clock.

Also plans the rollback from any point of a plan, so the executor never improvises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployer.errors import InconsistentState, UsageError
from deployer.release.steps import (
    NEW_REVISION,
    Bake,
    DeployColor,
    Gate,
    Pause,
    PointTestListener,
    PreTrafficCheck,
    Promote,
    RegisterTaskDefinition,
    ScaleDown,
    ShiftTraffic,
    Step,
    WaitHealthy,
    WatchRollout,
)
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


@dataclass(frozen=True)
class Plan:
    service: str
    strategy: str
    live: str  # the color serving when the release starts
    target: str  # the color the release deploys to
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        return [f"{i + 1:>2}. {s.describe()}" for i, s in enumerate(self.steps)]

    def to_dict(self) -> dict:
        return {"service": self.service, "strategy": self.strategy, "live": self.live, "target": self.target,
                "steps": [s.to_dict() for s in self.steps]}


def other(color: str) -> str:
    return {"blue": "green", "green": "blue"}[color]


def request_from_spec(service: Service, image: str, strategy: str | None = None, steps=None, bake: int | None = None) -> ReleaseRequest:
    strategy = strategy or service.release.strategy
    if strategy != "rolling" and service.release.strategy == "rolling":
        raise UsageError(
            f"{service.name} has one ECS service (strategy rolling in deployer.yaml); {strategy} needs blue and green",
            hint=f"set release.strategy: {strategy} in deployer.yaml and run `deployer provision {service.name}`",
        )
    if strategy == "rolling" and service.release.strategy != "rolling":
        raise UsageError(f"{service.name} is a blue/green service; use --strategy canary or bluegreen")
    chosen = tuple(steps) if steps is not None else tuple(service.release.steps)
    if strategy == "bluegreen":
        chosen = (100,)
    return ReleaseRequest(
        image=image,
        strategy=strategy,
        steps=chosen,
        bake=service.release.bake if bake is None else bake,
        keep_previous=service.release.keep_previous,
    )


def plan_release(service: Service, observed: Observed, request: ReleaseRequest) -> Plan:
    if request.strategy == "rolling":
        return _plan_rolling(service, observed, request)
    return _plan_colors(service, observed, request)


def _plan_rolling(service: Service, observed: Observed, request: ReleaseRequest) -> Plan:
    current = observed.colors["main"]
    low, high = service.release.rolling.percents
    count = current.desired_count or service.desired_count
    steps = (
        RegisterTaskDefinition(current.task_definition, request.image),
        DeployColor("main", NEW_REVISION, count, low, high),
        WatchRollout("main", gate=True),
    )
    return Plan(service.name, "rolling", "main", "main", steps)


def _plan_colors(service: Service, observed: Observed, request: ReleaseRequest) -> Plan:
    live = observed.live_color()
    idle = other(live)
    current = observed.colors[live]
    count = current.desired_count or service.desired_count
    has_test_listener = service.load_balancer.test_listener is not None
    steps: list[Step] = [
        RegisterTaskDefinition(current.task_definition, request.image),
        DeployColor(idle, NEW_REVISION, count),
        WaitHealthy(idle, count),
    ]
    if has_test_listener:
        steps.append(PointTestListener(idle))
        if request.strategy == "bluegreen":
            steps.append(PreTrafficCheck(idle))
    last_weight = 0
    for item in request.steps:
        if item == "pause":
            steps.append(Pause(last_weight))
            continue
        weight = int(item)
        steps.append(ShiftTraffic(((live, 100 - weight), (idle, weight))))
        steps.append(Bake(request.bake))
        steps.append(Gate(idle, live if weight < 100 else None, weight))
        last_weight = weight
    steps.append(Promote(idle))
    if has_test_listener:
        steps.append(PointTestListener(live))
    steps.append(ScaleDown(live, after=request.keep_previous))
    return Plan(service.name, request.strategy, live, idle, tuple(steps))


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
    if plan.strategy == "rolling":
        if done == 0:
            return ()
        low, high = _percents_of(plan)
        return (DeployColor("main", previous_task_definition, desired_count, low, high), WatchRollout("main", gate=False))
    live, idle = plan.live, plan.target
    steps: list[Step] = [ShiftTraffic(((live, 100), (idle, 0)))]
    if any(isinstance(s, PointTestListener) for s in plan.steps[: done + 1]):
        steps.append(PointTestListener(idle))
    if any(isinstance(s, DeployColor) for s in plan.steps[: done + 1]):  # the idle color was (being) deployed
        steps.append(ScaleDown(idle))
    return tuple(steps)


def _percents_of(plan: Plan) -> tuple[int, int]:
    for step in plan.steps:
        if isinstance(step, DeployColor):
            return step.min_healthy_percent, step.max_percent
    return 100, 200


def plan_from_dict(data: dict) -> Plan:
    from deployer.release.steps import step_from_dict

    return Plan(data["service"], data["strategy"], data["live"], data["target"], tuple(step_from_dict(s) for s in data["steps"]))


def plan_manual_rollback(service: Service, observed: Observed, previous_revision: str, warm: bool, keep_previous: int) -> Plan:
    """`deployer rollback` after a finished release.

    Warm previous color: one traffic switch back, nothing else. Otherwise redeploy the previous
    revision (to the idle color, checked healthy, then switched; or in place for rolling).
    """
    if not previous_revision:
        raise UsageError(f"{service.name}: no previous revision is known to roll back to")
    if list(observed.colors) == ["main"]:
        current = observed.colors["main"]
        low, high = service.release.rolling.percents
        steps = (DeployColor("main", previous_revision, current.desired_count or service.desired_count, low, high), WatchRollout("main", gate=False))
        return Plan(service.name, "rolling", "main", "main", steps)
    live = observed.live_color()
    previous = other(live)
    count = observed.colors[live].desired_count or service.desired_count
    if warm:
        steps: tuple[Step, ...] = (ShiftTraffic(((previous, 100), (live, 0))), Promote(previous))
    else:
        steps = (
            DeployColor(previous, previous_revision, count),
            WaitHealthy(previous, count),
            ShiftTraffic(((previous, 100), (live, 0))),
            Promote(previous),
        )
    steps = steps + (ScaleDown(live, after=keep_previous),)
    return Plan(service.name, "rollback", live, previous, steps)
