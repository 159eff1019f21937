"""What a strategy is: a name, the spec options it reads, and its planner. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from deployer.release.plan import Observed, Plan, ReleaseRequest
    from deployer.spec.models import Release, Service

SINGLE = ("main",)
TWO_COLORS = ("blue", "green")


@dataclass(frozen=True)
class Strategy:
    """One way to release. Everything that lists strategies (the spec, the CLI, the webhook
    config, the action, the Jenkins step) reads this registry or is tested against it."""

    name: str
    summary: str  # one line for help texts and docs
    colors: tuple[str, ...]  # the ECS services it needs: SINGLE (in place) or TWO_COLORS
    planner: Callable[["Service", "Observed", "ReleaseRequest"], "Plan"]
    weights: Callable[["Release"], tuple] = lambda release: ()  # the traffic steps the spec gives it
    bake: Callable[["Release"], int] = lambda release: release.bake  # how long each step serves before its gate
    takes_steps: bool = False  # `--steps` may override its weights
    options: str | None = None  # the `release.<key>` block of deployer.yaml holding its own options

    @property
    def two_colors(self) -> bool:
        return self.colors == TWO_COLORS
