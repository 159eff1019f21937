"""The guard, run by EventBridge Scheduler every minute: releases whose runner is gone.

For each release in flight (the journal's `inflight` items, one Query) whose lock is free or whose
lease has run out:
- ECS runs the deployment (engine ecs): once ECS's deployment has ended, the record says how
  (deployer.release.settle). While it goes on and the new revision serves between two hooks (the
  canary's bake, ECS's bake time), one read of the gate, as the runner makes at each poll: a FAIL
  stops the deployment with ECS's rollback (StopServiceDeployment ROLLBACK) rather than waiting
  for the next hook.
- deployer runs it (two services): the spec's `release.on_orphan` — `rollback` (the executor's own
  rollback: the weights back on the stable color, read back, then the new color scaled down) or
  `resume` (the executor goes on from the recorded step; when this call's time is nearly up it hands
  over, the release still running, and the next run of the schedule goes on from there).
Every action takes the lock with its fencing token, as a runner would, and is recorded with why.
An interrupted release (Ctrl-C: traffic already back on the stable color) waits for a person.
"""

from __future__ import annotations

import logging

from deployer.errors import DeployerError, Interrupted, Locked, RolledBack
from deployer.judge.context import JudgeContext
from deployer.release import record as states
from deployer.release.failures import Why
from deployer.release.gates import Outcome
from deployer.release.handlers.gates import evaluate, record_verdict
from deployer.release.steps import FollowEcsDeployment, RollBackEcsDeployment
from deployer.release.native_plan import is_native
from deployer.release.service import stored_plan
from deployer.release.settle import settle
from deployer.release.spec_snapshot import service_of

log = logging.getLogger("deployer.judge")

MARGIN = 30.0  # seconds kept back from the function's timeout for the last record write
DEFAULT_BUDGET = 240.0  # when the call's remaining time is unknown (tests, a local run)


def tick(ctx: JudgeContext, context=None) -> dict:
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None and hasattr(context, "get_remaining_time_in_millis") else DEFAULT_BUDGET
    deadline = ctx.clock() + max(1.0, remaining - MARGIN)
    actions = []
    for service_name, release_id in ctx.journal.in_flight():
        try:
            actions.append({"service": service_name, "release_id": release_id, **look_after(ctx, service_name, release_id, deadline)})
        except DeployerError as error:
            log.error("%s: %s", service_name, error.message)
            actions.append({"service": service_name, "release_id": release_id, "action": "error", "detail": error.message})
        except Exception as error:  # noqa: BLE001 - one release's surprise must not stop the guard for the others
            log.exception("%s: unexpected %s", service_name, type(error).__name__)
            actions.append({"service": service_name, "release_id": release_id, "action": "error", "detail": type(error).__name__})
    for action in actions:
        if action["action"] != "none":
            log.info("guard: %s", action)
    return {"guarded": len(actions), "actions": actions}


def look_after(ctx: JudgeContext, service_name: str, release_id: str, deadline: float) -> dict:
    journal = ctx.journal
    now = ctx.clock()
    holder = journal.holder(service_name)
    if holder is not None and holder.expires_at > now:
        return {"action": "none", "detail": f"held by {holder.holder} for {holder.expires_at - now:.0f}s more"}
    record = journal.load(service_name, release_id)
    if record is None or record.finished:
        journal.forget_in_flight(service_name, release_id)
        return {"action": "forgotten", "detail": "its release is finished (or gone): the marker is removed"}
    service = service_of(record.plan)
    if service is None:
        return {"action": "none", "detail": "planned by an older deployer: `deployer resume` or `rollback` by hand"}
    ex = ctx.executor(service, prefix=f"{service_name} (guard):")
    plan = stored_plan(ex, record)
    if is_native(plan):
        settled = settle(ex, record, ctx.holder)
        if settled is not None:
            return {"action": "settled", "state": settled.state}
        if record.judge == "lambda" and record.state == states.RUNNING:
            return _judge_between_hooks(ctx, ex, plan, record)
        return {"action": "none", "detail": "ECS's deployment goes on"}
    if record.state == states.INTERRUPTED:
        return {"action": "none", "detail": "interrupted, traffic on the stable color: `deployer resume` or `rollback` by hand"}
    lost = f"{holder.holder} lost its lease {now - holder.expires_at:.0f}s ago" if holder else "no runner holds it"
    try:
        lease = journal.acquire(service_name, ctx.holder, record.id, now, ex.settings.lease)
    except Locked:
        return {"action": "none", "detail": "another writer took the lock"}
    try:
        record = journal.load(service_name, release_id)
        if record is None or record.finished:
            return {"action": "none", "detail": "finished meanwhile"}
        record.judge = "guard"
        return _carry_on(ex, plan, record, lease, service.release.on_orphan, lost, deadline)
    finally:
        journal.release(ex.lease or lease)


def _judge_between_hooks(ctx: JudgeContext, ex, plan, record) -> dict:
    """The new revision serving between two of ECS's hooks: one gate read; a FAIL rolls ECS back."""
    follow = next(s for s in plan.steps if isinstance(s, FollowEcsDeployment))
    overdue = ctx.clock() > record.started_at + follow.timeout  # release.timeout plus ECS's bakes, as the runner's
    if follow.limits is None or (follow.canary == follow.baseline and not overdue):
        return {"action": "none", "detail": "ECS's deployment goes on"}
    weights = ex.target.weights()
    if (weights.get(follow.canary, 0) == 0 and not overdue) or ex.target.deployment(record.ecs_deployment).finished:
        return {"action": "none", "detail": "ECS's deployment goes on"}
    try:
        lease = ctx.journal.acquire(record.service, ctx.holder, record.id, ctx.clock(), ex.settings.lease)
    except Locked:
        return {"action": "none", "detail": "another writer holds the lock (a hook being judged)"}
    try:
        current = ctx.journal.load(record.service, record.id)
        if current is None or current.finished or current.state != states.RUNNING:
            return {"action": "none", "detail": "changed meanwhile"}
        ex.attach(plan, current, lease)
        if overdue:
            return _stop(ex, current, follow, f"{Why.TIMEOUT}: ECS's deployment was not done after {follow.timeout}s",
                         "StopServiceDeployment ROLLBACK by the guard: past the release's timeout")
        if weights != (current.weights or {}):  # ECS moved traffic since anyone looked: windows start here
            current.weights, ex.shifted_at, current.shifted_at = weights, ex.clock(), ex.clock()
            ex.note(None, "ECS set weights " + ", ".join(f"{c} {w}" for c, w in weights.items()))
        baseline = follow.baseline if weights.get(follow.baseline, 0) > 0 else None
        verdict = evaluate(ex, follow.canary, baseline, follow.limits)
        if verdict.outcome != Outcome.FAIL:
            ex.save()
            return {"action": "none", "detail": f"gate between hooks: {verdict.outcome}"}
        record_verdict(ex, plan.steps.index(follow), weights.get(follow.canary, 0), verdict)
        return _stop(ex, current, follow, f"{verdict.reason}: {verdict.detail}",
                     "StopServiceDeployment ROLLBACK by the guard: the gate failed between ECS's hooks")
    finally:
        ctx.journal.release(ex.lease or lease)


def _stop(ex, record, follow: FollowEcsDeployment, reason: str, note: str) -> dict:
    """ECS's own rollback of the release's deployment, recorded with why (settled once ECS is done)."""
    ex.target.stop_deployment(record.ecs_deployment)
    record.state, record.reason = states.ROLLING_BACK, reason
    record.rollback_steps, record.rollback_index = [RollBackEcsDeployment(follow.timeout).to_dict()], 0
    ex.note(None, note)
    ex.save()
    return {"action": "stopped", "state": record.state, "detail": reason}


def _carry_on(ex, plan, record, lease, on_orphan: str, lost: str, deadline: float) -> dict:
    """Roll the orphan back, or resume it for this call's time; what became of it."""
    try:
        if on_orphan == "resume" and record.state != states.ROLLING_BACK:
            ex.hand_over_at = deadline
            record.note(ex.clock(), record.step_index, f"the guard resumes it: the runner {lost}")
            done = ex.run(plan, record, lease)
            return {"action": "resumed", "state": done.state}
        ex.roll_back(plan, record, lease, Why.ORPHANED, f"the runner {lost}; the guard rolled the release back")
    except RolledBack:
        pass
    except Interrupted as stop:
        return {"action": "interrupted", "state": ex.record.state, "detail": stop.message}
    return {"action": "rolled_back", "state": ex.record.state}
