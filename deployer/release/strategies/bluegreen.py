"""bluegreen: a full-size idle color, checked through the test listener when there is one, then
all traffic in one switch (ALB weights or Route53 weighted records), gated; the previous color
stays warm, so a rollback is one call."""

from deployer.release.strategies.base import TWO_COLORS, Strategy
from deployer.release.strategies.shifts import plan_shifts

STRATEGY = Strategy(
    name="bluegreen",
    summary="a full-size idle color, checked, then all traffic in one switch; the previous color kept warm",
    colors=TWO_COLORS,
    planner=lambda service, observed, request: plan_shifts(service, observed, request, pre_traffic_check=True),
    weights=lambda release: (100,),
)
