"""`deployer release|resume|rollback|promote|abort|tidy|status|history`: one function each.

They wire the planner, the executor, the journal and the service target together; the CLI
renders what they return.
"""

from __future__ import annotations

from dataclasses import dataclass

from deployer.errors import Locked, UsageError
from deployer.release import record as states
from deployer.release.executor import Executor
from deployer.release.journal import Journal
from deployer.release.plan import Plan, ReleaseRequest, plan_from_dict, plan_manual_rollback, plan_release
from deployer.release.preflight import Estimate, estimate
from deployer.release.record import ReleaseRecord, new_release_id
from deployer.release.steps import DeployColor

UNFINISHED = (states.RUNNING, states.PAUSED, states.ROLLING_BACK, states.INTERRUPTED)


@dataclass(frozen=True)
class DryRun:
    plan: Plan
    estimate: Estimate


def preview(executor: Executor, request: ReleaseRequest) -> DryRun:
    """The second executor: the same plan, shown instead of run."""
    plan = plan_release(executor.service, executor.target.observe(), request)
    return DryRun(plan, estimate(executor.service, plan))


def _refuse_unfinished(journal: Journal, service: str) -> None:
    latest = journal.latest(service)
    if latest and latest.state in UNFINISHED:
        raise Locked(
            f"{service}: release {latest.id} is {latest.state} (step {latest.step_index + 1})",
            hint=f"`deployer resume {service}` continues it, `deployer rollback {service}` undoes it",
        )


def _run_locked(executor: Executor, journal: Journal, actor: str, release_id: str, body):
    now = executor.clock()
    lease = journal.acquire(executor.service.name, actor, release_id, now, executor.settings.lease)
    try:
        return body(lease)
    finally:
        journal.release(executor.lease or lease)


def release(executor: Executor, request: ReleaseRequest, actor: str) -> ReleaseRecord:
    service = executor.service
    journal = executor.journal
    release_id = new_release_id(executor.clock())

    def body(lease):
        _refuse_unfinished(journal, service.name)
        plan = plan_release(service, executor.target.observe(), request)
        record = ReleaseRecord(
            id=release_id, service=service.name, strategy=plan.strategy, image=request.image, actor=actor,
            started_at=executor.clock(), plan=plan.to_dict(), live=plan.live, target=plan.target, fence=lease.token,
        )
        journal.save(record)
        return executor.run(plan, record, lease)

    return _run_locked(executor, journal, actor, release_id, body)


def resume(executor: Executor, actor: str, *, roll_back: bool = False) -> ReleaseRecord:
    service = executor.service
    journal = executor.journal
    latest = journal.latest(service.name)
    if latest is None or latest.state not in UNFINISHED:
        raise UsageError(f"{service.name}: no unfinished release to resume" + (f" (last: {latest.id} {latest.state})" if latest else ""))

    def body(lease):
        plan = plan_from_dict(latest.plan)
        if roll_back and latest.state != states.ROLLING_BACK:
            return executor.roll_back(plan, latest, lease, "asked", f"rollback asked by {actor}")
        return executor.run(plan, latest, lease)

    return _run_locked(executor, journal, actor, latest.id, body)


def rollback(executor: Executor, actor: str) -> ReleaseRecord:
    """Unfinished release: roll it back. Finished: switch back to the warm color, else redeploy."""
    service = executor.service
    journal = executor.journal
    latest = journal.latest(service.name)
    if latest and latest.state in UNFINISHED:
        return resume(executor, actor, roll_back=True)
    last_good = next((r for r in journal.history(service.name) if r.state == states.RELEASED), None)
    if last_good is None:
        raise UsageError(f"{service.name}: no released release to roll back")
    release_id = new_release_id(executor.clock())

    def body(lease):
        observed = executor.target.observe()
        warm = False
        if list(observed.colors) != ["main"]:
            previous = "green" if observed.live_color() == "blue" else "blue"
            state = observed.colors[previous]
            warm = state.desired_count > 0 and state.task_definition == last_good.from_revision and executor.target.healthy(previous) >= 1
        plan = plan_manual_rollback(service, observed, last_good.from_revision, warm, service.release.keep_previous)
        record = ReleaseRecord(
            id=release_id, service=service.name, strategy="rollback", image=f"(back to {last_good.from_revision})",
            actor=actor, started_at=executor.clock(), plan=plan.to_dict(), live=plan.live, target=plan.target,
            from_revision=last_good.to_revision, to_revision=last_good.from_revision, fence=lease.token,
        )
        journal.save(record)
        return executor.run(plan, record, lease)

    return _run_locked(executor, journal, actor, release_id, body)


def send(journal: Journal, service: str, command: str) -> ReleaseRecord:
    """promote / abort a paused (or running) release, from any machine."""
    latest = journal.latest(service)
    if latest is None or latest.state not in (states.RUNNING, states.PAUSED):
        raise UsageError(f"{service}: no running release to {command}")
    journal.send_command(service, latest.id, command)
    return latest


def tidy(executor: Executor, actor: str) -> list[str]:
    """Scale down warm previous colors whose keep_previous has passed."""
    journal = executor.journal
    service = executor.service
    latest = journal.latest(service.name)
    if not latest or latest.state != states.RELEASED or not latest.scale_down_color or latest.scale_down_at is None:
        return []
    if executor.clock() < latest.scale_down_at:
        return []
    color = latest.scale_down_color

    def body(lease):
        observed = executor.target.observe()
        if observed.live_color() == color or observed.colors[color].desired_count == 0:
            return []
        executor.target.scale(color, 0)
        return [color]

    return _run_locked(executor, journal, actor, new_release_id(executor.clock()), body)


def status(executor: Executor) -> dict:
    service = executor.service
    observed = executor.target.observe()
    colors = {}
    for color, state in observed.colors.items():
        try:
            healthy = executor.target.healthy(color)
        except Exception:  # noqa: BLE001 - status must show what it can
            healthy = None
        colors[color] = {"task_definition": state.task_definition, "desired": state.desired_count, "weight": state.weight, "healthy": healthy}
    latest = executor.journal.latest(service.name)
    holder = executor.journal.holder(service.name)
    return {
        "service": service.name,
        "colors": colors,
        "latest": latest.summary() if latest else None,
        "lock": {"holder": holder.holder, "release_id": holder.release_id, "expires_at": holder.expires_at} if holder else None,
    }


def desired_count_of(plan: Plan) -> int:
    for step in plan.steps:
        if isinstance(step, DeployColor):
            return step.desired_count
    return 0
