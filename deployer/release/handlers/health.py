"""Handlers for the steps that change and watch ECS: register, deploy, wait healthy, follow a rollout, scale down."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.errors import TimedOut
from deployer.release.failures import StepFailed, Why
from deployer.release.steps import NEW_REVISION, DeployColor, RegisterTaskDefinition, ScaleDown, WaitHealthy, WatchRollout, short
from deployer.release.gates import Outcome
from deployer.release.handlers.gates import evaluate, record_verdict
from deployer.release.record import iso

if TYPE_CHECKING:
    from deployer.release.executor import Executor


def register(ex: Executor, step: RegisterTaskDefinition, index, rollback=False) -> None:
    record = ex.record
    if not record.to_revision:  # idempotent: a resumed release does not register twice
        record.from_revision = step.from_task_definition
        # a resumed release may have registered before its runner died, without recording it
        found = ex.target.find_registered(step.from_task_definition, record.id) if ex.resumed else None
        record.to_revision = found or ex.target.register(step.from_task_definition, step.image, record.id)
        ex.save()
    ex.progress.line(f"    {short(ex.record.from_revision)} -> {short(ex.record.to_revision)}")


def deploy(ex: Executor, step: DeployColor, index, rollback=False) -> None:
    revision = ex.record.to_revision if step.task_definition == NEW_REVISION else step.task_definition
    ex.heartbeat_if_due()  # a runner whose lease was taken over (a call that hung) changes nothing
    ex.target.deploy(step.color, revision, step.desired_count, step.min_healthy_percent, step.max_percent, step.circuit_breaker)
    ex.expected[step.color] = revision
    ex.shifted_at = ex.clock()


def expected_revision(ex: Executor, color: str) -> str:
    return ex.expected.get(color) or ex.record.to_revision


def wait_healthy(ex: Executor, step: WaitHealthy, index, rollback=False) -> None:
    """Until `count` healthy targets run the color's new revision and none runs another.

    Counting healthy targets is not enough: a color still warm from the previous release has
    healthy targets of the old revision until ECS drains them, and a gate would measure those.
    """
    limit = ex.settings.healthy_timeout or step.timeout
    deadline = ex.clock() + limit
    expected = expected_revision(ex, step.color)
    while True:
        rollout = ex.target.rollout(step.color)
        if rollout.rollout_state == "FAILED":
            raise StepFailed(Why.DEPLOYMENT_FAILED, f"{step.color} deployment failed: {rollout.rollout_reason or 'tasks keep stopping'}")
        if expected and rollout.task_definition != expected:
            # the circuit breaker put the previous revision back as PRIMARY
            raise StepFailed(Why.CIRCUIT_BREAKER, f"{step.color}: ECS put {short(rollout.task_definition)} back in place of "
                                                f"{short(expected)} (its tasks kept failing)"
                                                + (f"; ECS: {rollout.rollout_reason}" if rollout.rollout_reason else ""))
        serving = ex.target.serving_revisions(step.color)
        fresh = serving.get(expected, 0)
        stale = {revision: n for revision, n in serving.items() if revision != expected and n}
        ex.progress.line(f"    {step.color}: running {rollout.running}/{step.count}, healthy {fresh} of {short(expected)}"
                           + "".join(f", {n} of {short(r) if r else 'unknown tasks'} still healthy" for r, n in stale.items())
                           + f", {rollout.rollout_state}")
        if rollout.running >= step.count and fresh >= step.count and not stale:
            return
        if ex.clock() >= deadline:
            why = f"; {sum(stale.values())} target(s) of other revisions still serving" if stale else ""
            raise StepFailed(Why.NOT_HEALTHY, f"{step.color} reached {fresh}/{step.count} healthy targets of {short(expected)} in {limit:.0f}s{why}")
        ex.wait(ex.settings.poll)


def watch_rollout(ex: Executor, step: WatchRollout, index, rollback=False) -> None:
    deadline = ex.clock() + step.timeout
    expected = ex.expected.get(step.color)
    seen_events: set[str] = set()
    first = True
    low = ex.deploy_step().min_healthy_percent
    gate_due = ex.clock()  # the gate's metrics change once per period: reading them every poll tells nothing new
    while True:
        rollout = ex.target.rollout(step.color)
        for event_id, message in reversed(rollout.events):
            if event_id not in seen_events:
                seen_events.add(event_id)
                if not first:
                    ex.progress.untrusted(f"    ecs: {message}")
        first = False
        ex.progress.line(f"    {step.color}: running {rollout.running}/{rollout.desired}, pending {rollout.pending}, "
                           f"failed {rollout.failed_tasks}, {rollout.rollout_state}, floor {low}%")
        if rollout.rollout_state == "FAILED" or (expected and rollout.task_definition != expected and rollout.deployments <= 1):
            reason = rollout.rollout_reason or "the deployment failed"
            name = Why.CIRCUIT_BREAKER if "circuit breaker" in reason.lower() else Why.DEPLOYMENT_FAILED
            raise StepFailed(name, f"ECS: {reason}")
        done = rollout.rollout_state == "COMPLETED" and rollout.deployments <= 1 and (not expected or rollout.task_definition == expected)
        if step.limits is not None and (done or ex.clock() >= gate_due):  # and once more on the newest data when done
            gate_due = ex.clock() + step.limits.period
            v = evaluate(ex, step.color, None, step.limits)
            if v.outcome == Outcome.FAIL:
                record_verdict(ex, index, 100, v)
                raise StepFailed(v.reason, v.detail)
        if done:
            return
        if ex.clock() >= deadline:
            if rollback:
                raise TimedOut(f"{ex.service.name}: rollback still {rollout.rollout_state} after {step.timeout}s")
            raise StepFailed(Why.TIMEOUT, f"rollout not complete after {step.timeout}s")
        ex.wait(ex.settings.poll)


def scale_down(ex: Executor, step: ScaleDown, index, rollback=False) -> None:
    if step.after and not rollback:
        ex.record.scale_down_at = ex.clock() + step.after
        ex.record.scale_down_color = step.color
        ex.progress.line(f"    {step.color} stays warm until {iso(ex.record.scale_down_at)} for an instant rollback "
                           f"(`deployer tidy {ex.service.name}` scales it down after that)")
        return
    ex.heartbeat_if_due()  # a runner whose lease was taken over (a call that hung) changes nothing
    ex.target.scale(step.color, 0)
