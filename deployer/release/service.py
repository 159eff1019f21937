"""`deployer release|resume|rollback|promote|abort|tidy|status|history`: one function each.

They wire the planner, the executor, the journal and the service target together; the CLI
renders what they return.
"""

from __future__ import annotations

from dataclasses import dataclass

from deployer.errors import DeployerError, Interrupted, Locked, RolledBack, UsageError
from deployer.release import record as states
from deployer.release.executor import Executor
from deployer.release.journal import Journal, Lease, LostLock
from deployer.release.plan import Plan, ReleaseRequest, plan_from_dict, plan_manual_rollback, spec_digest
from deployer.release.strategies import plan_release
from deployer.release.preflight import Estimate, estimate
from deployer.release.record import ReleaseRecord, new_release_id
from deployer.release.spec_snapshot import with_spec
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


class Unfinished(Locked):
    """The latest release never finished and nobody holds the lock: its runner is gone."""

    def __init__(self, message: str, *, hint: str, record: ReleaseRecord):
        super().__init__(message, hint=hint)
        self.record = record


def unfinished_error(record: ReleaseRecord) -> Locked:
    """Name the orphan, where it stopped, and the two ways out; a release the judge function carries
    on (ECS's hooks, or the guard resuming it) is no orphan: it is locked by the judge."""
    service = record.service
    if record.judge in ("lambda", "guard"):
        who = "ECS and the judge function" if record.judge == "lambda" else "the judge function's guard (on_orphan: resume)"
        return Locked(f"{service}: release {record.id} ({record.strategy} of {record.image}) is being carried on by {who}",
                      hint=f"`deployer wait {service}` follows it; `deployer rollback {service}` undoes it")
    steps = (record.plan or {}).get("steps") or []
    where = f"step {record.step_index + 1} of {len(steps)}" if steps else f"step {record.step_index + 1}"
    weights = ", ".join(f"{c} {w}%" for c, w in sorted((record.weights or {}).items()))
    return Unfinished(
        f"{service}: release {record.id} ({record.strategy} of {record.image} by {record.actor}) was left {record.state} "
        f"at {where}" + (f" with traffic {weights}" if weights else "") + "; its runner is gone",
        hint=f"`deployer rollback {service}` undoes it, `deployer resume {service}` continues it; "
             f"or add --rollback-unfinished to undo it and release",
        record=record,
    )


def _acquire(executor: Executor, journal: Journal, actor: str, release_id: str) -> Lease:
    """Take the service's lock; with `wait_for_lock`, wait (bounded) for a holder to finish or its
    lease to run out, polling with the executor's sleep so a signal stops the wait at once."""
    name = executor.service.name
    deadline = executor.clock() + executor.settings.wait_for_lock
    announced = None
    while True:
        now = executor.clock()
        try:
            return journal.acquire(name, actor, release_id, now, executor.settings.lease)
        except LostLock:
            raise
        except Locked:
            if now >= deadline:
                raise
            holder = journal.holder(name)
            if holder is not None and holder.release_id != announced:
                announced = holder.release_id
                executor.progress.line(f"waiting for the lock of {name}: held by {holder.holder} (release {holder.release_id}), "
                                       f"lease ends in {max(0.0, holder.expires_at - now):.0f} s")
            pause = (holder.expires_at - now + 0.5) if holder is not None else 1.0
            executor.sleep(max(0.2, min(pause, executor.settings.poll, deadline - now)))
            if executor.stop_requested():
                raise Interrupted(f"{name}: stopped while waiting for the lock; nothing was changed") from None


def _run_locked(executor: Executor, journal: Journal, actor: str, release_id: str, body, held: Lease | None = None):
    """`body(lease)` under the service's lock: taken here, or `held` by a caller (a train holds
    all its members' locks from its start to its end, and releases them itself)."""
    if held is not None:
        return body(held)
    lease = _acquire(executor, journal, actor, release_id)
    try:
        return body(lease)
    finally:
        journal.release(executor.lease or lease)


def start_planned(executor: Executor, plan: Plan, image: str, actor: str, lease: Lease) -> ReleaseRecord:
    """The record of a plan made a moment ago (a train's member), saved before anything changes, so
    a train's record can name the member's release before it runs."""
    service = executor.service
    record = ReleaseRecord(
        id=new_release_id(executor.clock()), service=service.name, strategy=plan.strategy, image=image, actor=actor,
        started_at=executor.clock(), plan=with_spec(plan.to_dict(), service), live=plan.live, target=plan.target, fence=lease.token,
    )
    executor.journal.save(record)
    return record


def release(executor: Executor, request: ReleaseRequest, actor: str, *, rollback_unfinished: bool = False) -> ReleaseRecord:
    """Plan and run a release. An unfinished release of the service is refused, or first rolled
    back under the same lock with `rollback_unfinished`."""
    service = executor.service
    journal = executor.journal
    release_id = new_release_id(executor.clock())

    def body(lease):
        latest = journal.latest(service.name)
        if latest and latest.state in UNFINISHED:
            if not rollback_unfinished or latest.judge in ("lambda", "guard"):
                raise unfinished_error(latest)
            executor.progress.line(f"rolling back unfinished release {latest.id} first")
            try:
                executor.roll_back(stored_plan(executor, latest), latest, lease, "asked", f"rollback asked by {actor} before a new release")
            except RolledBack:
                pass
            lease = executor.lease or lease
        plan = plan_release(service, executor.target.observe(), request)
        record = ReleaseRecord(
            id=release_id, service=service.name, strategy=plan.strategy, image=request.image, actor=actor,
            started_at=executor.clock(), plan=with_spec(plan.to_dict(), service), live=plan.live, target=plan.target, fence=lease.token,
        )
        journal.save(record)
        return executor.run(plan, record, lease, resumed=False)

    return _run_locked(executor, journal, actor, release_id, body)


def _no_unfinished(service: str, latest: ReleaseRecord | None) -> UsageError:
    return UsageError(f"{service}: no unfinished release to resume" + (f" (last: {latest.id} {latest.state})" if latest else ""))


def stored_plan(executor: Executor, record: ReleaseRecord) -> Plan:
    """The plan the release was started with: `resume`, `rollback` and `abort` act on it, never on
    deployer.yaml as it is now (one line says so when the spec changed since)."""
    plan = plan_from_dict(record.plan, executor.service)
    if not plan.spec_digest:
        executor.progress.line(f"release {record.id} was planned by an older deployer: its limits come from deployer.yaml as it is now")
    elif plan.spec_digest != spec_digest(executor.service):
        executor.progress.line(f"deployer.yaml changed since release {record.id} was planned; it goes on with the plan it stored")
    return plan


def continue_release(executor: Executor, latest: ReleaseRecord, lease: Lease, actor: str, roll_back: bool) -> ReleaseRecord:
    """Go on with an unfinished release from where its record stopped (or roll it back), on its stored plan."""
    plan = stored_plan(executor, latest)
    if roll_back and latest.state != states.ROLLING_BACK:
        return executor.roll_back(plan, latest, lease, "asked", f"rollback asked by {actor}")
    return executor.run(plan, latest, lease)


def resume(executor: Executor, actor: str, *, roll_back: bool = False) -> ReleaseRecord:
    """Continue (or roll back) the unfinished release, read again once the lock is ours: the
    runner we may have waited for can have finished it meanwhile."""
    service = executor.service
    journal = executor.journal
    latest = journal.latest(service.name)
    holder = journal.holder(service.name)
    if (latest is None or latest.state not in UNFINISHED) and (holder is None or holder.expires_at <= executor.clock()):
        raise _no_unfinished(service.name, latest)  # nothing to resume, and nobody who could be making one

    def body(lease):
        current = journal.latest(service.name)
        if current is None or current.state not in UNFINISHED:
            raise _no_unfinished(service.name, current)
        return continue_release(executor, current, lease, actor, roll_back)

    return _run_locked(executor, journal, actor, latest.id if latest else new_release_id(executor.clock()), body)


def rollback(executor: Executor, actor: str, held: Lease | None = None) -> ReleaseRecord:
    """Unfinished release: roll it back. Finished: switch back to the warm color, else redeploy."""
    service = executor.service
    journal = executor.journal
    release_id = new_release_id(executor.clock())

    def body(lease):
        latest = journal.latest(service.name)
        if latest and latest.state in UNFINISHED:
            return continue_release(executor, latest, lease, actor, roll_back=True)
        last_good = next((r for r in journal.history(service.name) if r.state == states.RELEASED), None)
        if last_good is None:
            raise UsageError(f"{service.name}: no released release to roll back")
        observed = executor.target.observe()
        warm = False
        if list(observed.colors) != ["main"] and not service.release.native:
            previous = "green" if observed.live_color() == "blue" else "blue"
            state = observed.colors[previous]
            warm = state.desired_count > 0 and state.task_definition == last_good.from_revision and executor.target.healthy(previous) >= 1
        plan = plan_manual_rollback(service, observed, last_good.from_revision, warm, service.release.keep_previous)
        record = ReleaseRecord(
            id=release_id, service=service.name, strategy="rollback", image=f"(back to {last_good.from_revision})",
            actor=actor, started_at=executor.clock(), plan=with_spec(plan.to_dict(), service), live=plan.live, target=plan.target,
            from_revision=last_good.to_revision, to_revision=last_good.from_revision, fence=lease.token,
        )
        journal.save(record)
        return executor.run(plan, record, lease, resumed=False)

    return _run_locked(executor, journal, actor, release_id, body, held)


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
    groups = service.target_colors if service.release.native else ()
    for color, state in observed.colors.items():
        try:
            # engine ecs: one service whose tasks are in either target group
            healthy = sum(executor.target.healthy(g) for g in groups) if groups else executor.target.healthy(color)
        except Exception:  # noqa: BLE001 - status must show what it can
            healthy = None
        colors[color] = {"task_definition": state.task_definition, "desired": state.desired_count, "weight": state.weight, "healthy": healthy}
    latest = executor.journal.latest(service.name)
    holder = executor.journal.holder(service.name)
    extra = {"ecs_deployment": ecs_deployment_status(executor)} if service.release.native else {}
    return {
        "service": service.name,
        "colors": colors,
        **extra,
        "latest": latest.summary() if latest else None,
        "lock": {"holder": holder.holder, "release_id": holder.release_id, "expires_at": holder.expires_at} if holder else None,
    }


def ecs_deployment_status(executor: Executor) -> dict | None:
    """engine ecs: ECS's deployment of the service now (its stage, hooks waiting, weights), or None."""
    target = executor.target
    try:
        arn = target.current_deployment()
        if not arn:
            return None
        found = target.deployment(arn)
    except DeployerError as error:  # status shows what it can
        return {"arn": "", "status": "unknown", "stage": "", "status_reason": error.message, "target_groups": {},
                "awaiting_hook": None, "triggered_alarms": []}
    waiting = found.awaiting()
    return {"arn": arn, "status": found.status, "stage": found.stage, "status_reason": found.status_reason,
            "target_groups": target.weights() if executor.service.target_colors != ("main",) else {},
            "awaiting_hook": waiting.hook_id if waiting else None, "triggered_alarms": list(found.triggered_alarms)}


def desired_count_of(plan: Plan) -> int:
    for step in plan.steps:
        if isinstance(step, DeployColor):
            return step.desired_count
    return 0
