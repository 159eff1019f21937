"""The sandbox's stage machine for ECS-native deployments, on an injected clock (no threads, no sleeps).

AWS: blue/green, linear and canary deployments go RECONCILE_SERVICE (several active revisions
only), PRE_SCALE_UP, SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT, then per
production step PRE_PRODUCTION_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT,
BAKE_TIME and CLEAN_UP; PAUSE hooks wait for ContinueServiceDeployment or their timeout; an alarm, a
hook or StopServiceDeployment rolls back with traffic first.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from deployer.sandbox import native_deployments as m
from deployer.sandbox.native_settings import Step, is_native, problems, production_steps
from tests.fakes import FakeClock

SOURCE, TARGET = "arn:aws:ecs:us-east-1:123456789012:service-revision/c/web/old", "arn:aws:ecs:us-east-1:123456789012:service-revision/c/web/new"
LB = [{"targetGroupArn": "tg-blue", "advancedConfiguration": {"alternateTargetGroupArn": "tg-green", "productionListenerRule": "rule"}}]


def deployment(config: dict, sources=(SOURCE,), initial: bool = False, now: float = 1_800_000_000.0) -> m.Deployment:
    return m.Deployment(arn="arn:aws:ecs:us-east-1:123456789012:service-deployment/c/web/d1", service_arn="svc", cluster_arn="c",
                        config=config, target_revision=TARGET, source_revisions=tuple(sources), created_at=now, initial=initial)


@dataclass(frozen=True)
class Snap:
    at: float
    status: str
    stage: str | None
    production: float | None
    test: float | None


class World:
    """What the scheduler would see after each intent: the new revision healthy two ticks after it
    starts; stopped tasks gone a tick later."""

    def __init__(self, desired: int = 2):
        self.desired = desired
        self.target_age = 0
        self.left = {"target": 0, "source": desired, "stale": desired}
        self.alarms: tuple[str, ...] = ()

    def seen(self) -> m.Seen:
        return m.Seen(desired=self.desired, target_healthy=self.desired if self.target_age >= 2 else 0,
                      target_left=self.left["target"], sources_left=self.left["source"], stale_left=self.left["stale"],
                      alarms=self.alarms)

    def react(self, intent: m.Intent) -> None:
        self.target_age = self.target_age + 1 if intent.target_tasks else 0
        for name, runs in (("target", intent.target_tasks), ("source", intent.source_tasks), ("stale", intent.stale_tasks)):
            self.left[name] = self.desired if runs else 0


def run(d: m.Deployment, clock: FakeClock, world: World | None = None, *, minute: float = 1.0, tick: float = 0.25,
        until=lambda d: d.status not in m.ACTIVE, on_tick=lambda d, clock: None, limit: int = 5000) -> list[Snap]:
    world = world or World()
    trace = []
    for _ in range(limit):
        intent = m.advance(d, world.seen(), clock.now, minute)
        world.react(intent)
        trace.append(Snap(clock.now, d.status, d.stage, intent.production_weight, intent.test_weight))
        if until(d):
            return trace
        on_tick(d, clock)
        clock.sleep(tick)
    raise AssertionError(f"still {d.status} at {d.stage} after {limit} ticks")


def stages(trace: list[Snap]) -> list[str]:
    out: list[str] = []
    for snap in trace:
        if snap.stage and (not out or out[-1] != snap.stage):
            out.append(snap.stage)
    return out


def weights(trace: list[Snap]) -> list[float]:
    out: list[float] = []
    for snap in trace:
        if not out or out[-1] != snap.production:
            out.append(snap.production)
    return out


def continue_all(d: m.Deployment, clock: FakeClock) -> None:
    for hook in d.waiting:
        if hook.status == m.AWAITING:
            m.continue_hook(d, hook.hook_id, "CONTINUE", clock.now)


# ------------------------------------------------------------ settings
@pytest.mark.parametrize("environ, seconds", [({}, 5.0), ({m.MINUTE_ENV: "0.5"}, 0.5), ({m.MINUTE_ENV: "60"}, 60.0)])
def test_one_ecs_minute_lasts_deployer_sandbox_minute_seconds(environ, seconds):
    assert m.time_scale(environ) == seconds


@pytest.mark.parametrize("text", ["0", "-1", "fast"])
def test_a_time_scale_that_is_not_a_positive_number_is_refused(text):
    with pytest.raises(ValueError, match=f"DEPLOYER_SANDBOX_MINUTE must be a positive number of seconds, not '{text}'"):
        m.time_scale({m.MINUTE_ENV: text})


@pytest.mark.parametrize("config, steps", [
    ({"strategy": "BLUE_GREEN"}, [Step(100, 0)]),
    ({"strategy": "CANARY"}, [Step(5, 10), Step(100, 0)]),
    ({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": "20", "canaryBakeTimeInMinutes": "3"}}, [Step(20, 3), Step(100, 0)]),
    ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25, "stepBakeTimeInMinutes": 2}},
     [Step(25, 2), Step(50, 2), Step(75, 2), Step(100, 0)]),
    ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 30, "stepBakeTimeInMinutes": 1}},
     [Step(30, 1), Step(60, 1), Step(90, 1), Step(100, 0)]),
    ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 33.3, "stepBakeTimeInMinutes": 0}},
     [Step(33.3, 0), Step(66.6, 0), Step(99.9, 0), Step(100, 0)]),
    ({"strategy": "LINEAR"}, [*(Step(w, 6) for w in range(10, 100, 10)), Step(100, 0)]),
])
def test_production_steps_per_strategy(config, steps):
    """AWS: BLUE_GREEN shifts at once; CANARY canaryPercent then the rest after canaryBakeTimeInMinutes;
    LINEAR stepPercent at a time, stepBakeTimeInMinutes between steps and none after 100 %."""
    assert list(production_steps(config)) == steps


@pytest.mark.parametrize("config, found", [
    ({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10}, "bakeTimeInMinutes": 5}, []),
    ({"strategy": "BLUE_GREEN", "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["TEST_TRAFFIC_SHIFT"]}]},
     ["PAUSE lifecycle hooks cannot be configured at the TEST_TRAFFIC_SHIFT stage"]),
    ({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0}}, ["canaryConfiguration.canaryPercent must be between 0.1 and 100, not 0"]),
    ({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2}}, ["linearConfiguration.stepPercent must be between 3 and 100, not 2"]),
    ({"strategy": "BLUE_GREEN", "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"],
                                                    "timeoutConfiguration": {"timeoutInMinutes": 0}}]},
     ["lifecycleHooks[0].timeoutConfiguration.timeoutInMinutes must be between 1 and 20160, not 0"]),
    ({"strategy": "ROLLING", "bakeTimeInMinutes": 99999}, []),
])
def test_configuration_problems(config, found):
    assert problems(config) == found


@pytest.mark.parametrize("controller, config, lbs, native", [
    ({"type": "ECS"}, {"strategy": "CANARY"}, LB, True),
    (None, {"strategy": "BLUE_GREEN"}, LB, True),
    ({"type": "CODE_DEPLOY"}, {"strategy": "CANARY"}, LB, False),
    ({"type": "ECS"}, {"strategy": "ROLLING"}, LB, False),
    ({"type": "ECS"}, {"strategy": "LINEAR"}, [{"targetGroupArn": "tg-blue"}], False),
])
def test_which_services_are_native(controller, config, lbs, native):
    assert is_native(controller, config, lbs) is native


# ------------------------------------------------------------ stage order and weights
BEFORE = ["PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT"]
AFTER = ["POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"]
SHIFT = ["PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"]


@pytest.mark.parametrize("config, shifts, production", [
    ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}, 1, [0, 100]),
    ({"strategy": "CANARY", "bakeTimeInMinutes": 1, "canaryConfiguration": {"canaryPercent": 10, "canaryBakeTimeInMinutes": 1}}, 2, [0, 10, 100]),
    ({"strategy": "LINEAR", "bakeTimeInMinutes": 1, "linearConfiguration": {"stepPercent": 25, "stepBakeTimeInMinutes": 1}}, 4,
     [0, 25, 50, 75, 100]),
])
def test_stage_order_and_production_weights_per_strategy(config, shifts, production):
    clock = FakeClock()
    d = deployment(config)
    trace = run(d, clock)
    assert d.status == m.SUCCESSFUL and d.finished_at == trace[-1].at
    assert stages(trace) == BEFORE + SHIFT * shifts + AFTER
    assert weights(trace) == production
    first_test = next(s for s in trace if s.test == 100)
    assert first_test.stage == "TEST_TRAFFIC_SHIFT" and first_test.production == 0  # test traffic first, production untouched


def test_each_production_step_bakes_and_the_deployment_bakes_with_both_revisions(monkeypatch):
    """Canary 10 % for canaryBakeTimeInMinutes, then 100 %; BAKE_TIME lasts bakeTimeInMinutes (minutes scaled)."""
    clock = FakeClock()
    d = deployment({"strategy": "CANARY", "bakeTimeInMinutes": 3, "canaryConfiguration": {"canaryPercent": 10, "canaryBakeTimeInMinutes": 2}})
    trace = run(d, clock, minute=0.5, tick=0.05)
    canary = [s.at for s in trace if s.stage == "PRODUCTION_TRAFFIC_SHIFT" and s.production == 10]
    bake = [s.at for s in trace if s.stage == "BAKE_TIME"]
    assert canary[-1] - canary[0] == pytest.approx(2 * 0.5, abs=0.06)
    assert bake[-1] - bake[0] == pytest.approx(3 * 0.5, abs=0.06)
    baking = [s for s in trace if s.stage == "BAKE_TIME"]
    assert all(s.production == 100 for s in baking)
    # the shifts without a bake still take SHIFT_MINUTES, so a client polling every second or two sees them
    test = [s.at for s in trace if s.stage == "TEST_TRAFFIC_SHIFT"]
    rest = [s.at for s in trace if s.stage == "PRODUCTION_TRAFFIC_SHIFT" and s.production == 100]
    assert test[-1] - test[0] == pytest.approx(m.SHIFT_MINUTES * 0.5, abs=0.06)
    assert rest[-1] - rest[0] == pytest.approx(m.SHIFT_MINUTES * 0.5, abs=0.06)


def test_more_than_one_active_revision_reconciles_first():
    """AWS: RECONCILE_SERVICE happens only when more than one revision is active; the other ones stop
    and take no traffic before the new revision scales up."""
    clock = FakeClock()
    d = deployment({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0}, sources=(SOURCE, "arn:stale"))
    d.production_weight = 30.0  # a superseded canary left 30 % on the alternate group
    world = World()
    first = m.advance(d, world.seen(), clock.now, 1.0)
    assert d.stage == "RECONCILE_SERVICE" and (first.production_weight, first.stale_tasks, first.target_tasks) == (0, False, False)
    world.react(first)
    clock.sleep(0.25)
    trace = run(d, clock, world)
    assert ["RECONCILE_SERVICE", *stages(trace)] == ["RECONCILE_SERVICE", *BEFORE, *SHIFT, *AFTER]


def test_a_first_deployment_only_scales_up_and_leaves_the_rules_alone():
    clock = FakeClock()
    d = deployment({"strategy": "CANARY"}, sources=(), initial=True)
    trace = run(d, clock)
    assert stages(trace) == ["SCALE_UP"] and d.status == m.SUCCESSFUL
    assert {(s.production, s.test) for s in trace} == {(None, None)}


# ------------------------------------------------------------ PAUSE hooks
CANARY_PAUSED = {"strategy": "CANARY", "bakeTimeInMinutes": 0, "canaryConfiguration": {"canaryPercent": 20, "canaryBakeTimeInMinutes": 0},
                 "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
                                     "timeoutConfiguration": {"timeoutInMinutes": 30, "action": "ROLLBACK"}}]}


def test_a_pause_hook_waits_before_every_production_step_until_continued():
    """AWS: PRE_PRODUCTION_TRAFFIC_SHIFT runs before every step, so a canary pauses twice."""
    clock = FakeClock()
    d = deployment(CANARY_PAUSED)
    trace = run(d, clock, until=lambda d: any(h.status == m.AWAITING for h in d.waiting))
    (hook,) = d.hooks
    assert d.stage == "PRE_PRODUCTION_TRAFFIC_SHIFT" and d.status == m.IN_PROGRESS and trace[-1].production == 0
    assert hook.hook_id.startswith("ecs-pause-") and (hook.target_type, hook.timeout_action) == ("PAUSE", "ROLLBACK")
    assert hook.expires_at == pytest.approx(trace[-1].at + 30 * 1.0)
    for _ in range(40):  # waiting: nothing moves
        m.advance(d, World().seen(), clock.now, 1.0)
        clock.sleep(0.25)
    assert d.stage == "PRE_PRODUCTION_TRAFFIC_SHIFT" and d.production_weight == 0
    trace = run(d, clock, on_tick=continue_all)
    assert d.status == m.SUCCESSFUL and weights(trace) == [0, 20, 100]
    assert [(h.stage, h.status) for h in d.hooks] == [("PRE_PRODUCTION_TRAFFIC_SHIFT", m.SUCCEEDED)] * 2
    assert d.hooks[0].hook_id != d.hooks[1].hook_id


def test_continue_with_rollback_puts_traffic_back_first_then_stops_the_new_revision():
    clock = FakeClock()
    d = deployment(CANARY_PAUSED)
    world = World()
    run(d, clock, world, until=lambda d: len(d.hooks) == 1)
    m.continue_hook(d, d.hooks[0].hook_id, "CONTINUE", clock.now)
    run(d, clock, world, until=lambda d: len(d.hooks) == 2)  # paused again, 20 % on the new revision
    assert d.production_weight == 20 and d.test_weight == 100
    m.continue_hook(d, d.hooks[1].hook_id, "ROLLBACK", clock.now)
    assert d.status == m.ROLLBACK_REQUESTED and d.hooks[1].status == m.FAILED
    rolling = m.advance(d, world.seen(), clock.now + 0.25, 1.0)
    assert d.status == m.ROLLBACK_IN_PROGRESS
    assert (rolling.production_weight, rolling.test_weight, rolling.target_tasks, rolling.source_tasks) == (0, 0, False, True)
    world.react(rolling)
    done = m.advance(d, world.seen(), clock.now + 0.5, 1.0)
    assert d.status == m.ROLLBACK_SUCCESSFUL and done.production_weight == 0
    assert d.rollback.revision_arn == SOURCE and "ContinueServiceDeployment" in d.rollback.reason
    assert d.rollback.started_at == clock.now


@pytest.mark.parametrize("action, ends", [("ROLLBACK", m.ROLLBACK_SUCCESSFUL), ("CONTINUE", m.SUCCESSFUL)])
def test_a_hook_that_times_out_takes_its_timeout_action(action, ends):
    clock = FakeClock()
    config = {**CANARY_PAUSED, "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"],
                                                    "timeoutConfiguration": {"timeoutInMinutes": 2, "action": action}}]}
    d = deployment(config)
    trace = run(d, clock, minute=0.5)
    (hook,) = d.hooks
    assert hook.status == m.TIMED_OUT and d.status == ends
    paused = [s.at for s in trace if s.stage == "POST_SCALE_UP"]
    assert paused[-1] - paused[0] == pytest.approx(2 * 0.5, abs=0.3)  # two ECS minutes of 0.5 s
    if action == "ROLLBACK":
        assert "timed out" in d.rollback.reason and weights(trace)[-1] == 0


def test_continue_is_refused_unless_the_hook_awaits_and_the_deployment_is_in_progress():
    clock = FakeClock()
    d = deployment(CANARY_PAUSED)
    with pytest.raises(m.Refused) as refused:
        m.continue_hook(d, "ecs-pause-x", "CONTINUE", clock.now)
    assert refused.value.code == "ClientException" and "PENDING, not IN_PROGRESS" in refused.value.message
    run(d, clock, until=lambda d: bool(d.hooks))
    with pytest.raises(m.Refused) as refused:
        m.continue_hook(d, "ecs-pause-unknown", "CONTINUE", clock.now)
    assert refused.value.code == "InvalidParameterException" and "was not found" in refused.value.message
    hook = d.hooks[0].hook_id
    m.continue_hook(d, hook, "CONTINUE", clock.now)
    with pytest.raises(m.Refused) as refused:
        m.continue_hook(d, hook, "CONTINUE", clock.now)
    assert refused.value.code == "InvalidParameterException" and "is SUCCEEDED, not AWAITING_ACTION" in refused.value.message


# ------------------------------------------------------------ alarms and StopServiceDeployment
ALARMED = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 10, "alarms": {"alarmNames": ["web-5xx", "web-p99"], "enable": True, "rollback": True}}


def test_an_alarm_during_the_bake_rolls_back_and_names_the_alarm():
    clock = FakeClock()
    d = deployment(ALARMED)
    world = World()
    run(d, clock, world, until=lambda d: d.stage == "BAKE_TIME")
    assert m.monitoring(d) and m.alarms_status(d) == "MONITORING"
    world.alarms = ("web-5xx",)
    trace = run(d, clock, world)
    assert d.status == m.ROLLBACK_SUCCESSFUL and d.triggered_alarms == ("web-5xx",) and m.alarms_status(d) == "TRIGGERED"
    assert "web-5xx" in d.status_reason and d.rollback.revision_arn == SOURCE
    assert trace[0].production == 0 and trace[0].status == m.ROLLBACK_IN_PROGRESS  # the first thing: traffic back


def test_alarms_are_watched_from_scale_up_to_the_bake_only():
    clock = FakeClock()
    d = deployment(ALARMED)
    world = World()
    world.alarms = ("web-5xx",)
    m.advance(d, world.seen(), clock.now, 1.0)
    assert d.stage == "PRE_SCALE_UP" and not m.monitoring(d) and d.status == m.IN_PROGRESS
    clock.sleep(0.25)
    m.advance(d, world.seen(), clock.now, 1.0)
    assert d.stage == "SCALE_UP" and m.monitoring(d)
    clock.sleep(0.25)
    m.advance(d, world.seen(), clock.now, 1.0)
    assert d.status == m.ROLLBACK_IN_PROGRESS


def test_an_alarm_without_rollback_stops_the_deployment_where_it_is():
    clock = FakeClock()
    d = deployment({**ALARMED, "alarms": {"alarmNames": ["web-5xx"], "enable": True, "rollback": False}})
    world = World()
    run(d, clock, world, until=lambda d: d.stage == "BAKE_TIME")
    world.alarms = ("web-5xx",)
    intent = m.advance(d, world.seen(), clock.now + 0.25, 1.0)
    assert d.status == m.STOPPED and d.rollback is None and intent.production_weight == 100 and intent.target_tasks


@pytest.mark.parametrize("stop_type", ["ROLLBACK", "ABORT"])
def test_stop_service_deployment_rolls_back(stop_type):
    """AWS: PENDING or IN_PROGRESS moves to ROLLBACK_REQUESTED, then rolls back; ABORT is undocumented (as ROLLBACK)."""
    clock = FakeClock()
    d = deployment({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 60})
    run(d, clock, until=lambda d: d.stage == "BAKE_TIME")
    m.request_stop(d, stop_type, clock.now)
    assert d.status == m.ROLLBACK_REQUESTED and d.stopped_at == clock.now
    m.request_stop(d, stop_type, clock.now)  # already rolling back: continues
    trace = run(d, clock)
    assert d.status == m.ROLLBACK_SUCCESSFUL and weights(trace) == [0]
    with pytest.raises(m.Refused) as refused:
        m.request_stop(d, "ROLLBACK", clock.now)
    assert refused.value.code == "ConflictException"


def test_a_newer_deployment_supersedes_a_running_one():
    clock = FakeClock()
    d = deployment(CANARY_PAUSED)
    run(d, clock, until=lambda d: bool(d.hooks))
    m.supersede(d, "arn:newer", clock.now)
    assert d.status == m.STOPPED and "arn:newer" in d.status_reason and d.hooks[0].status == m.FAILED
