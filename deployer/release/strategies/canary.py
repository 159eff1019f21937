"""canary: the new version on the idle color, weights stepped as the spec says (10, 25, 50, 100
by default, `pause` waits for promote), each step baked and gated against the stable color."""

from deployer.release.strategies.base import TWO_COLORS, Strategy
from deployer.release.strategies.shifts import plan_shifts

STRATEGY = Strategy(
    name="canary",
    summary="weights stepped as release.steps says, each baked and gated against the stable color",
    colors=TWO_COLORS,
    planner=plan_shifts,
    weights=lambda release: tuple(release.steps),
    takes_steps=True,
)
