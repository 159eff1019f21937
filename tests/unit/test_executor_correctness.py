"""Issue 15's defects, each against an in-memory service: the gate judges the new version only,
traffic comes before bookkeeping, a rollback after the promotion rolls back, a resumed rollback
is not rolled back twice."""

from __future__ import annotations

import pytest

from deployer.errors import AwsError, DeployerError, Interrupted, RolledBack
from deployer.release import record as states
from deployer.release import service as releases
from deployer.release.executor import Executor, RecordNotWritten, Settings
from deployer.release.memory_journal import MemoryJournal
from deployer.release.strategies import request_from_spec
from deployer.release.report import report
from deployer.release.steps import Promote
from tests.fakes import Behaviour, FakeClock, FakeTarget, RecordingProgress
from tests.unit.test_executor import clock, make, web  # noqa: F401 - the same executor and fixtures


class Killed(BaseException):
    """Stands for SIGKILL: nothing of the runner's own clean-up runs after it."""


def recording_weights(target):
    """Every weight change the target sees, in order."""
    seen = []
    original = target.set_weights

    def set_weights(weights):
        seen.append(dict(weights))
        return original(weights)

    target.set_weights = set_weights
    return seen


def kill_lease(journal, service, clock):
    """A killed runner never releases its lock: it simply expires."""
    clock.now += 3600


@pytest.fixture
def released_once(web, clock):
    """web released once: green live on web:2, blue still warm on web:1 (keep_previous)."""
    target = FakeTarget.colors_service(clock)
    journal = MemoryJournal()
    assert releases.release(make(web, target, clock, journal), request_from_spec(web, "example/web:2"), actor="t").state == states.RELEASED
    assert target.colors["blue"].healthy == 2 and target.colors["blue"].task_definition == "web:1"
    return target, journal


# --- defect 1: the gate must judge the new version ---------------------------------------------------------

def test_warm_idle_color_whose_new_tasks_fail_health_gets_no_traffic(web, clock, released_once):
    target, journal = released_once
    target.behaviour["example/web:3"] = Behaviour(fails_health=True)
    weights = recording_weights(target)
    with pytest.raises(RolledBack):
        releases.release(make(web, target, clock, journal), request_from_spec(web, "example/web:3"), actor="t")
    record = journal.latest("web")
    assert record.reason.startswith("not_healthy: blue reached 0/2 healthy targets of web:3")
    assert "2 target(s) of other revisions still serving" in record.reason
    assert all(w.get("blue", 0) == 0 for w in weights), weights  # the old tasks never served as the canary
    assert target.weights_now == {"green": 100, "blue": 0}


def test_warm_idle_color_gets_traffic_only_after_its_old_tasks_drain(web, clock, released_once):
    target, journal = released_once
    target.drain_polls = 3
    drained_when_shifted = []
    original = target.set_weights

    def set_weights(weights):
        if weights.get("blue", 0) > 0:
            drained_when_shifted.append(target.colors["blue"].stale_healthy == 0)
        return original(weights)

    target.set_weights = set_weights
    record = releases.release(make(web, target, clock, journal), request_from_spec(web, "example/web:3"), actor="t")
    assert record.state == states.RELEASED and record.live == "blue"
    assert drained_when_shifted and all(drained_when_shifted)


def test_shift_refuses_a_color_with_targets_of_another_revision(web, clock):
    """The last check before traffic moves, even after the wait for health was satisfied."""

    class StrangerAfterTheWait(FakeTarget):
        def serving_revisions(self, color):
            counts = super().serving_revisions(color)
            if color == "green" and "point_test_listener" in self.calls:  # the wait is over
                counts["web:1"] = 1
            return counts

    target = StrangerAfterTheWait.colors_service(clock)
    with pytest.raises(RolledBack, match=r"other_revision_serving: green has healthy targets of other revisions \(1 of web:1\)"):
        releases.release(make(web, target, clock), request_from_spec(web, "example/web:2"), actor="t")
    assert target.weights_now == {"blue": 100, "green": 0}
    assert target.calls.count("set_weights") == 1  # the rollback's, putting blue back at 100


# --- defect 3: a record write that keeps failing must not skip the rollback ---------------------------------

class FailingJournal(MemoryJournal):
    """DynamoDB answering 503 to every write (after the adapter's retries) once `broken`."""

    broken = False

    def save(self, record):
        if self.broken:
            raise AwsError("PutItem", "ServiceUnavailable", "Service Unavailable")
        super().save(record)

    def heartbeat(self, lease, now, duration):
        if self.broken:
            raise AwsError("PutItem", "ServiceUnavailable", "Service Unavailable")
        return super().heartbeat(lease, now, duration)


def test_record_writes_failing_mid_canary_still_restore_traffic(web, clock):
    target = FakeTarget.colors_service(clock)
    journal = FailingJournal()
    original = target.set_weights

    def set_weights(weights):
        seen = original(weights)
        if weights.get("green") == 10:
            journal.broken = True  # DynamoDB goes away while the canary serves 10%
        return seen

    target.set_weights = set_weights
    ex = make(web, target, clock, journal)
    with pytest.raises(RecordNotWritten) as info:
        releases.release(ex, request_from_spec(web, "example/web:2"), actor="t")
    assert info.value.exit_code == 4
    assert "traffic is back on blue, but the release record could not be written" in info.value.message
    assert "deployer resume web --rollback" in info.value.hint
    assert target.weights_now == {"blue": 100, "green": 0}
    assert target.colors["green"].desired == 0
    assert ex.record.state == states.ROLLED_BACK  # what the runner knows, for its report
    stored = journal.latest("web")
    assert stored.state == states.RUNNING  # what DynamoDB still says: resume --rollback finishes the story
    journal.broken = False
    with pytest.raises(RolledBack):
        releases.resume(make(web, target, clock, journal), actor="t", roll_back=True)
    assert journal.latest("web").state == states.ROLLED_BACK
    assert target.weights_now == {"blue": 100, "green": 0}


def test_interrupt_with_records_failing_restores_traffic_and_says_so(web, clock):
    class DownAtTheInterrupt(MemoryJournal):
        def save(self, record):
            if record.state == states.INTERRUPTED:
                raise AwsError("PutItem", "ServiceUnavailable", "Service Unavailable")
            super().save(record)

    target = FakeTarget.colors_service(clock)
    ex = Executor(web, target, DownAtTheInterrupt(), RecordingProgress(), clock=clock, sleep=clock.sleep,
                  stop_requested=lambda: target.weights_now.get("green") == 25, settings=Settings(poll=2.0))
    with pytest.raises(RecordNotWritten, match="interrupted; traffic is on blue, but the release record could not be written"):
        releases.release(ex, request_from_spec(web, "example/web:2"), actor="t")
    assert target.weights_now == {"blue": 100, "green": 0}


# --- defect 4: rollback after a crash past the promotion ----------------------------------------------------

def test_rollback_after_a_runner_died_past_promotion_switches_back(web, clock):
    target = FakeTarget.colors_service(clock)
    journal = MemoryJournal()
    ex = make(web, target, clock, journal)
    real_note = ex.note

    def note(index, text):
        real_note(index, text)
        if text.endswith("is live"):
            ex.save()
            raise Killed()  # SIGKILL right after the promotion

    ex.note = note
    with pytest.raises(Killed):
        releases.release(ex, request_from_spec(web, "example/web:2"), actor="t")
    died = journal.latest("web")
    assert died.state == states.RUNNING and died.live == "green"
    assert target.weights_now == {"blue": 0, "green": 100}
    kill_lease(journal, "web", clock)

    with pytest.raises(RolledBack) as info:
        releases.rollback(make(web, target, clock, journal), actor="t")
    assert info.value.exit_code == 3
    record = journal.latest("web")
    assert record.state == states.ROLLED_BACK and record.live == "blue"
    assert target.weights_now == {"blue": 100, "green": 0}
    assert target.colors["green"].desired == 0 and target.colors["blue"].healthy == 2
    assert record.scale_down_color == ""


def test_every_boundary_then_rollback_puts_the_previous_version_back(web):
    """After k steps (promotion included) a rollback leaves blue serving web:1 and green scaled down."""
    from deployer.release.strategies import plan_release

    steps = plan_release(web, FakeTarget.colors_service(FakeClock()).observe(), request_from_spec(web, "example/web:2")).steps
    assert any(isinstance(s, Promote) for s in steps)
    for k in range(len(steps)):
        clock = FakeClock()
        target = FakeTarget.colors_service(clock)
        journal = MemoryJournal()
        ex = Executor(web, target, journal, RecordingProgress(), clock=clock, sleep=clock.sleep,
                      stop_requested=lambda: ex.record is not None and ex.record.step_index >= k, settings=Settings(poll=2.0))
        with pytest.raises(Interrupted):
            releases.release(ex, request_from_spec(web, "example/web:2"), actor="ci")
        with pytest.raises(RolledBack):
            releases.rollback(make(web, target, clock, journal), actor="ci")
        assert target.weights_now == {"blue": 100, "green": 0}, k
        assert target.colors["blue"].task_definition == "web:1" and target.colors["blue"].healthy == 2, k
        assert target.colors["green"].desired == 0, k
        assert journal.latest("web").live == "blue", k


# --- defect 5: resuming a release that was rolling back ------------------------------------------------------

def test_resumed_rollback_is_not_rolled_back_twice(web, clock):
    target = FakeTarget.colors_service(clock, behaviour={"example/web:3": Behaviour(error_rate=0.20)})
    journal = MemoryJournal()
    ex = make(web, target, clock, journal)
    real_scale = target.scale

    def scale(color, count):
        raise Killed()  # SIGKILL after traffic went back, before the canary is scaled down

    target.scale = scale
    with pytest.raises(Killed):
        releases.release(ex, request_from_spec(web, "example/web:3"), actor="t")
    died = journal.latest("web")
    assert died.state == states.ROLLING_BACK and died.rollback_index >= 1
    assert target.weights_now == {"blue": 100, "green": 0}
    target.scale = real_scale
    kill_lease(journal, "web", clock)
    target.calls.clear()

    with pytest.raises(RolledBack) as info:
        releases.resume(make(web, target, clock, journal), actor="t")
    record = journal.latest("web")
    assert record.state == states.ROLLED_BACK
    assert record.reason == died.reason and record.reason.startswith("error_rate_above_limit")
    assert "rolled back:" not in record.reason and info.value.message.count("rolled back") == 1
    assert target.calls.count("set_weights") == 0  # traffic was back already: not moved again
    assert target.colors["green"].desired == 0
    assert report(record)["restore_seconds"] < 5


def test_a_deployer_error_inside_the_rollback_is_reported_once(web, clock):
    target = FakeTarget.colors_service(clock, behaviour={"example/web:3": Behaviour(error_rate=0.20)})
    ex = make(web, target, clock)

    def scale(color, count):
        raise AwsError("UpdateService", "AccessDeniedException", "not allowed")

    target.scale = scale
    with pytest.raises(DeployerError) as info:
        releases.release(ex, request_from_spec(web, "example/web:3"), actor="t")
    assert info.value.exit_code == 4 and "rollback failed" in info.value.message
    assert target.weights_now == {"blue": 100, "green": 0}


# --- defect 7: a dead runner's lock and its orphaned release --------------------------------------------------

def test_locked_hint_names_the_command_and_when(web, clock):
    from deployer.errors import Locked

    journal = MemoryJournal()
    journal.acquire("web", "jenkins#41", "r1", clock(), 20)
    with pytest.raises(Locked) as info:
        releases.resume(make(web, FakeTarget.colors_service(clock), clock, journal), actor="gha#7")
    assert "locked by jenkins#41 (release r1)" in info.value.message and "(20 s from now)" in info.value.message
    assert "`deployer resume web --wait-for-lock 22s`" in info.value.hint
    assert "if it died" in info.value.hint


def test_resume_waits_for_a_dead_runners_lease_then_rolls_back(web, clock):
    """The runner died at 10%: `resume --rollback --wait-for-lock` takes over as soon as the lease ends."""
    target = FakeTarget.colors_service(clock)
    journal = MemoryJournal()
    ex = make(web, target, clock, journal)
    original = target.set_weights

    def set_weights(weights):
        seen = original(weights)
        if weights.get("green") == 10:
            raise Killed()
        return seen

    target.set_weights = set_weights
    with pytest.raises(Killed):
        releases.release(ex, request_from_spec(web, "example/web:2"), actor="t")
    target.set_weights = original
    journal.locks["web"] = journal.holder("web") or journal.acquire("web", "t", journal.latest("web").id, clock(), 20)
    died_at = clock()
    assert target.weights_now == {"blue": 90, "green": 10}
    again = make(web, target, clock, journal)
    again.settings.wait_for_lock = 60
    with pytest.raises(RolledBack):
        releases.resume(again, actor="cleanup", roll_back=True)
    assert target.weights_now == {"blue": 100, "green": 0}
    restored = next(e["at"] for e in journal.latest("web").events if e["text"].startswith("weights ") and e["at"] > died_at)
    assert restored - died_at <= 20 + 2.5  # the lease, plus one poll


def test_wait_for_lock_is_bounded(web, clock):
    from deployer.errors import Locked

    journal = MemoryJournal()
    journal.acquire("web", "alive", "r1", clock(), 20)
    ex = make(web, FakeTarget.colors_service(clock), clock, journal)
    ex.settings.wait_for_lock = 5
    started = clock()

    def heartbeat_while_waiting(seconds):  # the holder is alive and renews its lease
        clock.sleep(seconds)
        journal.heartbeat(journal.locks["web"], clock(), 20)

    ex.sleep = heartbeat_while_waiting
    with pytest.raises(Locked):
        releases.release(ex, request_from_spec(web, "example/web:2"), actor="t")
    assert 5 <= clock() - started < 7


def test_release_over_an_orphan_names_it_and_can_roll_it_back_first(web, clock):
    target = FakeTarget.colors_service(clock)
    journal = MemoryJournal()
    ex = make(web, target, clock, journal)
    ex.stop_requested = lambda: target.weights_now.get("green") == 25
    with pytest.raises(Interrupted):
        releases.release(ex, request_from_spec(web, "example/web:2"), actor="gha#3")
    with pytest.raises(releases.Unfinished) as info:
        releases.release(make(web, target, clock, journal), request_from_spec(web, "example/web:3"), actor="t")
    message = info.value.message
    assert "release " in message and "(canary of example/web:2 by gha#3) was left interrupted at step" in message
    assert "`deployer rollback web` undoes it, `deployer resume web` continues it" in info.value.hint
    assert info.value.exit_code == 6
    record = releases.release(make(web, target, clock, journal), request_from_spec(web, "example/web:3"), actor="t",
                              rollback_unfinished=True)
    assert record.state == states.RELEASED and record.image == "example/web:3"
    assert [r.state for r in journal.history("web")] == [states.RELEASED, states.ROLLED_BACK]


# --- defect 9: a slow minority is rolled back for its latency -------------------------------------------------

def test_slow_minority_is_rolled_back_for_its_latency_not_for_too_few_requests(web, clock):
    """Same median, p99 far above the baseline's: the requests slower than the baseline's p99 are
    counted, so the latency is proven with few canary requests and named as the reason."""
    target = FakeTarget.colors_service(clock, rps=80, behaviour={
        "web:1": Behaviour(0.0, 100, p50_ms=40), "example/web:6": Behaviour(0.0, 450, p50_ms=40)})
    journal = MemoryJournal()
    with pytest.raises(RolledBack):
        releases.release(make(web, target, clock, journal), request_from_spec(web, "example/web:6"), actor="t")
    reason = journal.latest("web").reason
    assert reason.startswith("p99_above_baseline: ") and "too_few_requests" not in reason, reason
    assert "of canary requests slower than 150 ms (baseline p99 100 ms + max(25%, 50 ms))" in reason
    assert target.weights_now == {"blue": 100, "green": 0}


# --- defect 6: a register that happened but was never recorded ------------------------------------------------

def test_resume_after_a_crash_right_after_register_finds_the_revision(web, clock):
    target = FakeTarget.colors_service(clock)
    journal = MemoryJournal()
    real_register = FakeTarget.register

    def register_then_die(self, base, image, token=""):
        real_register(self, base, image, token)
        raise Killed()  # the revision exists; the record never learns its ARN

    target.register = register_then_die.__get__(target)
    with pytest.raises(Killed):
        releases.release(make(web, target, clock, journal), request_from_spec(web, "example/web:2"), actor="t")
    assert journal.latest("web").to_revision == "" and target.revisions == 2
    del target.register
    kill_lease(journal, "web", clock)
    record = releases.resume(make(web, target, clock, journal), actor="t")
    assert record.state == states.RELEASED and record.to_revision == "web:2"
    assert target.revisions == 2, "no orphan revision"
