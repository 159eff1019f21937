"""The strategy registry: every module in this package that defines `STRATEGY` is a strategy.

Adding one is adding a module here (its name, options and planner); the spec's allowed values,
the CLI's choices and the webhook config read `names()`, and tests hold the action, the workflow
template and the Jenkins step's documentation to the same list.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import TYPE_CHECKING

from deployer.errors import UsageError
from deployer.release.strategies.base import Strategy

if TYPE_CHECKING:
    from deployer.release.plan import Observed, Plan, ReleaseRequest
    from deployer.spec.models import Service

ORDER = ("rolling", "canary", "bluegreen")  # shown first, in this order; others follow by name


@lru_cache(maxsize=1)
def registry() -> dict[str, Strategy]:
    found: dict[str, Strategy] = {}
    for module in pkgutil.iter_modules(__path__):
        strategy = getattr(importlib.import_module(f"{__name__}.{module.name}"), "STRATEGY", None)
        if isinstance(strategy, Strategy):
            found[strategy.name] = strategy
    rank = {name: i for i, name in enumerate(ORDER)}
    return {name: found[name] for name in sorted(found, key=lambda n: (rank.get(n, len(rank)), n))}


def names() -> tuple[str, ...]:
    return tuple(registry())


def get(name: str) -> Strategy:
    try:
        return registry()[name]
    except KeyError:
        raise UsageError(f"unknown strategy {name!r}: expected one of {', '.join(names())}") from None


def plan_release(service: "Service", observed: "Observed", request: "ReleaseRequest") -> "Plan":
    if service.release.native:
        from deployer.release.native_plan import plan_native

        return plan_native(service, observed, request)
    return get(request.strategy).planner(service, observed, request)


def request_from_spec(service: "Service", image: str, strategy: str | None = None, steps=None, bake: int | None = None,
                      pause_after: int | None = None) -> "ReleaseRequest":
    """The release asked for: the spec's defaults for the chosen strategy, with the flags' overrides."""
    from deployer.release.plan import ReleaseRequest

    chosen, provisioned = get(strategy or service.release.strategy), get(service.release.strategy)
    if service.release.native:
        _native_request_problem(service, chosen.name, steps, bake, pause_after)
    if chosen.colors != provisioned.colors:
        if chosen.two_colors:
            raise UsageError(
                f"{service.name} has one ECS service (strategy {provisioned.name} in deployer.yaml); {chosen.name} needs blue and green",
                hint=f"set release.strategy: {chosen.name} in deployer.yaml and run `deployer provision {service.name}`",
            )
        two = ", ".join(s.name for s in registry().values() if s.two_colors)
        raise UsageError(f"{service.name} is a blue/green service; use --strategy {two}")
    if steps is not None and not chosen.takes_steps:
        raise UsageError(f"--steps: {chosen.name} sets its own weights ({chosen.summary})")
    weights = tuple(steps) if steps is not None else chosen.weights(service.release)
    if pause_after is not None:
        weights = with_pause_after(weights, pause_after)
    return ReleaseRequest(
        image=image,
        strategy=chosen.name,
        steps=weights,
        bake=chosen.bake(service.release) if bake is None else bake,
        keep_previous=service.release.keep_previous,
    )


def _native_request_problem(service: "Service", chosen: str, steps, bake, pause_after) -> None:
    """ECS runs the deployment its stack configures: a flag cannot change it for one release."""
    hint = f"change release in deployer.yaml and run `deployer provision {service.name}`"
    if chosen != service.release.strategy:
        raise UsageError(f"{service.name}: ECS runs its {service.release.strategy} deployments (release.engine: ecs); "
                         f"--strategy {chosen} cannot change that for one release", hint=hint)
    given = [flag for flag, value in (("--steps", steps), ("--bake", bake), ("--pause-after", pause_after)) if value is not None]
    if given:
        raise UsageError(f"{service.name}: {', '.join(given)}: ECS runs this deployment with the settings of its stack "
                         f"(release.engine: ecs)", hint=hint)


def with_pause_after(steps: tuple, weight: int) -> tuple:
    """Insert `pause` after the step with this weight (once)."""
    steps = tuple(steps)
    if weight not in steps:
        shown = ", ".join(map(str, steps)) or "none: the strategy shifts no traffic"
        raise UsageError(f"--pause-after {weight}: no step with that weight (steps: {shown})")
    if weight == 100:
        raise UsageError("--pause-after 100: the release is complete at 100%; pause after an earlier weight")
    at = steps.index(weight) + 1
    return steps if steps[at:at + 1] == ("pause",) else steps[:at] + ("pause",) + steps[at:]
