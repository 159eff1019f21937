"""Step handlers, one module per concern; HANDLERS maps each step type to the function that runs it.

A handler is `handler(executor, step, index, rollback=False)`: it acts through the executor's target,
journals through its record, and raises `StepFailed` (named reason, numbers) to stop the release.
"""

from __future__ import annotations

from typing import Callable

from deployer.release.handlers import control, gates, health, native, traffic
from deployer.release.steps import (
    Bake,
    DeployColor,
    FollowEcsDeployment,
    Gate,
    Pause,
    PointTestListener,
    PreTrafficCheck,
    Promote,
    RegisterTaskDefinition,
    RollBackEcsDeployment,
    ScaleDown,
    ShiftTraffic,
    StartEcsDeployment,
    Step,
    WaitHealthy,
    WatchRollout,
)

HANDLERS: dict[type[Step], Callable] = {
    RegisterTaskDefinition: health.register,
    DeployColor: health.deploy,
    WaitHealthy: health.wait_healthy,
    WatchRollout: health.watch_rollout,
    ScaleDown: health.scale_down,
    PointTestListener: traffic.point_test_listener,
    PreTrafficCheck: traffic.pre_traffic_check,
    ShiftTraffic: traffic.shift,
    Bake: gates.bake,
    Gate: gates.gate,
    Pause: control.pause,
    Promote: control.promote,
    StartEcsDeployment: native.start,
    FollowEcsDeployment: native.follow,
    RollBackEcsDeployment: native.roll_back,
}
