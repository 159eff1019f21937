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

from deployer.errors import DeployerError, InconsistentState, Interrupted, Locked, RolledBack
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
        self.train_id = ""  # of the run this runner started
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
        self._save(record)
        for index in range(record.wave, len(plan.waves)):
            record.wave = index
            wave = [m for m in plan.waves[index] if record.members[m.service].state == states.PENDING]
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
                from deployer.release.service import run_planned

                done = run_planned(executor, member.plan, member.image, record.actor, self.leases[member.service])
                state.release_id, state.state = done.id, states.MEMBER_RELEASED
            except RolledBack as exc:
                state.state, state.reason = states.MEMBER_FAILED, _reason(executor, exc)
                first_to_fail(state)
            except Interrupted as exc:
                state.state, state.reason = states.MEMBER_STOPPED, exc.message
            except DeployerError as exc:
                state.state, state.reason = states.MEMBER_FAILED, exc.message
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
        undo = [m for m in record.members.values() if m.state == states.MEMBER_STOPPED]
        if plan.on_failure == "rollback_all":
            undo += [m for m in record.members.values() if m.state == states.MEMBER_RELEASED]
        undo.sort(key=lambda m: -m.wave)  # newest wave first: dependents before what they depend on
        broken = []
        for member in undo:
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
        for member in record.members.values():
            if member.state == states.MEMBER_RELEASED:
                member.state = states.MEMBER_KEPT
        record.finished_at = self.clock()
        record.state = states.FAILED if broken else states.ROLLED_BACK
        self._save(record)
        if broken:
            raise InconsistentState(f"train {record.train}: halted by {record.reason}; the rollback of "
                                    f"{'; '.join(broken)} failed", hint="check `deployer status SERVICE` for each")
        back = [m.service for m in record.members.values() if m.state == states.MEMBER_ROLLED_BACK]
        kept = [m.service for m in record.members.values() if m.state == states.MEMBER_KEPT]
        raise RolledBack(f"train {record.train} halted by {record.reason}" + (f"; rolled back: {', '.join(back)}" if back else "")
                         + (f"; left released: {', '.join(kept)}" if kept else ""))

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
