"""ECS's AWS_LAMBDA lifecycle hook at a judged stage: one read of deployer's gate per call.

ECS's payload (AWS: "Lifecycle hooks for Amazon ECS service deployments") has `serviceArn`,
`targetServiceRevisionArn`, `testTrafficWeights`, `productionTrafficWeights` and `hookDetails`; it
does not say which stage called, so each hook's configured hookDetails names the stage and the
deployer service. The answer (AWS: "Lambda hooks for Amazon ECS service deployments") is
`{"hookStatus": SUCCEEDED | FAILED | IN_PROGRESS}`; with IN_PROGRESS, ECS calls again after
`callBackDelay` seconds and passes the `hookDetails` returned back in. The gate's state between
calls (windows read, the latency reference) travels there; the verdicts go into the release record,
written under the service's lock like any runner's. No valid answer, or an error, and ECS rolls
the deployment back: the judge fails safe.
"""

from __future__ import annotations

import logging

from deployer.errors import DeployerError, Locked
from deployer.judge.context import JudgeContext
from deployer.release import record as states
from deployer.release.failures import StepFailed
from deployer.release.gates import Outcome
from deployer.release.handlers.gates import judge_once
from deployer.release.handlers.traffic import check_test_listener
from deployer.release.plan import plan_from_dict
from deployer.release.spec_snapshot import service_of
from deployer.release.steps import FollowEcsDeployment, Gate, RollBackEcsDeployment
from deployer.spec.native import JUDGED_STAGES

log = logging.getLogger("deployer.judge")

SUCCEEDED, FAILED, IN_PROGRESS = "SUCCEEDED", "FAILED", "IN_PROGRESS"
LOCK_LEASE = 60.0  # one call's reads and one record write
BUSY_DELAY = 10  # seconds before ECS calls again when another writer holds the lock
STATE_KEY = "deployer"  # our part of hookDetails, beside the configured service and stage


def answer(event: dict, ctx: JudgeContext) -> dict:
    details = dict(event.get("hookDetails") or {}) if isinstance(event, dict) else {}
    service_name, stage = details.get("service"), details.get("stage")
    if not isinstance(service_name, str) or stage not in JUDGED_STAGES:
        log.error("hookDetails must name the deployer service and a judged stage (%s); got %r",
                  ", ".join(JUDGED_STAGES), {k: details.get(k) for k in ("service", "stage")})
        return {"hookStatus": FAILED}
    record = ctx.journal.latest(service_name)
    if record is None or record.finished:
        log.warning("%s %s: no unfinished deployer release; ECS's deployment was not started by deployer: not judged", service_name, stage)
        return {"hookStatus": SUCCEEDED}
    try:
        return _judged(event, ctx, record, service_name, stage, details)
    except DeployerError as error:
        log.error("%s %s: %s; ECS rolls the deployment back", service_name, stage, error.message)
    except Exception:  # noqa: BLE001 - fail safe: whatever went wrong, ECS rolls back rather than go on unjudged
        log.exception("%s %s: unexpected error; ECS rolls the deployment back", service_name, stage)
    return {"hookStatus": FAILED}


def _judged(event: dict, ctx: JudgeContext, record, service_name: str, stage: str, details: dict) -> dict:
    service = service_of(record.plan)
    follow = _follow_step(record.plan, service)
    if service is None or follow is None:
        log.error("%s: release %s has no stored spec or no ECS deployment to judge (planned by an older deployer?)", service_name, record.id)
        return {"hookStatus": FAILED}
    if follow.limits is None:
        log.info("%s %s: the deployment of a rollback, not judged", service_name, stage)
        return {"hookStatus": SUCCEEDED}
    ex = ctx.executor(service, prefix=f"{service_name} {stage}:")
    if not _calls_for(ex, record, event):
        return {"hookStatus": FAILED}
    try:
        lease = ctx.journal.acquire(service_name, ctx.holder, record.id, ex.clock(), LOCK_LEASE)
    except Locked as busy:
        log.info("%s: %s; ECS calls again in %ss", service_name, busy.message, BUSY_DELAY)
        return _in_progress(details, BUSY_DELAY)
    try:
        record = ctx.journal.load(service_name, record.id)  # as it is now that the lock is ours
        if record.finished or record.state == states.ROLLING_BACK:
            log.info("%s %s: release %s is %s", service_name, stage, record.id, record.state)
            return {"hookStatus": SUCCEEDED if record.state == states.RELEASED else FAILED}
        ex.attach(plan_from_dict(record.plan, service), record, lease)
        return _decide(ex, follow, stage, details)
    finally:
        ctx.journal.release(ex.lease or lease)


def _calls_for(ex, record, event: dict) -> bool:
    """The calling deployment is the release's: the revision ECS deploys (the payload's, at its top
    level or under executionDetails, as AWS has logged it) is the one the release's deployment targets."""
    payload = event.get("executionDetails") if isinstance(event.get("executionDetails"), dict) else event
    calling = payload.get("targetServiceRevisionArn") or event.get("targetServiceRevisionArn")
    if not calling or not record.ecs_deployment:
        return True  # nothing to compare: the runner died before it recorded the deployment
    ours = ex.target.deployment(record.ecs_deployment).target_revision
    if ours and ours != calling:
        log.error("%s: ECS calls for revision %s, release %s deploys %s: not this release's deployment",
                  record.service, calling, record.id, ours)
        return False
    return True


def _follow_step(plan: dict, service) -> FollowEcsDeployment | None:
    if service is None:
        return None
    return next((s for s in plan_from_dict(plan, service).steps if isinstance(s, FollowEcsDeployment)), None)


def _decide(ex, follow: FollowEcsDeployment, stage: str, details: dict) -> dict:
    """One decision at `stage`, written to the record; the answer for ECS."""
    record = ex.record
    index = next(i for i, s in enumerate(ex.plan.steps) if s == follow)
    carried = details.get(STATE_KEY) or {}
    reads = int(carried.get("reads", 0))
    if carried.get("reference") is not None:
        ex.latency_reference = (follow.canary, float(carried["reference"]))
    _track_weights(ex, follow, index)
    weight = (record.weights or {}).get(follow.canary, 0)
    try:
        if stage == "POST_TEST_TRAFFIC_SHIFT":
            check_test_listener(ex, follow.probe_requests, follow.probe_path)
        elif stage == "PRE_PRODUCTION_TRAFFIC_SHIFT" and weight == 0:
            ex.progress.line("the new revision has no production traffic yet; nothing to judge")
        else:
            baseline = follow.baseline if (record.weights or {}).get(follow.baseline, 0) > 0 else None
            verdict = judge_once(ex, Gate(follow.canary, baseline, weight, follow.limits), index, reads)
            if verdict.outcome != Outcome.PASS:
                reference = ex.latency_reference[1] if ex.latency_reference else None
                ex.save()
                return _in_progress(details, follow.limits.period, {"reads": reads + 1, "reference": reference})
    except StepFailed as failure:
        record.state = states.ROLLING_BACK
        record.reason = f"{failure.reason}: {failure.detail}"
        record.rollback_steps = [RollBackEcsDeployment(follow.timeout).to_dict()]  # ECS's own, already under way
        record.rollback_index = 0
        ex.note(index, f"FAILED answered at {stage}: ECS rolls back ({failure.reason})")
        ex.save()
        return {"hookStatus": FAILED}
    ex.note(index, f"SUCCEEDED answered at {stage}")
    ex.save()
    return {"hookStatus": SUCCEEDED}


def _track_weights(ex, follow: FollowEcsDeployment, index) -> None:
    """ECS moved production traffic since the last call: the gate's windows start again there."""
    if follow.canary == follow.baseline:
        return
    weights = ex.target.weights()
    if weights != (ex.record.weights or {}):
        ex.record.weights = weights
        ex.shifted_at = ex.record.shifted_at = ex.clock()
        ex.note(index, "ECS set weights " + ", ".join(f"{c} {w}" for c, w in weights.items()))


def _in_progress(details: dict, delay: int, state: dict | None = None) -> dict:
    back = {k: v for k, v in details.items() if k != STATE_KEY}
    if state is not None:
        back[STATE_KEY] = state
    elif STATE_KEY in details:
        back[STATE_KEY] = details[STATE_KEY]
    return {"hookStatus": IN_PROGRESS, "callBackDelay": int(delay), "hookDetails": back}
