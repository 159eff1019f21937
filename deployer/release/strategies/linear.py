"""linear: weights in equal steps of `release.linear.step_percent` (20 -> 20, 40, 60, 80, 100),
each served for `step_bake` (default: release.bake) and gated like a canary's."""

from deployer.release.strategies.base import TWO_COLORS, Strategy
from deployer.release.strategies.shifts import plan_shifts


def weights(release) -> tuple[int, ...]:
    step = release.linear.step_percent
    return tuple(range(step, 100, step)) + (100,)


def bake(release) -> int:
    return release.bake if release.linear.step_bake is None else release.linear.step_bake


STRATEGY = Strategy(
    name="linear",
    summary="weights in equal steps of release.linear.step_percent, each baked and gated",
    colors=TWO_COLORS,
    planner=plan_shifts,
    weights=weights,
    bake=bake,
    options="linear",
)
