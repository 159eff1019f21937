"""Run a train: take every member's lock, release the waves in order, halt on the first failure.

- Locks: all members' locks are taken in one fixed order (sorted names) before anything changes,
  and held to the end: two trains sharing a member cannot deadlock, and the second one refuses
  at once naming the holder (exit 6). The train renews every lease while it waits.
- A wave's members run in parallel (at most `max_parallel`), each with its own executor, plan,
  gates and record. A member's FAIL sets the wave's halt: the others stop at their next poll with
  traffic back on their stable color (the executor's own interruption path), and the train
  applies `on_failure`: the halted members are rolled back (their traffic is already safe), and
  with `rollback_all` every released member too, newest wave first (one traffic call each while
  its previous color is warm); with `stop` released members stay released.
- A signal stops every running member the same way, within the same budget as one release, and
  leaves the train interrupted.
The train's record (deployer.train.record) says which member stopped it and why.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

from deployer.errors import DeployerError, InconsistentState, Interrupted, Locked, RolledBack, UsageError
from deployer.release import record as release_states
from deployer.release.journal import Journal, Lease
from deployer.release.record import new_release_id
from deployer.train import record as states
from deployer.train.plan import TrainPlan
from deployer.train.record import MemberState, TrainRecord

MakeExecutor = Callable[[str, Callable[[], bool]], "object"]  # (service, stop_requested) -> Executor


@dataclass
class TrainSettings:
    lease: float = 20.0
    renew_every: float = 5.0  # real seconds between the train's own lease renewals


class TrainRunner:
    def __init__(self, journal: Journal, make_executor: MakeExecutor, progress, clock: Callable[[], float],
                 sleep: Callable[[float], None], stop_requested: Callable[[], bool], settings: TrainSettings | None = None):
        self.journal = journal
        self.make_executor = make_executor
        self.progress = progress
        self.clock = clock
        self.sleep = sleep
        self.stop_requested = stop_requested
        self.settings = settings or TrainSettings()
        self.leases: dict[str, Lease] = {}
        self.train_id = ""  # of the run this runner started (or resumed)
        self.began = False  # whether this runner changed anything (else an error is only a refusal)
        self.continuing: dict[str, object] = {}  # service -> its unfinished release record, to go on with
        self.halted_by = ""  # the member whose failure halted the train
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ locks
    def acquire_all(self, members: list[str], actor: str, train_id: str) -> None:
        """Every member's lock, in sorted order; on the first one held by someone else, give back
        what was taken and refuse, naming that holder."""
        try:
            for service in sorted(members):
                self.leases[service] = self.journal.acquire(service, actor, train_id, self.clock(), self.settings.lease)
        except Locked as exc:
            self.release_all()
            raise Locked(f"train: {exc.message}", hint=exc.hint) from None

    def renew_all(self) -> None:
        now = self.clock()
        with self._lock:
            for service, lease in list(self.leases.items()):
                self.leases[service] = self.journal.heartbeat(lease, now, self.settings.lease)

    def release_all(self) -> None:
        for lease in self.leases.values():
            self.journal.release(lease)
        self.leases = {}

    # ------------------------------------------------------------------ running
    def run(self, plan: TrainPlan, record: TrainRecord) -> TrainRecord:
        """Run the waves from record.wave on; returns the record (released), or raises RolledBack
        (a member failed; on_failure applied), Interrupted or InconsistentState."""
        self.began = True
        self._save(record)
        failed = [m for m in record.members.values() if m.state == states.MEMBER_FAILED]
        if failed:  # resumed after a runner died between a member's failure and the train's halt
            return self._after_failure(plan, record, failed[0])
        for index in range(record.wave, len(plan.waves)):
            record.wave = index
            wave = [m for m in plan.waves[index]
                    if record.members[m.service].state == states.PENDING or m.service in self.continuing]
            if index and plan.bake_between and wave:
                self._bake_between(plan, record, index)
            self._line(f"wave {index + 1} of {len(plan.waves)}: {', '.join(m.service for m in plan.waves[index])}")
            self._run_wave(plan, record, wave)
            failed = [m for m in record.members.values() if m.state == states.MEMBER_FAILED]
            if failed:
                first = record.members.get(self.halted_by) or failed[0]
                return self._after_failure(plan, record, first)
            if any(m.state == states.MEMBER_STOPPED for m in record.members.values()):
                record.state = states.INTERRUPTED
                record.reason = "stopped by a signal: traffic is back on each running member's stable color"
                record.note(self.clock(), record.reason)
                self._save(record)
                raise Interrupted(f"train {record.train}: interrupted in wave {index + 1}; traffic is back on each member's stable color")
        record.state = states.RELEASED
        record.finished_at = self.clock()
        record.note(self.clock(), "released: every member")
        self._save(record)
        return record

    def _bake_between(self, plan: TrainPlan, record: TrainRecord, index: int) -> None:
        self._line(f"wave {index} released; baking {plan.bake_between} s before wave {index + 1}")
        end = self.clock() + plan.bake_between
        while self.clock() < end:
            if self.stop_requested():
                record.state = states.INTERRUPTED
                record.reason = f"stopped by a signal while baking before wave {index + 1}"
                record.note(self.clock(), record.reason)
                self._save(record)
                raise Interrupted(f"train {record.train}: {record.reason}; the released members stay released")
            self.sleep(min(1.0, end - self.clock()))
            self.renew_all()

    def _run_wave(self, plan: TrainPlan, record: TrainRecord, wave) -> None:
        halt = threading.Event()

        def stop() -> bool:
            return halt.is_set() or self.stop_requested()

        def first_to_fail(state: MemberState) -> None:
            """The member whose failure halts the wave: the first in time, whatever the members' order."""
            with self._lock:
                if not halt.is_set():
                    halt.set()
                    self.halted_by = state.service

        def one(member) -> None:
            state = record.members[member.service]
            executor = self.make_executor(member.service, stop)
            state.state = states.MEMBER_RUNNING
            try:
                from deployer.release.service import continue_release, start_planned

                lease = self.leases[member.service]
                unfinished = self.continuing.pop(member.service, None)
                if unfinished is not None:
                    done = continue_release(executor, unfinished, lease, record.actor, roll_back=False)
                else:
                    started = start_planned(executor, member.plan, member.image, record.actor, lease)
                    state.release_id = started.id
                    self._save(record)  # the train names the member's release before it changes anything
                    done = executor.run(member.plan, started, lease, resumed=False)
                state.release_id = done.id
                state.state = states.MEMBER_RELEASED if done.state == release_states.RELEASED else states.MEMBER_FAILED
            except RolledBack as exc:
                state.state, state.reason = states.MEMBER_FAILED, _reason(executor, exc)
                first_to_fail(state)
            except Interrupted as exc:
                state.state, state.reason = states.MEMBER_STOPPED, exc.message
            except DeployerError as exc:
                state.state, state.reason = states.MEMBER_FAILED, exc.message
                first_to_fail(state)
            except Exception as exc:  # noqa: BLE001 - a member's bug must halt the train, not vanish in its thread
                state.state, state.reason = states.MEMBER_FAILED, f"unexpected error: {exc!r}"
                first_to_fail(state)
            finally:
                if executor.record is not None:
                    state.release_id = executor.record.id
                if executor.lease is not None:
                    with self._lock:
                        self.leases[member.service] = executor.lease
            record.note(self.clock(), f"{member.service}: {state.state}" + (f" ({state.reason})" if state.reason else ""))

        with ThreadPoolExecutor(max_workers=plan.max_parallel, thread_name_prefix=f"train-{record.train}") as pool:
            pending = {pool.submit(one, m) for m in wave}
            while pending:
                _, pending = wait(pending, timeout=self.settings.renew_every, return_when=FIRST_COMPLETED)
                self._save(record)
                if pending:
                    self.renew_all()

    def _after_failure(self, plan: TrainPlan, record: TrainRecord, failed: MemberState) -> TrainRecord:
        record.reason = f"{failed.service}: {failed.reason}"
        record.note(self.clock(), f"halted: {record.reason}")
        self._line(f"train halted by {failed.service}: {failed.reason}")
        undo = [m for m in record.members.values() if m.state == states.MEMBER_STOPPED
                or (m.state == states.MEMBER_FAILED and self._left_unfinished(m))]
        if plan.on_failure == "rollback_all":
            undo += [m for m in record.members.values() if m.state == states.MEMBER_RELEASED]
        broken = self.undo(record, undo)
        for member in record.members.values():
            if member.state == states.MEMBER_RELEASED:
                member.state = states.MEMBER_KEPT
        self._finish(record, broken, f"halted by {record.reason}")
        back = [m.service for m in record.members.values() if m.state == states.MEMBER_ROLLED_BACK]
        kept = [m.service for m in record.members.values() if m.state == states.MEMBER_KEPT]
        raise RolledBack(f"train {record.train} halted by {record.reason}" + (f"; rolled back: {', '.join(back)}" if back else "")
                         + (f"; left released: {', '.join(kept)}" if kept else ""))

    def undo(self, record: TrainRecord, members: list[MemberState]) -> list[str]:
        """Roll members back, newest wave first (dependents before what they depend on): an unfinished
        release is rolled back on its stored plan, a released one switched back to its warm color (one
        traffic call) or redeployed. Returns what could not be put right."""
        broken = []
        for member in sorted(members, key=lambda m: -m.wave):
            self._line(f"rolling back {member.service} ({member.state})")
            executor = self.make_executor(member.service, self.stop_requested)
            try:
                from deployer.release.service import rollback

                rollback(executor, record.actor, self.leases[member.service])
            except RolledBack:
                pass
            except DeployerError as exc:
                broken.append(f"{member.service}: {exc.message}")
                member.reason = exc.message
                continue
            finally:
                if executor.lease is not None:
                    self.leases[member.service] = executor.lease
            member.state = states.MEMBER_ROLLED_BACK
            record.note(self.clock(), f"{member.service}: rolled back by the train")
            self._save(record)
        return broken

    def _left_unfinished(self, member: MemberState) -> bool:
        """A failed member whose release never finished (an unexpected error): it is rolled back too."""
        from deployer.release.service import UNFINISHED

        own = self.journal.load(member.service, member.release_id) if member.release_id else None
        return own is not None and own.state in UNFINISHED

    def _finish(self, record: TrainRecord, broken: list[str], why: str) -> None:
        record.finished_at = self.clock()
        record.state = states.FAILED if broken else states.ROLLED_BACK
        self._save(record)
        if broken:
            raise InconsistentState(f"train {record.train}: {why}; the rollback of {'; '.join(broken)} failed",
                                    hint="check `deployer status SERVICE` for each")

    # ------------------------------------------------------------------ helpers
    def _save(self, record: TrainRecord) -> None:
        with self._lock:
            self.journal.save_train(record.train, record.id, record.to_json())

    def _line(self, text: str) -> None:
        with self._lock:
            self.progress.line(text)


def _reason(executor, exc: RolledBack) -> str:
    """The member's rollback reason as its record says it (reason: detail), else the error."""
    record = getattr(executor, "record", None)
    return record.reason if record is not None and record.reason else exc.message


def new_train_record(plan: TrainPlan, actor: str, now: float, train_id: str) -> TrainRecord:
    """The record of a new run: the plan without the members' own plans (their records hold those)."""
    members = {m.service: MemberState(m.service, m.wave, m.image) for m in plan.members}
    summary = {k: v for k, v in plan.to_dict().items() if k != "waves"}
    summary["waves"] = [[{k: v for k, v in m.items() if k != "plan"} for m in wave] for wave in plan.to_dict()["waves"]]
    return TrainRecord(id=train_id, train=plan.name, actor=actor, started_at=now, plan=summary, members=members)


PlanMember = Callable[[str, str], "tuple[object, int]"]  # (service, image) -> (its release plan, estimated seconds)


def plan_train(name: str, train, images: dict[str, str], plan_member: PlanMember) -> TrainPlan:
    """The train's plan: every member planned against its service as it is now (read only)."""
    from deployer.train.plan import build

    plans = {member: plan_member(member, images[member]) for member in train.members}
    return build(name, train.order(), images, plans, train.bake_between, train.max_parallel, train.on_failure)


def release(runner: TrainRunner, name: str, train, images: dict[str, str], actor: str, plan_member: PlanMember) -> TrainRecord:
    """Lock every member, refuse over an unfinished release of any, plan, run; locks given back at the end."""
    from deployer.release.service import UNFINISHED, unfinished_error

    train_id = runner.train_id = new_release_id(runner.clock())
    runner.acquire_all(train.members, actor, train_id)
    try:
        for member in train.members:
            latest = runner.journal.latest(member)
            if latest is not None and latest.state in UNFINISHED:
                raise unfinished_error(latest)
        plan = plan_train(name, train, images, plan_member)
        return runner.run(plan, new_train_record(plan, actor, runner.clock(), train_id))
    finally:
        runner.release_all()


# ---------------------------------------------------------------------- resume and rollback
def latest_run(journal: Journal, name: str) -> TrainRecord | None:
    history = journal.train_history(name, 1)
    return TrainRecord.from_json(history[0]) if history else None


def _locked_run(runner: TrainRunner, name: str, actor: str, wanted: str):
    """The train's latest run, read again once every member's lock is ours (its runner may have
    finished it while we waited), or a usage error naming what there is."""
    record = latest_run(runner.journal, name)
    if record is None:
        raise UsageError(f"train {name}: no runs yet; nothing to {wanted}")
    runner.train_id = record.id
    runner.acquire_all(list(record.members), actor, record.id)
    again = latest_run(runner.journal, name)
    if again is None or again.id != record.id:
        runner.release_all()
        raise UsageError(f"train {name}: a new run ({again.id if again else '?'}) started meanwhile; nothing to {wanted}")
    return again


def reconcile(journal: Journal, record: TrainRecord) -> dict[str, object]:
    """Each member's state from its own release record, which is written first: a runner that died
    can have left the train's record a step behind. Returns the members whose release is
    unfinished (service -> its record), to go on with or to roll back."""
    from deployer.release.service import UNFINISHED

    unfinished = {}
    for member in record.members.values():
        if not member.release_id or member.state in (states.PENDING, states.MEMBER_ROLLED_BACK):
            continue
        own = journal.load(member.service, member.release_id)
        if own is None:
            continue
        if own.state in UNFINISHED:
            unfinished[member.service] = own
            member.state = states.MEMBER_STOPPED
        elif own.state == release_states.RELEASED and member.state in (states.MEMBER_RUNNING, states.MEMBER_STOPPED):
            member.state = states.MEMBER_RELEASED
        elif own.state != release_states.RELEASED and member.state in (states.MEMBER_RUNNING, states.MEMBER_STOPPED):
            member.state, member.reason = states.MEMBER_FAILED, own.reason or own.state
    return unfinished


def stored_train_plan(runner: TrainRunner, record: TrainRecord, plan_member: PlanMember) -> TrainPlan:
    """The plan a resumed run goes on with: the order, images and settings its record stored; the
    members that have not started planned against their service as it is now, the others on the
    plan their own release stored."""
    from deployer.release.preflight import estimate
    from deployer.release.service import stored_plan
    from deployer.train.plan import build

    stored = record.plan
    order = [[m["service"] for m in wave] for wave in stored["waves"]]
    images = {name: member.image for name, member in record.members.items()}
    plans = {}
    for name, member in record.members.items():
        if member.state == states.PENDING or not member.release_id:
            plans[name] = plan_member(name, member.image)
            continue
        executor = runner.make_executor(name, runner.stop_requested)
        plan = stored_plan(executor, runner.journal.load(name, member.release_id))
        plans[name] = (plan, estimate(executor.service, plan).seconds)
    return build(record.train, order, images, plans, stored["bake_between"], stored["max_parallel"], stored["on_failure"])


def resume(runner: TrainRunner, name: str, actor: str, plan_member: PlanMember) -> TrainRecord:
    """Go on with the train's unfinished run (its runner was interrupted or is gone) from its record:
    the members left mid-release continue on their stored plans, the pending ones start, and a
    halt that was under way is finished."""
    record = _locked_run(runner, name, actor, "resume")
    try:
        if record.state not in states.UNFINISHED:
            raise UsageError(f"train {name}: no unfinished run to resume (last: {record.id} {record.state})")
        runner.continuing = reconcile(runner.journal, record)
        plan = stored_train_plan(runner, record, plan_member)
        record.state, record.reason = states.RUNNING, ""
        record.note(runner.clock(), f"resumed by {actor}")
        runner._line(f"resuming train {name} {record.id} at wave {record.wave + 1}"
                     + (f"; continuing {', '.join(sorted(runner.continuing))}" if runner.continuing else ""))
        return runner.run(plan, record)
    finally:
        runner.release_all()


UNDOABLE = (states.MEMBER_RELEASED, states.MEMBER_KEPT, states.MEMBER_RUNNING, states.MEMBER_STOPPED)


def roll_back(runner: TrainRunner, name: str, actor: str) -> TrainRecord:
    """Roll back the train's latest run: every member it released or left mid-release, newest wave
    first, each one traffic call while its previous color is warm. Refused, before anything
    changes, when a member was released again since (that release is not the train's to undo)."""
    record = _locked_run(runner, name, actor, "roll back")
    try:
        unfinished = reconcile(runner.journal, record)
        undo = [m for m in record.members.values() if m.state in UNDOABLE or m.service in unfinished]
        if not undo:
            raise UsageError(f"train {name}: run {record.id} ({record.state}) left nothing to roll back")
        for member in undo:
            latest = runner.journal.latest(member.service)
            if latest is not None and latest.id != member.release_id:
                raise UsageError(f"train {name}: {member.service} was released since this train ({latest.strategy} "
                                 f"{latest.id} by {latest.actor}, {latest.state}); nothing was rolled back",
                                 hint=f"`deployer rollback {member.service}` undoes that release on its own")
        asked = f"rollback asked by {actor}"
        record.reason = f"{record.reason}; {asked}" if record.reason else asked
        record.note(runner.clock(), asked)
        runner.began = True
        runner._line(f"rolling back train {name} {record.id}: {', '.join(m.service for m in undo)}")
        runner._finish(record, runner.undo(record, undo), asked)
        return record
    finally:
        runner.release_all()
