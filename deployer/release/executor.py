"""The executor: runs a plan's steps against a service, journals each one, rolls back on failure.

It decides nothing the planner or the gates did not: a failed gate, a failed deployment or an
AWS error leads to the rollback steps `plan_rollback` gives for where the release stands.
Every wait polls with the injected `sleep` (which returns early when a stop is requested) and
renews the lock's lease; every traffic change is read back before the release goes on.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Protocol

from deployer.errors import DeployerError, InconsistentState, Interrupted, RolledBack, TimedOut
from deployer.release import record as states
from deployer.release.gates import Outcome, Reason, Verdict, WindowStats, alarm_verdict, verdict
from deployer.release.journal import Journal, Lease, LostLock
from deployer.release.plan import Plan, other, plan_rollback
from deployer.release.record import ReleaseRecord, iso
from deployer.release.steps import (
    NEW_REVISION,
    Bake,
    DeployColor,
    Gate,
    GateLimits,
    Pause,
    PointTestListener,
    PreTrafficCheck,
    Promote,
    RegisterTaskDefinition,
    ScaleDown,
    ShiftTraffic,
    Step,
    WaitHealthy,
    WatchRollout,
    short,
    step_from_dict,
)
from deployer.spec import Service


class Progress(Protocol):
    def line(self, text: str) -> None: ...

    def step(self, index: int, total: int, text: str) -> None: ...

    def verdict(self, step: str, data: dict) -> None: ...


class StepFailed(Exception):
    """A step decided the release cannot go on; `reason` is a named reason, `detail` the numbers."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class StopRequested(Exception):
    pass


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
    target: object  # ServiceTarget or a fake with the same methods
    journal: Journal
    progress: Progress
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    stop_requested: Callable[[], bool] = lambda: False
    settings: Settings = field(default_factory=Settings)

    # set per run
    record: ReleaseRecord = field(init=False, default=None)
    plan: Plan = field(init=False, default=None)
    lease: Lease = field(init=False, default=None)
    _last_heartbeat: float = field(init=False, default=0.0)
    _expected: dict = field(init=False, default_factory=dict)
    _shifted_at: float = field(init=False, default=0.0)
    _fail_at: float | None = field(init=False, default=None)
    _unsaved: DeployerError | None = field(init=False, default=None)  # the last record write that failed
    _rolling_back: bool = field(init=False, default=False)
    _resumed: bool = field(init=False, default=False)  # the record was begun by another run

    # ------------------------------------------------------------------ running
    def _begin(self, plan: Plan, record: ReleaseRecord, lease: Lease, resumed: bool = True) -> None:
        self.plan, self.record, self.lease = plan, record, lease
        self._last_heartbeat = self.clock()
        record.fence = lease.token
        self._shifted_at = record.shifted_at or 0.0
        self._unsaved = None
        self._rolling_back = False
        self._resumed = resumed

    def run(self, plan: Plan, record: ReleaseRecord, lease: Lease, *, resumed: bool = True) -> ReleaseRecord:
        """Run from `record.step_index` to the end; roll back on failure. Returns the final record.
        `resumed=False` only for a record this run created: nothing of it can have happened yet."""
        self._begin(plan, record, lease, resumed)
        if record.state == states.ROLLING_BACK:  # a runner died while rolling back: finish that rollback
            return self._roll_back(record.reason, "")
        try:
            if record.state == states.INTERRUPTED:
                record.step_index = resume_index(plan, record.step_index)
                self._note(record.step_index, f"resumed at step {record.step_index + 1}")
            record.state = states.RUNNING
            self._save()
            total = len(plan.steps)
            for index in range(record.step_index, total):
                self._check_stop()
                self._heartbeat_if_due()
                step = plan.steps[index]
                self.progress.step(index + 1, total, step.describe())
                self._note(index, f"start {step.describe()}")
                HANDLERS[type(step)](self, step, index)
                record.step_index = index + 1
                self._save()
            record.state = states.RELEASED
            record.finished_at = self.clock()
            self._note(None, "released")
            self._save()
            return record
        except StepFailed as failure:
            return self._roll_back(failure.reason, failure.detail)
        except StopRequested:
            self._restore_after_interrupt()
            raise Interrupted(f"{self.service.name}: interrupted; traffic is on {self._stable_color()}",
                              hint=f"`deployer resume {self.service.name}` continues, `deployer rollback {self.service.name}` undoes") from None
        except LostLock:
            raise
        except DeployerError as error:
            return self._roll_back("error", error.message)

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
            self._note(record.step_index, f"rolling back ({reason}): {detail}")
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
            self._note(None, f"rollback failed: {detail}")
            self._save_quietly()
            raise InconsistentState(f"{self.service.name}: rollback failed: {detail}",
                                    hint=f"check `deployer status {self.service.name}`; traffic may need a manual fix") from None
        if self.plan.strategy != "rolling":
            record.live = self.plan.live  # a rollback after the promotion puts the previous color back live
            record.scale_down_at, record.scale_down_color = None, ""
        record.state = states.ROLLED_BACK
        record.finished_at = self.clock()
        self._note(None, "rolled back")
        self._save_quietly()
        self._raise_if_unsaved(f"traffic is back on {self._stable_color()}" if self.plan.strategy != "rolling"
                               else "the service is back on its previous revision")
        raise RolledBack(f"{self.service.name}: release {record.id} rolled back: {record.reason}")

    def _restore_after_interrupt(self) -> None:
        """Stop shifting; put all traffic on the stable color; record the interruption."""
        record = self.record
        if self.plan.strategy != "rolling" and record.state != states.ROLLING_BACK:
            stable = self._stable_color()
            weights = {stable: 100, other(stable): 0}
            try:
                if self.target.weights() != weights:
                    record.weights = self.target.set_weights(weights)
            except DeployerError as error:
                self._note(record.step_index, f"could not restore traffic: {error.message}")
        record.state = states.INTERRUPTED
        self._note(record.step_index, "interrupted; traffic on the stable color")
        self._save_quietly()
        self._raise_if_unsaved(f"interrupted; traffic is on {self._stable_color()}")

    def _stable_color(self) -> str:
        return self.record.live or self.plan.live

    def _deploy_step(self) -> DeployColor:
        return next((s for s in self.plan.steps if isinstance(s, DeployColor)), DeployColor("main", NEW_REVISION, 0))

    def _previous_count(self) -> int:
        return self._deploy_step().desired_count or self.service.desired_count

    # ------------------------------------------------------------------ helpers
    def _save(self) -> None:
        self.journal.save(self.record)
        self._unsaved = None

    def _save_quietly(self) -> None:
        """While traffic is being put back, a record write that fails (after its retries) is
        remembered, not raised: the next write may succeed, and `_raise_if_unsaved` says so at the end."""
        try:
            self._save()
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

    def _heartbeat_if_due(self) -> None:
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

    def _note(self, index: int | None, text: str) -> None:
        self.record.note(self.clock(), index, text)

    def _check_stop(self) -> None:
        if self.stop_requested() and not self._rolling_back:  # a rollback puts traffic back: let it finish
            raise StopRequested()

    def _wait(self, seconds: float) -> None:
        """Sleep in slices, renewing the lease, returning at once when a stop is requested."""
        end = self.clock() + seconds
        while True:
            self._check_stop()
            self._heartbeat_if_due()
            remaining = end - self.clock()
            if remaining <= 0:
                return
            self.sleep(min(remaining, 1.0, self.settings.poll))

    def _evaluate(self, canary: str, baseline: str | None, limits: GateLimits) -> Verdict:
        """One gate evaluation over the closed periods since traffic last moved."""
        period = limits.period
        start = math.floor(self._shifted_at / period) * period if self._shifted_at else self.clock() - period
        end = math.floor((self.clock() - self.settings.metrics_delay) / period) * period
        if end <= start:
            end = start + period
        colors = [canary] + ([baseline] if baseline else [])
        stats = self.target.window(colors, start, end, period)
        canary_stats = stats.get(canary, WindowStats(0, 0, None))
        baseline_stats = stats.get(baseline) if baseline else None
        alarmed = self.target.alarms_in_alarm(list(limits.alarms)) if limits.alarms else []
        result = alarm_verdict(alarmed, canary_stats) or verdict(canary_stats, baseline_stats, limits.thresholds())
        result.numbers["window"] = [iso(start), iso(end)]
        return result

    def _record_verdict(self, step_index: int | None, weight: int, v: Verdict) -> None:
        data = {"step": step_index, "weight": weight, "at": round(self.clock(), 3), **v.to_dict()}
        self.record.verdicts.append(data)
        self.progress.verdict(f"{weight}%", data)
        if v.outcome == Outcome.FAIL:
            self._fail_at = self.clock()

    def _poll_line(self, canary: str, v: Verdict | None, limits: GateLimits) -> str:
        weights = self.record.weights or {}
        shown = ", ".join(f"{c} {w}%" for c, w in weights.items())
        parts = [shown] if shown else []
        try:
            parts.append(f"{canary} healthy {self.target.healthy(canary)}")
        except DeployerError:
            pass
        if v is not None:
            c = v.canary
            parts.append(f"5xx {c.error_rate:.1%} (limit {limits.max_5xx_rate:g}%) over {c.requests} req")
            if c.p99_ms is not None:
                parts.append(f"p99 {c.p99_ms:.0f} ms (limit {limits.max_p99_ms:g} ms)")
            parts.append(v.outcome.value)
        return "    " + " | ".join(parts)

    # ------------------------------------------------------------------ steps
    def _register(self, step: RegisterTaskDefinition, index, rollback=False) -> None:
        record = self.record
        if not record.to_revision:  # idempotent: a resumed release does not register twice
            record.from_revision = step.from_task_definition
            # a resumed release may have registered before its runner died, without recording it
            found = self.target.find_registered(step.from_task_definition, record.id) if self._resumed else None
            record.to_revision = found or self.target.register(step.from_task_definition, step.image, record.id)
            self._save()
        self.progress.line(f"    {short(self.record.from_revision)} -> {short(self.record.to_revision)}")

    def _deploy(self, step: DeployColor, index, rollback=False) -> None:
        revision = self.record.to_revision if step.task_definition == NEW_REVISION else step.task_definition
        self.target.deploy(step.color, revision, step.desired_count, step.min_healthy_percent, step.max_percent, step.circuit_breaker)
        self._expected[step.color] = revision
        self._shifted_at = self.clock()

    def _expected_revision(self, color: str) -> str:
        return self._expected.get(color) or self.record.to_revision

    def _wait_healthy(self, step: WaitHealthy, index, rollback=False) -> None:
        """Until `count` healthy targets run the color's new revision and none runs another.

        Counting healthy targets is not enough: a color still warm from the previous release has
        healthy targets of the old revision until ECS drains them, and a gate would measure those.
        """
        limit = self.settings.healthy_timeout or step.timeout
        deadline = self.clock() + limit
        expected = self._expected_revision(step.color)
        while True:
            rollout = self.target.rollout(step.color)
            if rollout.rollout_state == "FAILED":
                raise StepFailed("deployment_failed", f"{step.color} deployment failed: {rollout.rollout_reason or 'tasks keep stopping'}")
            if expected and rollout.task_definition != expected:
                # the circuit breaker put the previous revision back as PRIMARY
                raise StepFailed("circuit_breaker", f"{step.color}: ECS put {short(rollout.task_definition)} back in place of "
                                                    f"{short(expected)} (its tasks kept failing)"
                                                    + (f"; ECS: {rollout.rollout_reason}" if rollout.rollout_reason else ""))
            serving = self.target.serving_revisions(step.color)
            fresh = serving.get(expected, 0)
            stale = {revision: n for revision, n in serving.items() if revision != expected and n}
            self.progress.line(f"    {step.color}: running {rollout.running}/{step.count}, healthy {fresh} of {short(expected)}"
                               + "".join(f", {n} of {short(r) if r else 'unknown tasks'} still healthy" for r, n in stale.items())
                               + f", {rollout.rollout_state}")
            if rollout.running >= step.count and fresh >= step.count and not stale:
                return
            if self.clock() >= deadline:
                why = f"; {sum(stale.values())} target(s) of other revisions still serving" if stale else ""
                raise StepFailed("not_healthy", f"{step.color} reached {fresh}/{step.count} healthy targets of {short(expected)} in {limit:.0f}s{why}")
            self._wait(self.settings.poll)

    def _require_only_release(self, color: str) -> None:
        """Traffic goes to the release's color only while every healthy target there runs its revision."""
        expected = self._expected_revision(color)
        serving = self.target.serving_revisions(color)
        stale = {revision: n for revision, n in serving.items() if revision != expected and n}
        if not serving.get(expected):
            raise StepFailed("no_healthy_targets", f"{color} has no healthy targets of {short(expected)}; traffic not shifted")
        if stale:
            shown = ", ".join(f"{n} of {short(r) if r else 'unknown tasks'}" for r, n in stale.items())
            raise StepFailed("other_revision_serving", f"{color} has healthy targets of other revisions ({shown}); traffic not shifted")

    def _watch_rollout(self, step: WatchRollout, index, rollback=False) -> None:
        deadline = self.clock() + step.timeout
        expected = self._expected.get(step.color)
        seen_events: set[str] = set()
        first = True
        low = self._deploy_step().min_healthy_percent
        while True:
            rollout = self.target.rollout(step.color)
            for event_id, message in reversed(rollout.events):
                if event_id not in seen_events:
                    seen_events.add(event_id)
                    if not first:
                        self.progress.untrusted(f"    ecs: {message}")
            first = False
            self.progress.line(f"    {step.color}: running {rollout.running}/{rollout.desired}, pending {rollout.pending}, "
                               f"failed {rollout.failed_tasks}, {rollout.rollout_state}, floor {low}%")
            if rollout.rollout_state == "FAILED" or (expected and rollout.task_definition != expected and rollout.deployments <= 1):
                reason = rollout.rollout_reason or "the deployment failed"
                name = "circuit_breaker" if "circuit breaker" in reason.lower() else "deployment_failed"
                raise StepFailed(name, f"ECS: {reason}")
            if step.limits is not None:
                v = self._evaluate(step.color, None, step.limits)
                if v.outcome == Outcome.FAIL:
                    self._record_verdict(index, 100, v)
                    raise StepFailed(v.reason, v.detail)
            if rollout.rollout_state == "COMPLETED" and rollout.deployments <= 1 and (not expected or rollout.task_definition == expected):
                return
            if self.clock() >= deadline:
                if rollback:
                    raise TimedOut(f"{self.service.name}: rollback still {rollout.rollout_state} after {step.timeout}s")
                raise StepFailed("timeout", f"rollout not complete after {step.timeout}s")
            self._wait(self.settings.poll)

    def _point_test_listener(self, step: PointTestListener, index, rollback=False) -> None:
        self.target.point_test_listener(step.color)

    def _pre_traffic_check(self, step: PreTrafficCheck, index, rollback=False) -> None:
        url = self.target.test_listener_url() + step.path
        proxy = self.settings.check_proxy
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else None))
        failures = []
        for _ in range(step.requests):
            self._heartbeat_if_due()
            try:
                with opener.open(url, timeout=5) as response:
                    if response.status >= 400:
                        failures.append(str(response.status))
            except urllib.error.HTTPError as error:
                failures.append(str(error.code))
            except OSError as error:
                failures.append(type(error).__name__)
        if failures:
            raise StepFailed("pre_traffic_check_failed", f"{len(failures)}/{step.requests} checks of {url} failed ({', '.join(sorted(set(failures)))})")
        self.progress.line(f"    {step.requests}/{step.requests} checks of {url} passed")

    def _shift(self, step: ShiftTraffic, index, rollback=False) -> None:
        weights = step.as_dict()
        for color, weight in weights.items():
            if weight > 0 and color == self.plan.target and not rollback:
                self._require_only_release(color)
            elif weight > 0 and self.target.healthy(color) == 0:
                if rollback:
                    raise InconsistentState(f"{color} has no healthy targets; traffic cannot go back to it")
                raise StepFailed("no_healthy_targets", f"{color} has no healthy targets; traffic not shifted")
        seen = self.target.set_weights(weights)
        self._shifted_at = self.clock()
        self.record.weights = seen
        self.record.shifted_at = self._shifted_at
        self._note(index, "weights " + ", ".join(f"{c} {w}" for c, w in seen.items()))
        if rollback and self._fail_at is not None:
            self._note(index, f"traffic restored {self._shifted_at - self._fail_at:.2f}s after the FAIL verdict")
        if step.dns_ttl is not None:
            self.progress.line(f"    DNS weights set; clients may keep the old answer up to {step.dns_ttl}s (TTL)")

    def _check_canary_serving(self, canary: str) -> None:
        """A canary that takes traffic with no healthy target left (its tasks died) fails at once:
        its requests go to no target, so they never reach the target group's metrics."""
        weight = (self.record.weights or {}).get(canary, 0)
        if weight > 0 and self.target.healthy(canary) == 0:
            raise StepFailed(Reason.CANARY_UNHEALTHY, f"{canary} has no healthy targets left while serving {weight}% of the traffic")

    def _bake(self, step: Bake, index, rollback=False) -> None:
        canary = self.plan.target
        baseline = self.plan.live
        end = self.clock() + step.seconds
        while self.clock() < end:
            self._wait(min(self.settings.poll, end - self.clock()))
            self._check_canary_serving(canary)
            if step.limits is None:
                continue
            weights = self.record.weights or {}
            base = baseline if weights.get(baseline, 0) > 0 else None
            v = self._evaluate(canary, base, step.limits)
            self.progress.line(self._poll_line(canary, v, step.limits))
            if v.outcome == Outcome.FAIL:  # fail fast; PASS or INCONCLUSIVE keep baking
                self._record_verdict(index, weights.get(canary, 0), v)
                raise StepFailed(v.reason, v.detail)

    def _gate(self, step: Gate, index, rollback=False) -> None:
        limits = step.limits
        inconclusive = 0
        while True:
            self._check_canary_serving(step.canary)
            v = self._evaluate(step.canary, step.baseline, limits)
            self._record_verdict(index, step.weight, v)
            self.progress.line(self._poll_line(step.canary, v, limits))
            if v.outcome == Outcome.PASS:
                return
            if v.outcome == Outcome.FAIL:
                raise StepFailed(v.reason, v.detail)
            inconclusive += 1
            if inconclusive > limits.max_inconclusive:
                # named for what kept it open: too few requests, or a latency it could not yet confirm
                raise StepFailed(v.reason, f"still inconclusive after {inconclusive} windows: {v.detail}")
            self._save()
            self._wait(limits.period)

    def _pause(self, step: Pause, index, rollback=False) -> None:
        self.record.state = states.PAUSED
        self._save()
        self.progress.line(f"    paused at {step.weight}%: `deployer promote {self.service.name}` goes on, `deployer abort {self.service.name}` rolls back")
        while True:
            command = self.journal.command(self.record.service, self.record.id)
            if command == "promote":
                self.journal.send_command(self.record.service, self.record.id, "")
                self.record.state = states.RUNNING
                self._note(index, "promoted by command")
                return
            if command == "abort":
                self.journal.send_command(self.record.service, self.record.id, "")
                raise StepFailed("aborted", "abort requested")
            self._wait(self.settings.poll)

    def _promote(self, step: Promote, index, rollback=False) -> None:
        self.record.live = step.live
        self._note(index, f"{step.live} is live")

    def _scale_down(self, step: ScaleDown, index, rollback=False) -> None:
        if step.after and not rollback:
            self.record.scale_down_at = self.clock() + step.after
            self.record.scale_down_color = step.color
            self.progress.line(f"    {step.color} stays warm until {iso(self.record.scale_down_at)} for an instant rollback "
                               f"(`deployer tidy {self.service.name}` scales it down after that)")
            return
        self.target.scale(step.color, 0)


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


HANDLERS: dict[type[Step], Callable] = {
    RegisterTaskDefinition: Executor._register,
    DeployColor: Executor._deploy,
    WaitHealthy: Executor._wait_healthy,
    WatchRollout: Executor._watch_rollout,
    PointTestListener: Executor._point_test_listener,
    PreTrafficCheck: Executor._pre_traffic_check,
    ShiftTraffic: Executor._shift,
    Bake: Executor._bake,
    Gate: Executor._gate,
    Pause: Executor._pause,
    Promote: Executor._promote,
    ScaleDown: Executor._scale_down,
}
