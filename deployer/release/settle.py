"""A release handed to ECS and the judge function (`judge: lambda`) ends when ECS's deployment does:
whoever sees that first (`deployer wait`, the guard's next run) writes the outcome into the record.

`outcome` is pure: what ECS's deployment says about the release. `settle` writes it, under the
service's lock like any writer, and only once: a record already finished is left as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.errors import Locked
from deployer.release import record as states
from deployer.release.failures import StepFailed
from deployer.release.handlers.native import ended_without_us

if TYPE_CHECKING:
    from deployer.aws.ecs_deployments import ServiceDeployment
    from deployer.release.executor import Executor
    from deployer.release.record import ReleaseRecord

SETTLE_LEASE = 30.0  # seconds: one read and one write

# ECS's lifecycle stages in the order a deployment goes through them (for `deployer wait --until`).
STAGE_ORDER = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
               "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
               "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP")


def reached(stage: str, until: str) -> bool:
    """ECS's deployment is at `until` or past it (an unknown stage is not taken for past anything)."""
    return stage in STAGE_ORDER and until in STAGE_ORDER and STAGE_ORDER.index(stage) >= STAGE_ORDER.index(until)


def outcome(deployment: ServiceDeployment, record: ReleaseRecord, production_back: bool) -> tuple[str, str] | None:
    """(state, reason) of the release once ECS's deployment has ended; None while it goes on.
    The judge's own verdict, when it failed the deployment, stays the reason."""
    status = deployment.status
    if status == "SUCCESSFUL" and record.state == states.ROLLING_BACK:  # ECS finished before the stop reached it
        return states.FAILED, (f"{record.reason}; but ECS's deployment had completed before its rollback: the new "
                               f"revision serves (`deployer rollback {record.service}` deploys the previous one)")
    if status == "SUCCESSFUL":
        return states.RELEASED, ""
    if status == "ROLLBACK_FAILED":
        return states.FAILED, f"ECS could not roll back: {deployment.status_reason or 'no reason given'}"
    if status == "ROLLBACK_SUCCESSFUL" or (status == "STOPPED" and production_back):
        if record.reason:
            return states.ROLLED_BACK, record.reason
        why = ended_without_us(deployment)
        return states.ROLLED_BACK, f"{why.reason}: {why.detail}" if isinstance(why, StepFailed) else why.message
    if status == "STOPPED":
        return states.FAILED, f"ECS stopped its deployment where it was ({deployment.status_reason or 'no reason given'})"
    return None


def settle(ex: Executor, record: ReleaseRecord, actor: str) -> ReleaseRecord | None:
    """Write ECS's outcome into `record` if its deployment has ended; the record as written (or as
    another writer left it), None while ECS goes on or someone else holds the lock."""
    from deployer.release.service import stored_plan

    if not record.ecs_deployment:
        return None
    deployment = ex.target.deployment(record.ecs_deployment)
    if not deployment.finished:
        return None
    plan = stored_plan(ex, record)
    back = ex.service.target_colors == ("main",) or ex.target.weights().get(plan.live, 0) == 100
    try:
        lease = ex.journal.acquire(record.service, actor, record.id, ex.clock(), SETTLE_LEASE)
    except Locked:
        return None
    try:
        current = ex.journal.load(record.service, record.id)  # as the last writer left it: its reason, its state
        if current is None or current.finished:
            return current
        result = outcome(deployment, current, back)
        if result is None:
            return None
        ex.attach(plan, current, lease)
        current.state, reason = result
        current.reason = reason if current.state != states.RELEASED else ""
        current.finished_at = ex.clock()
        if ex.service.target_colors != ("main",):
            current.weights = ex.target.weights()
        current.judge = current.judge or "lambda"
        ex.note(None, f"ECS's deployment ended {deployment.status}: {current.state}" + (f" ({reason})" if reason else ""))
        ex.save()
        return current
    finally:
        ex.journal.release(lease)

