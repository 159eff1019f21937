"""What a release owns, as stack parameters. Pure: no AWS calls.

`provision` observes the live service (`LiveState`) and passes it back to CloudFormation as
parameters, so an infrastructure change never moves the task definition, the desired counts
or the traffic weights that a release has set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deployer.errors import InconsistentState
from deployer.spec import Service
from deployer.synth import names, parameters


@dataclass(frozen=True)
class ColorState:
    task_definition: str | None = None  # None: the service does not exist yet
    desired_count: int | None = None
    weight: int | None = None


@dataclass(frozen=True)
class LiveState:
    stack_exists: bool = False
    colors: dict[str, ColorState] = field(default_factory=dict)
    test_listener_color: str | None = None
    template_task_definition: str | None = None  # the stack's own TaskDefinition resource

    def released_task_definition(self, color: str) -> str:
        """The color's live revision if a release put it there; "" while it runs the template's own.

        "" keeps the parameter stable across provisions until a release happens, and lets a spec
        change (environment, ports) roll out through the template's own task definition.
        """
        live = self.color(color).task_definition
        return "" if not live or live == self.template_task_definition else live

    def color(self, color: str) -> ColorState:
        return self.colors.get(color, ColorState())


def stack_parameters(service: Service, live: LiveState) -> dict[str, str]:
    """Parameter values for the service's stack: the live ones where known, else the initial ones."""
    out: dict[str, str] = {names.PARAM_IMAGE: service.image}
    for color in service.colors:
        state = live.color(color)
        out[names.param_task_definition(color)] = live.released_task_definition(color)
        count = state.desired_count if state.desired_count is not None else parameters.initial_desired_count(service, color)
        out[names.param_desired_count(color)] = str(count)
    for color in _weighted(service):  # under engine ecs: the target groups, whose weights ECS moved
        weight = live.color(color).weight
        out[names.param_weight(color)] = str(weight if weight is not None else parameters.initial_weight(service, color))
    if service.load_balancer.test_listener is not None and not service.release.native:
        out[names.PARAM_TEST_COLOR] = live.test_listener_color or "green"
    if live.stack_exists and _live_weights_known(service, live):
        _keep_some_traffic(service, out)
        _engine_change_from_blue(service, live)
    return out


def _engine_change_from_blue(service: Service, live: LiveState) -> None:
    """A change of `release.engine` replaces the ECS services: the new ones start in the blue target
    group (ECS's primary one, deployer's first color), while the old ones go once they are up. That
    keeps traffic served only when blue is what serves it."""
    new_services = all(live.color(c).task_definition is None for c in service.colors)
    on_green = live.color("green").weight not in (None, 0)
    if new_services and on_green:
        raise InconsistentState(
            f"{service.name}: this provision replaces the ECS services (release.engine changed, or they are gone) while "
            f"traffic is on the green target group; the new services start in blue, so green would be left with no tasks",
            hint=f"first make blue serve with the current engine (`deployer release {service.name}` once more, or "
                 f"`deployer rollback {service.name}`), then provision")


def _weighted(service: Service) -> list[str]:
    return [c for c in service.target_colors if c != "main"]


def _live_weights_known(service: Service, live: LiveState) -> bool:
    return all(live.color(c).weight is not None for c in _weighted(service))


def _keep_some_traffic(service: Service, out: dict[str, str]) -> None:
    """Weights that add up to zero would send traffic nowhere: refuse to write them back."""
    weights = [int(out[names.param_weight(c)]) for c in _weighted(service)]
    if weights and sum(weights) == 0:
        raise InconsistentState(
            f"{service.name}: every live traffic weight is 0, so traffic points at nothing; provisioning would keep that",
            hint="restore traffic first (`deployer rollback`), then provision",
        )
