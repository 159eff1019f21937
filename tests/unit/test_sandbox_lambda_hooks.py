"""AWS_LAMBDA lifecycle hooks in the sandbox's stage machine, on an injected clock (no threads, no processes).

AWS ("Lambda hooks for Amazon ECS service deployments"): ECS invokes the function at the hook's
stage; hookStatus SUCCEEDED moves on, FAILED rolls back, IN_PROGRESS has it invoked again after
callBackDelay seconds (default 30) with the hookDetails it returned; no valid hookStatus, or a
function error, rolls back. The hook's timeout applies as for PAUSE hooks.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from deployer.sandbox import lambda_hooks as hooks
from deployer.sandbox import native_deployments as m
from deployer.sandbox.lambda_hooks import HookAnswer, HookCall
from deployer.sandbox.native_settings import problems
from tests.fakes import FakeClock
from tests.unit.test_sandbox_native_deployments import SOURCE, TARGET, World, deployment

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:judge"
DEPLOYMENT = "arn:aws:ecs:us-east-1:123456789012:service-deployment/c/web/d1"


def lambda_hook(stage: str, details: dict | None = None, **timeout) -> dict:
    hook = {"hookTargetArn": FUNCTION, "roleArn": "arn:aws:iam::123456789012:role/ecs-hooks", "lifecycleStages": [stage]}
    if details is not None:
        hook["hookDetails"] = details
    if timeout:
        hook["timeoutConfiguration"] = timeout
    return hook


def config(*hooks_: dict, strategy: str = "BLUE_GREEN", **more) -> dict:
    return {"strategy": strategy, "bakeTimeInMinutes": 0, "lifecycleHooks": list(hooks_), **more}


def counting(call: HookCall) -> HookAnswer:
    """The scripted judge: IN_PROGRESS twice (counting in hookDetails, a 60 s callBackDelay), then SUCCEEDED."""
    count = (call.payload.get("hookDetails") or {}).get("count", 0)
    if count < 2:
        return HookAnswer(call.hook_id, {"hookStatus": "IN_PROGRESS", "callBackDelay": 60, "hookDetails": {"count": count + 1}})
    return HookAnswer(call.hook_id, {"hookStatus": "SUCCEEDED"})


def drive(d: m.Deployment, clock: FakeClock, function=None, *, world: World | None = None, minute: float = 1.0,
          tick: float = 0.25, until=lambda d: d.status not in m.ACTIVE, limit: int = 2000) -> list[tuple[float, HookCall]]:
    """Tick the machine as the scheduler does: each call's answer (from `function`; None: it never
    answers) comes back on the next tick. Returns the calls made, with when."""
    world = world or World()
    made: list[tuple[float, HookCall]] = []
    answers: list[HookAnswer] = []
    for _ in range(limit):
        intent = m.advance(d, replace(world.seen(), answers=tuple(answers)), clock.now, minute)
        world.react(intent)
        answers = []
        for call in intent.calls:
            made.append((clock.now, call))
            if function is not None:
                answers.append(function(call))
        if until(d):
            return made
        clock.sleep(tick)
    raise AssertionError(f"still {d.status} at {d.stage} after {limit} ticks")


def test_a_lambda_hook_is_invoked_again_while_in_progress_then_the_deployment_moves_on():
    clock = FakeClock()
    d = deployment(config(lambda_hook("POST_TEST_TRAFFIC_SHIFT", {"service": "web", "stage": "POST_TEST_TRAFFIC_SHIFT"})))
    calls = drive(d, clock, counting)
    assert d.status == m.SUCCESSFUL
    (hook,) = d.hooks
    assert hook.hook_id.startswith("ecs-lambda-") and (hook.target_type, hook.target_arn, hook.stage, hook.status) == (
        "AWS_LAMBDA", FUNCTION, "POST_TEST_TRAFFIC_SHIFT", m.SUCCEEDED)
    assert [c.payload["hookDetails"] for _, c in calls] == [
        {"service": "web", "stage": "POST_TEST_TRAFFIC_SHIFT"},
        {"service": "web", "stage": "POST_TEST_TRAFFIC_SHIFT", "count": 1},
        {"service": "web", "stage": "POST_TEST_TRAFFIC_SHIFT", "count": 2}]
    assert {c.function_arn for _, c in calls} == {FUNCTION} and hook.invocations == 3
    times = [at for at, _ in calls]
    # callBackDelay 60 s is one ECS minute (1.0 s here); the answer comes a tick after the call
    assert [round(b - a, 2) for a, b in zip(times, times[1:])] == [1.25, 1.25]


def test_the_stage_waits_for_the_hook():
    clock = FakeClock()
    d = deployment(config(lambda_hook("POST_SCALE_UP")))
    drive(d, clock, None, until=lambda d: bool(d.hooks))
    for _ in range(40):  # no answer yet: nothing moves, no second call
        assert m.advance(d, World().seen(), clock.now, 1.0).calls == ()
        clock.sleep(0.25)
    assert d.stage == "POST_SCALE_UP" and d.hooks[0].status == m.IN_PROGRESS and d.hooks[0].invocations == 1


def test_the_payload_has_the_documented_fields_and_the_shape_ecs_sends():
    clock = FakeClock()
    d = deployment(config(lambda_hook("TEST_TRAFFIC_SHIFT"), lambda_hook("PRODUCTION_TRAFFIC_SHIFT"), lambda_hook("PRE_SCALE_UP"),
                          strategy="CANARY", canaryConfiguration={"canaryPercent": 20, "canaryBakeTimeInMinutes": 0}))
    calls = {call.payload["lifecycleStage"] + str(i): call.payload
             for i, (_, call) in enumerate(drive(d, clock, lambda c: HookAnswer(c.hook_id, {"hookStatus": "SUCCEEDED"})))}
    assert list(calls) == ["PRE_SCALE_UP0", "TEST_TRAFFIC_SHIFT1", "PRODUCTION_TRAFFIC_SHIFT2", "PRODUCTION_TRAFFIC_SHIFT3"]
    first = calls["PRE_SCALE_UP0"]
    details = {"serviceArn": "svc", "targetServiceRevisionArn": TARGET, "testTrafficWeights": {}, "productionTrafficWeights": {}}
    assert {k: first[k] for k in details} == details and first["executionDetails"] == details
    assert first["resourceArn"] == DEPLOYMENT and "hookDetails" not in first and len(first["executionId"]) == 36
    assert calls["TEST_TRAFFIC_SHIFT1"]["testTrafficWeights"] == {TARGET: 100, SOURCE: 0}
    assert calls["TEST_TRAFFIC_SHIFT1"]["productionTrafficWeights"] == {}
    assert [calls[k]["productionTrafficWeights"] for k in ("PRODUCTION_TRAFFIC_SHIFT2", "PRODUCTION_TRAFFIC_SHIFT3")] == [
        {TARGET: 20, SOURCE: 80}, {TARGET: 100, SOURCE: 0}]
    assert calls["PRODUCTION_TRAFFIC_SHIFT2"]["executionDetails"]["productionTrafficWeights"] == {TARGET: 20, SOURCE: 80}
    assert d.status == m.SUCCESSFUL and len({h.hook_id for h in d.hooks}) == 4


@pytest.mark.parametrize("answer, error, reason", [
    ({"hookStatus": "FAILED"}, None, "the function returned hookStatus FAILED"),
    ({"hookStatus": "DONE"}, None, 'no valid hookStatus ({"hookStatus": "DONE"})'),
    ({}, None, "no valid hookStatus ({})"),
    (None, None, "no valid hookStatus (null)"),
    ("SUCCEEDED", None, "no valid hookStatus ('SUCCEEDED')"),
    (None, "Sandbox.Timedout: Task timed out after 3.00 seconds", "the function failed (Sandbox.Timedout: Task timed out"),
])
def test_failed_invalid_or_failing_answers_roll_back_with_traffic_first(answer, error, reason):
    clock = FakeClock()
    d = deployment(config(lambda_hook("POST_TEST_TRAFFIC_SHIFT")))
    world = World()
    calls = drive(d, clock, lambda c: HookAnswer(c.hook_id, answer, error), world=world,
                  until=lambda d: d.status == m.ROLLBACK_IN_PROGRESS)
    (hook,) = d.hooks
    assert len(calls) == 1 and hook.status == m.FAILED and reason in d.status_reason and hook.hook_id in d.status_reason
    assert (d.production_weight, d.test_weight, d.target_running) == (0, 0, False)
    assert drive(d, clock, counting, world=world) == [] and d.status == m.ROLLBACK_SUCCESSFUL


@pytest.mark.parametrize("action, ends", [("ROLLBACK", m.ROLLBACK_SUCCESSFUL), ("CONTINUE", m.SUCCESSFUL)])
def test_a_lambda_hook_that_never_answers_times_out(action, ends):
    clock = FakeClock()
    d = deployment(config(lambda_hook("POST_SCALE_UP", timeoutInMinutes=2, action=action)))
    drive(d, clock, None, minute=0.5)
    (hook,) = d.hooks
    assert hook.status == m.TIMED_OUT and d.status == ends and hook.invocations == 1


def test_a_late_answer_is_dropped():
    """The hook timed out (CONTINUE) while its invocation ran: what it answers then changes nothing."""
    clock = FakeClock()
    d = deployment(config(lambda_hook("POST_SCALE_UP", timeoutInMinutes=1, action="CONTINUE")))
    drive(d, clock, None, until=lambda d: d.hooks and d.hooks[0].status == m.TIMED_OUT)
    late = HookAnswer(d.hooks[0].hook_id, {"hookStatus": "FAILED"})
    m.advance(d, replace(World().seen(), answers=(late,)), clock.now + 0.25, 1.0)
    assert d.status == m.IN_PROGRESS and d.hooks[0].status == m.TIMED_OUT


def test_a_stop_while_the_function_runs_fails_the_hook_and_drops_its_answer():
    clock = FakeClock()
    d = deployment(config(lambda_hook("POST_SCALE_UP")))
    world = World()
    (call,) = [c for _, c in drive(d, clock, None, world=world, until=lambda d: bool(d.hooks))]
    m.request_stop(d, "ROLLBACK", clock.now)
    assert d.hooks[0].status == m.FAILED
    intent = m.advance(d, replace(world.seen(), answers=(counting(call),)), clock.now + 0.25, 1.0)
    assert d.status == m.ROLLBACK_IN_PROGRESS and intent.calls == () and d.hooks[0].invocations == 1
    with pytest.raises(m.Refused) as refused:  # ContinueServiceDeployment is for PAUSE hooks
        m.continue_hook(d, d.hooks[0].hook_id, "CONTINUE", clock.now)
    assert refused.value.code == "ClientException"


def test_a_pause_and_a_lambda_hook_at_one_stage_both_hold_it():
    clock = FakeClock()
    pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}
    d = deployment(config(pause, lambda_hook("POST_SCALE_UP")))
    drive(d, clock, lambda c: HookAnswer(c.hook_id, {"hookStatus": "SUCCEEDED"}),
          until=lambda d: d.hooks and d.hooks[1].status == m.SUCCEEDED)
    for _ in range(8):
        m.advance(d, World().seen(), clock.now, 1.0)
        clock.sleep(0.25)
    assert d.stage == "POST_SCALE_UP" and [h.status for h in d.hooks] == [m.AWAITING, m.SUCCEEDED]
    m.continue_hook(d, d.hooks[0].hook_id, "CONTINUE", clock.now)
    drive(d, clock, None)
    assert d.status == m.SUCCESSFUL


def test_a_lambda_hook_needs_its_function():
    """AWS (API_DeploymentLifecycleHook): hookTargetArn must be given for an AWS_LAMBDA hook (the default type)."""
    assert problems({"strategy": "BLUE_GREEN", "lifecycleHooks": [{"lifecycleStages": ["POST_SCALE_UP"]}]}) == [
        "lifecycleHooks[0].hookTargetArn is required for an AWS_LAMBDA lifecycle hook"]
    assert problems(config(lambda_hook("POST_SCALE_UP"))) == []


# ------------------------------------------------------------ reading answers
@pytest.mark.parametrize("answer, status, delay, details", [
    ({"hookStatus": "SUCCEEDED", "hookDetails": {"ignored": 1}}, "SUCCEEDED", 30.0, None),
    ({"hookStatus": "IN_PROGRESS"}, "IN_PROGRESS", 30.0, None),
    ({"hookStatus": "IN_PROGRESS", "callBackDelay": 5, "hookDetails": {"n": 1}}, "IN_PROGRESS", 5.0, {"n": 1}),
    ({"hookStatus": "IN_PROGRESS", "callBackDelay": 0}, "IN_PROGRESS", 30.0, None),
    ({"hookStatus": "IN_PROGRESS", "callBackDelay": "soon"}, "IN_PROGRESS", 30.0, None),
    ({"hookStatus": "in_progress"}, None, 30.0, None),
])
def test_reading_an_answer(answer, status, delay, details):
    reply = hooks.read(HookAnswer("h", answer))
    assert (reply.status, reply.delay, reply.details) == (status, delay, details)


@pytest.mark.parametrize("current, returned, merged", [
    ({"service": "web"}, {"count": 1}, {"service": "web", "count": 1}),
    ({"count": 1}, {"count": 2}, {"count": 2}),
    ({"service": "web"}, None, {"service": "web"}),
    (None, {"count": 1}, {"count": 1}),
    ({"service": "web"}, ["a"], ["a"]),
])
def test_returned_hook_details_merge_into_the_configured_ones(current, returned, merged):
    assert hooks.merge(current, returned) == merged


@pytest.mark.parametrize("delay, minute, seconds", [(30, 5.0, 2.5), (60, 2.0, 2.0), (30, 0.2, 0.2), (1, 5.0, 0.2)])
def test_the_callback_delay_runs_on_the_sandbox_time_scale(delay, minute, seconds):
    assert hooks.wait(delay, minute) == pytest.approx(seconds)


def test_configured_hook_details_may_be_json_text():
    """CloudFormation's HookDetails is "a JSON object as a string" or an object."""
    d = deployment(config(lambda_hook("PRE_SCALE_UP", {"service": "web"})))
    assert d.settings.hooks[0].details == '{"service": "web"}'
    text = deployment(config({**lambda_hook("PRE_SCALE_UP"), "hookDetails": '{"service": "api"}'}))
    assert hooks.configured(text.settings.hooks[0].details) == {"service": "api"}
