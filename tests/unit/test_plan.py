"""Plans are data: each strategy's steps, and the rollback plan from every point."""

import pytest

from deployer.errors import InconsistentState, UsageError
from deployer.release.plan import ColorState, Observed, plan_from_dict, plan_manual_rollback, plan_rollback
from deployer.release.strategies import plan_release, request_from_spec
from deployer.release.steps import (
    NEW_REVISION, Bake, DeployColor, Gate, GateLimits, Pause, PointTestListener, PreTrafficCheck, Promote,
    RegisterTaskDefinition, ScaleDown, ShiftTraffic, WaitHealthy, WatchRollout,
)

TD1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
BLUE_LIVE = Observed({"blue": ColorState(TD1, 2, 100), "green": ColorState(TD1, 0, 0)})
GREEN_LIVE = Observed({"blue": ColorState(TD1, 0, 0), "green": ColorState(TD1, 3, 100)})


# examples/deployer.yaml's web gates, resolved into every gate and bake of its plans
WEB_LIMITS = GateLimits(max_5xx_rate=5.0, max_p99_ms=500.0, margin=0.25, p99_min_delta_ms=50.0, min_requests=100,
                        confidence=0.99, period=5, max_inconclusive=5, alarms=())


def test_canary_plan(examples_config):
    web = examples_config.services["web"]
    plan = plan_release(web, BLUE_LIVE, request_from_spec(web, "example/web:2"))
    assert (plan.live, plan.target, plan.strategy) == ("blue", "green", "canary")
    L = WEB_LIMITS
    assert plan.steps == (
        RegisterTaskDefinition(TD1, "example/web:2"),
        DeployColor("green", NEW_REVISION, 2),
        WaitHealthy("green", 2, 180),
        PointTestListener("green"),
        ShiftTraffic((("blue", 90), ("green", 10))), Bake(10, L), Gate("green", "blue", 10, L),
        ShiftTraffic((("blue", 75), ("green", 25))), Bake(10, L), Gate("green", "blue", 25, L),
        ShiftTraffic((("blue", 50), ("green", 50))), Bake(10, L), Gate("green", "blue", 50, L),
        ShiftTraffic((("blue", 0), ("green", 100))), Bake(10, L), Gate("green", None, 100, L),
        Promote("green"),
        PointTestListener("blue"),
        ScaleDown("blue", after=300),
    )


def test_canary_from_green_goes_to_blue_with_live_count_and_pause(examples_config):
    web = examples_config.services["web"]
    plan = plan_release(web, GREEN_LIVE, request_from_spec(web, "example/web:3", steps=[10, "pause", 100], bake=5))
    assert plan.steps[1] == DeployColor("blue", NEW_REVISION, 3)
    kinds = [type(s).__name__ for s in plan.steps]
    assert kinds[4:12] == ["ShiftTraffic", "Bake", "Gate", "Pause", "ShiftTraffic", "Bake", "Gate", "Promote"]
    assert plan.steps[7] == Pause(10)


def test_bluegreen_over_dns_has_one_switch_and_no_test_listener(examples_config):
    api = examples_config.services["api"]
    plan = plan_release(api, BLUE_LIVE, request_from_spec(api, "example/api:2"))
    assert [type(s) for s in plan.steps] == [
        RegisterTaskDefinition, DeployColor, WaitHealthy, ShiftTraffic, Bake, Gate, Promote, ScaleDown]
    assert plan.steps[3] == ShiftTraffic((("blue", 0), ("green", 100)), dns_ttl=30)


def test_bluegreen_with_test_listener_checks_before_traffic(examples_config):
    web = examples_config.services["web"]
    plan = plan_release(web, BLUE_LIVE, request_from_spec(web, "example/web:2", strategy="bluegreen"))
    assert plan.steps[3:6] == (PointTestListener("green"), PreTrafficCheck("green"), ShiftTraffic((("blue", 0), ("green", 100))))


def test_rolling_plan_uses_the_preset(examples_config):
    worker = examples_config.services["worker-web"]
    observed = Observed({"main": ColorState(TD1, 4)})
    plan = plan_release(worker, observed, request_from_spec(worker, "example/worker-web:2"))
    assert plan.steps == (
        RegisterTaskDefinition(TD1, "example/worker-web:2"),
        DeployColor("main", NEW_REVISION, 4, 50, 100),
        WatchRollout("main", 1800, GateLimits.from_spec(worker.release.gates)),
    )


def test_strategy_mismatch_is_a_usage_error(examples_config):
    with pytest.raises(UsageError, match="one ECS service"):
        request_from_spec(examples_config.services["worker-web"], "x:2", strategy="canary")
    with pytest.raises(UsageError, match="blue/green service"):
        request_from_spec(examples_config.services["web"], "x:2", strategy="rolling")


def test_split_traffic_refuses_a_new_plan(examples_config):
    web = examples_config.services["web"]
    split = Observed({"blue": ColorState(TD1, 2, 75), "green": ColorState(TD1, 2, 25)})
    with pytest.raises(InconsistentState, match="traffic is split"):
        plan_release(web, split, request_from_spec(web, "x:2"))


def test_rollback_plan_from_every_step_of_a_canary(examples_config):
    web = examples_config.services["web"]
    plan = plan_release(web, BLUE_LIVE, request_from_spec(web, "example/web:2"))
    assert any(isinstance(s, Promote) for s in plan.steps)
    for done in range(len(plan.steps) + 1):  # past the promotion too: blue is still warm until released
        steps = plan_rollback(plan, done, TD1, 2)
        assert steps[0] == ShiftTraffic((("blue", 100), ("green", 0))), done  # traffic first, in one call
        assert (ScaleDown("green") in steps) == (done >= 1), done  # the deploy (index 1) may have begun
        assert (PointTestListener("green") in steps) == (done >= 3), done


def test_rollback_plan_of_rolling(examples_config):
    worker = examples_config.services["worker-web"]
    plan = plan_release(worker, Observed({"main": ColorState(TD1, 4)}), request_from_spec(worker, "w:2"))
    assert plan_rollback(plan, 0, TD1, 4) == ()
    for done in (1, 2, 3):
        assert plan_rollback(plan, done, TD1, 4) == (DeployColor("main", TD1, 4, 50, 100), WatchRollout("main", 1800))


def test_plan_round_trips_through_the_record(examples_config):
    web = examples_config.services["web"]
    plan = plan_release(web, BLUE_LIVE, request_from_spec(web, "example/web:2", steps=[10, "pause", 100]))
    assert plan_from_dict(plan.to_dict()) == plan


def test_manual_rollback_is_one_call_when_warm(examples_config):
    web = examples_config.services["web"]
    plan = plan_manual_rollback(web, GREEN_LIVE, TD1, warm=True, keep_previous=0)
    assert plan.steps == (ShiftTraffic((("blue", 100), ("green", 0))), Promote("blue"), ScaleDown("green", 0))
    cold = plan_manual_rollback(web, GREEN_LIVE, TD1, warm=False, keep_previous=60)
    assert cold.steps[:2] == (DeployColor("blue", TD1, 3), WaitHealthy("blue", 3))


def test_plan_lines_are_readable(examples_config):
    web = examples_config.services["web"]
    lines = plan_release(web, BLUE_LIVE, request_from_spec(web, "example/web:2")).lines()
    assert lines[0] == " 1. register a revision of web:1 with image example/web:2"
    assert " 5. shift traffic: blue 90%, green 10%" in lines
    assert lines[-1] == "19. scale blue down after 5m00s warm"


def test_pause_after_inserts_one_pause():
    from deployer.release.strategies import with_pause_after

    assert with_pause_after([10, 25, 50, 100], 10) == (10, "pause", 25, 50, 100)
    assert with_pause_after([10, "pause", 100], 10) == (10, "pause", 100)
    with pytest.raises(UsageError, match="no step with that weight"):
        with_pause_after([10, 100], 30)
    with pytest.raises(UsageError, match="complete at 100%"):
        with_pause_after([10, 100], 100)
