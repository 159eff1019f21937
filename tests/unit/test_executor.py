"""The executor against an in-memory service: good and bad releases, interruption at every
step boundary followed by resume or rollback, locks, pauses and flaky AWS answers."""

from __future__ import annotations

import pytest

from deployer.errors import AwsError, InconsistentState, Interrupted, Locked, RolledBack
from deployer.release import record as states
from deployer.release import service as releases
from deployer.release.executor import Executor, Settings
from deployer.release.memory_journal import MemoryJournal
from deployer.release.strategies import plan_release, request_from_spec
from deployer.release.steps import Promote
from tests.fakes import Behaviour, FakeClock, FakeTarget, RecordingProgress


def make(service, target, clock, journal=None, stop=lambda: False):
    return Executor(service, target, journal or MemoryJournal(), RecordingProgress(), clock=clock, sleep=clock.sleep,
                    stop_requested=stop, settings=Settings(poll=2.0, lease=30.0))


@pytest.fixture
def web(examples_config):
    return examples_config.services["web"]


@pytest.fixture
def clock():
    return FakeClock()


def test_good_canary_is_promoted(web, clock):
    target = FakeTarget.colors_service(clock, behaviour={"example/web:2": Behaviour(0.01, 100)})
    ex = make(web, target, clock)
    record = releases.release(ex, request_from_spec(web, "example/web:2"), actor="tester")
    assert record.state == states.RELEASED and record.live == "green"
    assert target.weights_now == {"blue": 0, "green": 100}
    assert target.colors["green"].task_definition == "web:2" and target.colors["green"].healthy == 2
    assert target.colors["blue"].desired == 2  # kept warm for keep_previous
    assert record.scale_down_color == "blue" and record.scale_down_at == pytest.approx(record.finished_at + 300, abs=1)
    assert [v["outcome"] for v in record.verdicts][-1] == "PASS"
    assert {v["weight"] for v in record.verdicts} == {10, 25, 50, 100}
    assert ex.journal.holder("web") is None  # lock released
    assert ex.journal.latest("web").state == states.RELEASED
    # every verdict says how often its window was read, with the evidence and the level it had to reach
    first = record.verdicts[0]["numbers"]
    assert first["looks"] >= 1 and first["fail_at_evidence"] == 300.0 and "evidence_5xx_above_limit" in first
    assert all(v["numbers"]["looks"] >= 1 for v in record.verdicts)


def test_bad_canary_is_rolled_back_with_its_numbers(web, clock):
    target = FakeTarget.colors_service(clock, behaviour={"example/web:3": Behaviour(error_rate=0.20)})
    ex = make(web, target, clock)
    with pytest.raises(RolledBack) as info:
        releases.release(ex, request_from_spec(web, "example/web:3"), actor="tester")
    assert info.value.exit_code == 3
    record = ex.journal.latest("web")
    assert record.state == states.ROLLED_BACK
    assert record.reason.startswith("error_rate_above_limit: canary 5xx")
    assert target.weights_now == {"blue": 100, "green": 0}
    assert target.colors["green"].desired == 0 and target.colors["blue"].healthy == 2
    failed = [v for v in record.verdicts if v["outcome"] == "FAIL"]
    assert failed and failed[0]["weight"] == 10 and failed[0]["canary"]["requests"] > 0
    assert any("traffic restored" in e["text"] for e in record.events)


def test_latency_regression_is_rolled_back(web, clock):
    target = FakeTarget.colors_service(clock, behaviour={"web:1": Behaviour(0.0, 100), "example/web:4": Behaviour(0.0, 400)})
    ex = make(web, target, clock)
    with pytest.raises(RolledBack):
        releases.release(ex, request_from_spec(web, "example/web:4"), actor="tester")
    assert ex.journal.latest("web").reason.startswith(("p50_above_baseline", "p99_above_baseline"))
    assert target.weights_now == {"blue": 100, "green": 0}


def test_crashing_tasks_never_get_traffic(web, clock):
    target = FakeTarget.colors_service(clock, behaviour={"example/web:5": Behaviour(crashes=True)})
    ex = make(web, target, clock)
    with pytest.raises(RolledBack):
        releases.release(ex, request_from_spec(web, "example/web:5"), actor="tester")
    assert "set_weights" not in target.calls[: target.calls.index("scale")] or target.weights_now == {"blue": 100, "green": 0}
    assert ex.journal.latest("web").reason.startswith("deployment_failed")
    assert target.weights_now == {"blue": 100, "green": 0}


def test_breaker_rolling_the_idle_color_back_is_noticed_at_once(web, clock):
    """ECS's own rollback makes the old revision PRIMARY again (IN_PROGRESS, never FAILED)."""
    target = FakeTarget.colors_service(clock, behaviour={"example/web:5": Behaviour(crashes=True, breaker_rollback=True)})
    ex = make(web, target, clock)
    started = clock()
    with pytest.raises(RolledBack):
        releases.release(ex, request_from_spec(web, "example/web:5"), actor="tester")
    assert ex.journal.latest("web").reason.startswith("circuit_breaker")
    assert clock() - started < 30, "not after the health timeout"
    assert target.weights_now == {"blue": 100, "green": 0}


def test_canary_whose_tasks_die_while_serving_fails_at_once(web, clock):
    """Requests to a target group with no healthy target never reach its metrics: the gate would
    only see a quiet canary. The executor checks the canary's targets at every poll."""

    class DyingCanary(FakeTarget):
        def set_weights(self, weights):
            seen = super().set_weights(weights)
            if 0 < weights.get("green", 0) < 100:
                self.colors["green"].healthy = 0  # the tasks crash once they take traffic
            return seen

    target = DyingCanary.colors_service(clock)
    ex = make(web, target, clock)
    started = clock()
    with pytest.raises(RolledBack):
        releases.release(ex, request_from_spec(web, "example/web:8"), actor="tester")
    assert ex.journal.latest("web").reason.startswith("canary_unhealthy: green has no healthy targets")
    assert clock() - started < 60 and target.weights_now == {"blue": 100, "green": 0}


def test_rolling_release_and_circuit_breaker(examples_config, clock):
    worker = examples_config.services["worker-web"]
    target = FakeTarget.rolling_service(clock)
    ex = make(worker, target, clock)
    assert releases.release(ex, request_from_spec(worker, "w:2"), actor="t").state == states.RELEASED
    assert target.colors["main"].task_definition == "web:2"
    target.behaviour["w:3"] = Behaviour(crashes=True)
    with pytest.raises(RolledBack) as info:
        releases.release(ex, request_from_spec(worker, "w:3"), actor="t")
    assert "circuit_breaker" in info.value.message  # reported as rolled back, never as success
    assert target.colors["main"].task_definition == "web:2" and target.colors["main"].state == "COMPLETED"


def test_interrupted_at_every_step_boundary_then_resumed_or_rolled_back(web):
    """For every boundary k: stop after k steps -> traffic on one color at 100%; then resume or rollback."""
    steps = plan_release(web, FakeTarget.colors_service(FakeClock()).observe(), request_from_spec(web, "example/web:2")).steps
    for k in range(len(steps)):
        for then in ("resume", "rollback"):
            clock = FakeClock()
            target = FakeTarget.colors_service(clock)
            journal = MemoryJournal()
            ex = make(web, target, clock, journal, stop=lambda: ex.record is not None and ex.record.step_index >= k)
            with pytest.raises(Interrupted) as info:
                releases.release(ex, request_from_spec(web, "example/web:2"), actor="ci")
            assert info.value.exit_code == 130
            interrupted = journal.latest("web")
            assert interrupted.state == states.INTERRUPTED and interrupted.step_index == k, (k, then)
            assert sorted(target.weights_now.values()) == [0, 100], (k, then, target.weights_now)
            serving = max(target.weights_now, key=target.weights_now.get)
            assert target.colors[serving].healthy > 0, (k, then)
            with pytest.raises(Locked):  # a new release must not start over an unfinished one
                releases.release(make(web, target, clock, journal), request_from_spec(web, "example/web:9"), actor="other")
            again = make(web, target, clock, journal)
            if then == "resume":
                done = releases.resume(again, actor="ci")
                assert done.state == states.RELEASED, (k, done.reason)
                assert target.weights_now == {"blue": 0, "green": 100}
            else:
                promoted = any(isinstance(s, Promote) for s in steps[:k])
                if promoted:
                    with pytest.raises(RolledBack):
                        releases.rollback(again, actor="ci")
                    assert target.weights_now[interrupted.live] in (0, 100)
                else:
                    with pytest.raises(RolledBack):
                        releases.rollback(again, actor="ci")
                    assert target.weights_now == {"blue": 100, "green": 0}, k
                    assert target.colors["green"].desired == 0, (k, journal.latest("web").rollback_steps)
            final = journal.latest("web")
            assert final.finished, (k, then, final.state)


def test_second_release_is_locked_and_expired_lease_is_taken_over(web, clock):
    journal = MemoryJournal()
    journal.acquire("web", "jenkins#41", "r1", clock(), 60)
    ex = make(web, FakeTarget.colors_service(clock), clock, journal)
    with pytest.raises(Locked) as info:
        releases.release(ex, request_from_spec(web, "example/web:2"), actor="gha#7")
    assert info.value.exit_code == 6 and "locked by jenkins#41 (release r1)" in info.value.message
    clock.now += 61
    assert releases.release(ex, request_from_spec(web, "example/web:2"), actor="gha#7").state == states.RELEASED


def test_pause_waits_for_promote(web, clock):
    target = FakeTarget.colors_service(clock)
    journal = MemoryJournal()
    ex = make(web, target, clock, journal)
    sent = []

    def sleep(seconds):
        clock.sleep(seconds)
        latest = journal.latest("web")
        if latest and latest.state == states.PAUSED and not sent:
            releases.send(journal, "web", "promote")
            sent.append(clock())

    ex.sleep = sleep
    record = releases.release(ex, request_from_spec(web, "example/web:2", steps=[10, "pause", 100]), actor="t")
    assert sent and record.state == states.RELEASED
    assert any(e["text"] == "promoted by command" for e in record.events)


def test_abort_during_pause_rolls_back(web, clock):
    target = FakeTarget.colors_service(clock)
    journal = MemoryJournal()
    ex = make(web, target, clock, journal)

    def sleep(seconds):
        clock.sleep(seconds)
        latest = journal.latest("web")
        if latest and latest.state == states.PAUSED:
            releases.send(journal, "web", "abort")

    ex.sleep = sleep
    with pytest.raises(RolledBack, match="aborted"):
        releases.release(ex, request_from_spec(web, "example/web:2", steps=[10, "pause", 100]), actor="t")
    assert target.weights_now == {"blue": 100, "green": 0}


def test_manual_rollback_after_promotion_is_one_traffic_call(web, clock):
    target = FakeTarget.colors_service(clock)
    ex = make(web, target, clock)
    releases.release(ex, request_from_spec(web, "example/web:2"), actor="t")
    target.calls.clear()
    record = releases.rollback(ex, actor="t")
    assert record.state == states.RELEASED and record.strategy == "rollback"
    assert target.calls.count("set_weights") == 1 and "deploy" not in target.calls
    assert target.weights_now == {"blue": 100, "green": 0}


def test_no_healthy_live_color_makes_rollback_fail_loudly(web, clock):
    target = FakeTarget.colors_service(clock, behaviour={"example/web:3": Behaviour(error_rate=0.5)})
    ex = make(web, target, clock)
    original = target.set_weights

    def breaking_set(weights):
        if weights.get("green", 0) > 0:
            target.colors["blue"].healthy = 0  # the stable color dies while the canary is bad
        return original(weights)

    target.set_weights = breaking_set
    with pytest.raises(InconsistentState) as info:
        releases.release(ex, request_from_spec(web, "example/web:3"), actor="t")
    assert info.value.exit_code == 4
    assert ex.journal.latest("web").state == states.FAILED


def test_transient_aws_error_mid_release_rolls_back_cleanly(web, clock):
    target = FakeTarget.colors_service(clock)
    ex = make(web, target, clock)
    target.fail_next = []
    original = target.set_weights
    calls = {"n": 0}

    def flaky(weights):
        calls["n"] += 1
        if calls["n"] == 2:
            raise AwsError("ModifyListener", "ValidationError", "Listener not found")
        return original(weights)

    target.set_weights = flaky
    with pytest.raises(RolledBack, match="error"):
        releases.release(ex, request_from_spec(web, "example/web:2"), actor="t")
    assert target.weights_now == {"blue": 100, "green": 0}


def test_sigint_restores_traffic_and_exits_130_within_7_seconds(web):
    """A real SIGINT through the CLI's handler while a canary bakes in real time."""
    import os
    import signal
    import threading
    import time

    from deployer.cli.signals import stop_on_signals

    target = FakeTarget.colors_service(FakeClock())
    target.clock = time.time  # metrics in real time
    with stop_on_signals() as stop:
        ex = Executor(web, target, MemoryJournal(), RecordingProgress(), clock=time.time, sleep=stop.wait,
                      stop_requested=stop.is_set, settings=Settings(poll=0.5, lease=30.0))
        sent = {}

        def interrupt_when_shifted():
            deadline = time.time() + 20
            while time.time() < deadline and target.weights_now.get("green", 0) == 0:
                time.sleep(0.02)
            sent["at"] = time.monotonic()
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt_when_shifted, daemon=True).start()
        with pytest.raises(Interrupted) as info:
            releases.release(ex, request_from_spec(web, "example/web:2", bake=60), actor="t")
        elapsed = time.monotonic() - sent["at"]
    assert info.value.exit_code == 130
    assert elapsed < 7.0
    assert target.weights_now == {"blue": 100, "green": 0}
    assert ex.journal.latest("web").state == states.INTERRUPTED


def test_rolling_watch_reads_the_gate_once_per_period_and_once_more_when_done(examples_config, clock):
    """A gate window changes once per period; reading it at every 2 s poll sent requests that told nothing new."""
    worker = examples_config.services["worker-web"]  # gates.period: 60 s by default
    target = FakeTarget.rolling_service(clock, start_polls=40)
    ex = make(worker, target, clock)
    started = clock()
    assert releases.release(ex, request_from_spec(worker, "w:2"), actor="t").state == states.RELEASED
    polls, reads = target.calls.count("rollout"), target.calls.count("window")
    minutes = (clock() - started) / 60
    assert polls >= 30, polls  # the rollout took a while, polled every 2 s
    assert reads <= int(minutes) + 2, (reads, minutes)  # one read per started minute, plus the last one
    assert reads >= 2


def test_bake_reads_a_closed_window_once(web, clock):
    """Polls inside one gate period find the same closed periods: the verdict is kept, not read again."""
    gates = web.release.gates.replace(**{"period": 60})
    slow = web.replace(**{"release": web.release.replace(**{"bake": 240, "steps": [10, 100], "gates": gates})})
    target = FakeTarget.colors_service(clock, behaviour={"example/web:2": Behaviour(0.01, 100)})
    ex = make(slow, target, clock)
    record = releases.release(ex, request_from_spec(slow, "example/web:2"), actor="tester")
    assert record.state == states.RELEASED
    polls = target.calls.count("healthy")  # every bake poll checks the canary still has healthy targets
    reads = target.calls.count("window")
    assert 2 * 240 / 2 - 10 <= polls <= 2 * 240 / 2 + 20, polls  # two bakes of 240 s polled every 2 s, one health read each
    # the first period after a shift is read as it fills (it changes); after that, once per closed period
    assert reads * 3 < polls, (reads, polls)
