"""The executor: runs a plan's steps against a service, journals each one, rolls back on failure.

It decides nothing the planner or the gates did not: a failed gate, a failed deployment or an
AWS error leads to the rollback steps `plan_rollback` gives for where the release stands.
Every wait polls with the injected `sleep` (which returns early when a stop is requested) and
renews the lock's lease; every traffic change is read back before the release goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from deployer.errors import DeployerError, InconsistentState, Interrupted, RolledBack
from deployer.release import record as states
from deployer.release.failures import HandedOver, StepFailed, StopRequested, Why
from deployer.release.handlers import HANDLERS
from deployer.release.journal import Journal, Lease, LostLock
from deployer.release.native_plan import is_native
from deployer.release.plan import Plan, other, plan_rollback
from deployer.release.ports import Probe, Progress, Target
from deployer.release.probe import http_probe
from deployer.release.record import ReleaseRecord
from deployer.release.steps import NEW_REVISION, DeployColor, Promote, ShiftTraffic, step_from_dict
from deployer.spec import Service

__all__ = ["Executor", "Settings", "RecordNotWritten", "StepFailed", "LEASE_SECONDS", "resume_index"]


class RecordNotWritten(InconsistentState):
    """Traffic is safe, but the release record could not be written: it does not tell the truth."""


# A dead runner holds its service (and any traffic split) until its lease expires, so the lease is
# short and renewed often: 20 s, renewed every 5 s (one conditional PutItem each).
LEASE_SECONDS = 20.0
HEARTBEATS_PER_LEASE = 4


@dataclass
class Settings:
    poll: float = 5.0  # seconds between polls
    lease: float = LEASE_SECONDS  # lock lease; renewed every lease / HEARTBEATS_PER_LEASE
    metrics_delay: float = 0.0  # seconds CloudWatch needs before a closed period is complete
    healthy_timeout: float | None = None  # default: from the health check settings
    wait_for_lock: float = 0.0  # how long to wait for another runner's lock (or its dead lease) to go
    check_proxy: str | None = None  # HTTP proxy for pre-traffic checks (DEPLOYER_HTTP_PROXY): a test listener inside the VPC


@dataclass
class Executor:
    service: Service
    target: Target
    journal: Journal
    progress: Progress
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    stop_requested: Callable[[], bool] = lambda: False
    settings: Settings = field(default_factory=Settings)
    probe: Probe | None = None  # the pre-traffic check's GET; default: HTTP through settings.check_proxy

    # set per run
    record: ReleaseRecord = field(init=False, default=None)
    plan: Plan = field(init=False, default=None)
    lease: Lease = field(init=False, default=None)
    _last_heartbeat: float = field(init=False, default=0.0)
    expected: dict = field(init=False, default_factory=dict)  # color -> the revision it should run
    shifted_at: float = field(init=False, default=0.0)  # when traffic last moved: gate windows start there
    fail_at: float | None = field(init=False, default=None)  # when a verdict failed: the restore is timed from it
    _unsaved: DeployerError | None = field(init=False, default=None)  # the last record write that failed
    _rolling_back: bool = field(init=False, default=False)
    resumed: bool = field(init=False, default=False)  # the record was begun by another run
    last_gate: tuple | None = field(init=False, default=None)  # (window, verdict): closed periods read the same again
    latency_reference: tuple[str, float] | None = field(init=False, default=None)  # (canary, the baseline's p99 ms)
    looks: tuple = field(init=False, default=((), 0))  # ((canary, window start), reads of that window so far)
    hand_over_at: float | None = field(init=False, default=None)  # the guard's slice: past it, the run hands over

    # ------------------------------------------------------------------ running
    def __post_init__(self) -> None:
        if self.probe is None:
            self.probe = http_probe(self.settings.check_proxy)

    def _begin(self, plan: Plan, record: ReleaseRecord, lease: Lease, resumed: bool = True) -> None:
        self.plan, self.record, self.lease = plan, record, lease
        self._last_heartbeat = self.clock()
        record.fence = lease.token
        self.shifted_at = record.shifted_at or 0.0
        self._unsaved = None
        self._rolling_back = False
        self.resumed = resumed
        self.last_gate = None
        self.latency_reference = None
        self.looks = ((), 0)

    def attach(self, plan: Plan, record: ReleaseRecord, lease: Lease) -> None:
        """Act on `record` under `lease` without running it (the judge function: one decision per call)."""
        self._begin(plan, record, lease)

    def run(self, plan: Plan, record: ReleaseRecord, lease: Lease, *, resumed: bool = True) -> ReleaseRecord:
        """Run from `record.step_index` to the end; roll back on failure. Returns the final record.
        `resumed=False` only for a record this run created: nothing of it can have happened yet."""
        self._begin(plan, record, lease, resumed)
        if record.state == states.ROLLING_BACK:  # a runner died while rolling back: finish that rollback
            return self._roll_back(record.reason, "")
        try:
            if record.state == states.INTERRUPTED:
                record.step_index = resume_index(plan, record.step_index)
                record.step_started_at = None
                self.note(record.step_index, f"resumed at step {record.step_index + 1}")
            record.state = states.RUNNING
            self.save()
            total = len(plan.steps)
            for index in range(record.step_index, total):
                self._check_stop()
                self.heartbeat_if_due()
                step = plan.steps[index]
                self._hand_over_if_due()
                self.progress.step(index + 1, total, step.describe())
                if record.step_started_at is None:
                    record.step_started_at = self.clock()
                    self.note(index, f"start {step.describe()}")
                else:  # taken over mid-step: it goes on from when it began
                    self.note(index, f"go on with {step.describe()}")
                HANDLERS[type(step)](self, step, index)
                record.step_index = index + 1
                record.step_started_at = None
                self.save()
            record.state = states.RELEASED
            record.finished_at = self.clock()
            self.note(None, "released")
            self.save()
            return record
        except StepFailed as failure:
            return self._roll_back(failure.reason, failure.detail)
        except HandedOver:
            self.save()  # still running: the judge function, or the guard's next run, carries it on
            return record
        except StopRequested:
            self._restore_after_interrupt()
            hint = f"`deployer resume {self.service.name}` continues, `deployer rollback {self.service.name}` undoes"
            if is_native(plan):
                raise Interrupted(f"{self.service.name}: interrupted; ECS holds its deployment at the next judged stage "
                                  f"until its hook timeout ({self.service.release.ecs_options.on_hook_timeout} then)", hint=hint) from None
            raise Interrupted(f"{self.service.name}: interrupted; traffic is on {self._stable_color()}", hint=hint) from None
        except LostLock:
            raise
        except DeployerError as error:
            return self._roll_back(Why.ERROR, error.message)

    def roll_back(self, plan: Plan, record: ReleaseRecord, lease: Lease, reason: str, detail: str) -> ReleaseRecord:
        """Roll an unfinished release back from where it stands (resume --rollback, rollback)."""
        self._begin(plan, record, lease)
        return self._roll_back(reason, detail)

    def _roll_back(self, reason: str, detail: str) -> ReleaseRecord:
        """Traffic first, bookkeeping second: a record write that fails does not stop the rollback."""
        record = self.record
        self._rolling_back = True
        if record.state != states.ROLLING_BACK:
            steps = plan_rollback(self.plan, record.step_index, record.from_revision, self._previous_count())
            record.rollback_steps = [s.to_dict() for s in steps]
            record.rollback_index = 0
            record.state = states.ROLLING_BACK
            record.reason = f"{reason}: {detail}"
            self.note(record.step_index, f"rolling back ({reason}): {detail}")
            self._save_quietly()
        self.progress.line(f"rolling back: {record.reason}")
        try:
            steps = [step_from_dict(d) for d in record.rollback_steps]
            for index in range(record.rollback_index, len(steps)):
                step = steps[index]
                self.progress.line(f"  rollback {index + 1}/{len(steps)}: {step.describe()}")
                HANDLERS[type(step)](self, step, None, rollback=True)
                record.rollback_index = index + 1
                self._save_quietly()
        except LostLock:
            raise
        except (DeployerError, StepFailed) as error:
            record.state = states.FAILED
            record.finished_at = self.clock()
            detail = getattr(error, "message", None) or getattr(error, "detail", str(error))
            self.note(None, f"rollback failed: {detail}")
            self._save_quietly()
            raise InconsistentState(f"{self.service.name}: rollback failed: {detail}",
                                    hint=f"check `deployer status {self.service.name}`; traffic may need a manual fix") from None
        if not self.plan.in_place:
            record.live = self.plan.live  # a rollback after the promotion puts the previous color back live
            record.scale_down_at, record.scale_down_color = None, ""
        record.state = states.ROLLED_BACK
        record.finished_at = self.clock()
        self.note(None, "rolled back")
        self._save_quietly()
        self._raise_if_unsaved(f"traffic is back on {self._stable_color()}" if not self.plan.in_place
                               else "the service is back on its previous revision")
        raise RolledBack(f"{self.service.name}: release {record.id} rolled back: {record.reason}")

    def _restore_after_interrupt(self) -> None:
        """Stop shifting; put all traffic on the stable color; record the interruption."""
        record = self.record
        if not self.plan.in_place and not is_native(self.plan) and record.state != states.ROLLING_BACK:
            stable = self._stable_color()
            weights = {stable: 100, other(stable): 0}
            try:
                if self.target.weights() != weights:
                    record.weights = self.target.set_weights(weights)
            except DeployerError as error:
                self.note(record.step_index, f"could not restore traffic: {error.message}")
        record.state = states.INTERRUPTED
        self.note(record.step_index, "interrupted; traffic on the stable color")
        self._save_quietly()
        self._raise_if_unsaved(f"interrupted; traffic is on {self._stable_color()}")

    def _stable_color(self) -> str:
        return self.record.live or self.plan.live

    def deploy_step(self) -> DeployColor:
        return next((s for s in self.plan.steps if isinstance(s, DeployColor)), DeployColor("main", NEW_REVISION, 0))

    def _previous_count(self) -> int:
        return self.deploy_step().desired_count or self.service.desired_count

    # ------------------------------------------------------------------ helpers
    def save(self) -> None:
        self.journal.save(self.record)
        self._unsaved = None

    def _save_quietly(self) -> None:
        """While traffic is being put back, a record write that fails (after its retries) is
        remembered, not raised: the next write may succeed, and `_raise_if_unsaved` says so at the end."""
        try:
            self.save()
        except LostLock:
            raise
        except DeployerError as error:
            self._unsaved = error
            self.progress.line(f"    could not write the release record: {error.message}")

    def _raise_if_unsaved(self, done: str) -> None:
        if self._unsaved is None:
            return
        name = self.service.name
        raise RecordNotWritten(
            f"{name}: {done}, but the release record could not be written ({self._unsaved.message}); "
            f"release {self.record.id} may still read as unfinished",
            hint=f"when DynamoDB answers again, run `deployer resume {name} --rollback`: it finds traffic "
                 f"where it is and records the outcome",
        )

    def heartbeat_if_due(self) -> None:
        now = self.clock()
        if now - self._last_heartbeat < self.settings.lease / HEARTBEATS_PER_LEASE:
            return
        try:
            self.lease = self.journal.heartbeat(self.lease, now, self.settings.lease)
        except LostLock:
            raise
        except DeployerError as error:
            if not self._rolling_back:
                raise
            self.progress.line(f"    could not renew the lock: {error.message}")  # the rollback goes on
        self._last_heartbeat = now

    def note(self, index: int | None, text: str) -> None:
        self.record.note(self.clock(), index, text)

    def _check_stop(self) -> None:
        if self.stop_requested() and not self._rolling_back:  # a rollback puts traffic back: let it finish
            raise StopRequested()

    def _hand_over_if_due(self) -> None:
        if self.hand_over_at is not None and not self._rolling_back and self.clock() >= self.hand_over_at:
            raise HandedOver()

    def wait(self, seconds: float) -> None:
        """Sleep in slices, renewing the lease, returning at once when a stop is requested."""
        end = self.clock() + seconds
        while True:
            self._check_stop()
            self._hand_over_if_due()
            self.heartbeat_if_due()
            remaining = end - self.clock()
            if remaining <= 0:
                return
            self.sleep(min(remaining, 1.0, self.settings.poll))


def resume_index(plan: Plan, step_index: int) -> int:
    """Where an interrupted release goes on: traffic went back to the stable color when it
    stopped, so a bake or gate resumes from the traffic shift it depends on."""
    if step_index >= len(plan.steps) or isinstance(plan.steps[step_index], ShiftTraffic):
        return step_index
    for index in range(step_index - 1, -1, -1):
        step = plan.steps[index]
        if isinstance(step, Promote):
            return step_index
        if isinstance(step, ShiftTraffic):
            return index
    return step_index
