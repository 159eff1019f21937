"""The judge function's decisions, against a scripted ECS that calls it at its AWS_LAMBDA hooks
(stages in ECS's order, IN_PROGRESS called again after callBackDelay with the hookDetails it
returned), and the guard's care of releases whose runner is gone."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from deployer.aws.ecs_deployments import Hook
from deployer.errors import RolledBack
from deployer.judge.guard import tick
from deployer.judge.hook import answer
from deployer.release import record as states
from deployer.release import service as releases
from deployer.release.follow import wait
from deployer.release.memory_journal import MemoryJournal
from deployer.release.report import report
from deployer.release.strategies import request_from_spec
from tests.fakes import Behaviour, FakeClock, FakeTarget
from tests.unit.test_native_release import ScriptedEcs, make


@dataclass
class LambdaEcs(ScriptedEcs):
    """ECS calling the judge function (an AWS_LAMBDA hook) instead of pausing for ContinueServiceDeployment."""

    lambda_at: tuple = ("PRE_PRODUCTION_TRAFFIC_SHIFT",)

    def deployment(self, arn: str):
        import dataclasses

        return dataclasses.replace(super().deployment(arn), target_revision=f"revision-of-{self.revision}")

    def _enter_next(self) -> None:
        super()._enter_next()
        if 0 <= self.at < len(self.script) and self.script[self.at][0] in self.lambda_at and self.status == "IN_PROGRESS":
            self.hook = Hook(f"ecs-lambda-{self.at}", "AWS_LAMBDA", "IN_PROGRESS")


class Ctx:
    """What the function gets from its environment, in memory."""

    def __init__(self, service, target, clock, journal):
        self.service, self.target, self.clock, self.journal = service, target, clock, journal
        self.holder = "judge:test"
        self.clock = clock
        self.calls: list[dict] = []

    def executor(self, service, prefix, stop=None):
        return make(service, self.target, self.clock, self.journal)


def ecs_runs(target: LambdaEcs, ctx: Ctx, clock: FakeClock, service="checkout", limit: int = 500, guard: list | None = None) -> None:
    """ECS's side: advance stages; at a Lambda hook call the judge and act on its answer. With
    `guard`, the schedule's guard runs every 20 s too (its answers appended there)."""
    carried: dict = {}
    next_guard = clock() + 20
    for _ in range(limit):
        if guard is not None and clock() >= next_guard:
            guard.extend(tick(ctx)["actions"])
            next_guard = clock() + 20
        target.deployment(target.arn)
        if target.status != "IN_PROGRESS":
            return
        if target.hook is None or target.hook.target_type != "AWS_LAMBDA":
            clock.sleep(2)
            continue
        stage = target.script[target.at][0]
        event = {"executionDetails": {"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/demo/checkout",
                                      "targetServiceRevisionArn": f"revision-of-{target.revision}",
                                      "testTrafficWeights": {}, "productionTrafficWeights": {}},
                 "lifecycleStage": stage, "hookDetails": {**carried, "service": service, "stage": stage}}
        response = answer(event, ctx)
        ctx.calls.append({"stage": stage, **response})
        if response["hookStatus"] == "SUCCEEDED":
            carried, target.hook = {}, None
            target._enter_next()
        elif response["hookStatus"] == "FAILED":
            target._roll_back()
            return
        else:
            assert response["hookStatus"] == "IN_PROGRESS" and response["callBackDelay"] > 0
            carried = response["hookDetails"]
            clock.sleep(response["callBackDelay"])
    raise AssertionError("ECS's deployment did not end")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def checkout(examples_config):
    spec = examples_config.services["checkout"]
    # the function cannot reach a test listener open to the VPC only: by default it judges before each shift
    return spec.replace(release=spec.release.replace(ecs=spec.release.ecs_options.replace(judge="lambda", judge_at=None)))


def handed_over(checkout, target, clock, journal):
    record = releases.release(make(checkout, target, clock, journal), request_from_spec(checkout, "example/checkout:2"), actor="ci")
    assert record.state == states.RUNNING and record.judge == "lambda" and record.ecs_deployment
    assert journal.holder("checkout") is None  # the runner's part is over: nothing holds the service
    assert report(record)["result"] == "detached" and report(record)["exit_code"] == 0
    return record


def test_good_canary_is_judged_by_the_function_stage_by_stage_and_settled(checkout, clock):
    target = LambdaEcs.native(clock, pause_at=(), behaviour={"example/checkout:2": Behaviour(0.01, 100)})
    journal = MemoryJournal()
    handed_over(checkout, target, clock, journal)
    assert target.answers == []  # no PAUSE hook: nobody calls ContinueServiceDeployment
    ctx = Ctx(checkout, target, clock, journal)
    ecs_runs(target, ctx, clock)
    assert target.status == "SUCCESSFUL"
    judged = [c for c in ctx.calls if c["hookStatus"] != "IN_PROGRESS"]
    assert [(c["stage"], c["hookStatus"]) for c in judged] == [("PRE_PRODUCTION_TRAFFIC_SHIFT", "SUCCEEDED"),
                                                              ("PRE_PRODUCTION_TRAFFIC_SHIFT", "SUCCEEDED")]
    # at 10% the first window after the shift was still filling: ECS was asked to call again, with the gate's state
    waits = [c for c in ctx.calls if c["hookStatus"] == "IN_PROGRESS"]
    assert waits and all(c["callBackDelay"] == checkout.release.gates.period for c in waits)
    assert waits[0]["hookDetails"]["deployer"]["reads"] == 1 and waits[0]["hookDetails"]["stage"] == "PRE_PRODUCTION_TRAFFIC_SHIFT"
    record = journal.latest("checkout")
    assert record.state == states.RUNNING and [v["outcome"] for v in record.verdicts][-1] == "PASS"
    # whoever follows it (`deployer wait`, or the guard) writes what ECS did
    done = wait(make(checkout, target, clock, journal), "ci", timeout=60)
    assert done.state == states.RELEASED and report(done)["exit_code"] == 0 and report(done)["judge"] == "lambda"
    assert journal.in_flight() == [] and journal.holder("checkout") is None


def test_bad_canary_is_failed_by_the_function_and_ecs_rolls_back(checkout, clock):
    target = LambdaEcs.native(clock, pause_at=(), behaviour={"example/checkout:3": Behaviour(error_rate=0.20)})
    journal = MemoryJournal()
    record = releases.release(make(checkout, target, clock, journal), request_from_spec(checkout, "example/checkout:3"), actor="ci")
    ctx = Ctx(checkout, target, clock, journal)
    ecs_runs(target, ctx, clock)
    assert ctx.calls[-1] == {"stage": "PRE_PRODUCTION_TRAFFIC_SHIFT", "hookStatus": "FAILED"}
    assert target.status == "ROLLBACK_SUCCESSFUL" and target.weights_now == {"blue": 100, "green": 0}
    record = journal.latest("checkout")
    assert record.state == states.ROLLING_BACK and record.reason.startswith("error_rate_above_limit: canary 5xx")
    failed = [v for v in record.verdicts if v["outcome"] == "FAIL"]
    assert failed and failed[0]["weight"] == 10
    done = tick(ctx)  # the guard's next run settles it
    assert done["actions"] == [{"service": "checkout", "release_id": record.id, "action": "settled", "state": states.ROLLED_BACK}]
    final = journal.latest("checkout")
    assert final.reason == record.reason and report(final)["exit_code"] == 3
    follower = make(checkout, target, clock, journal)
    with pytest.raises(RolledBack) as ended:  # `deployer wait` exits as the attached release would have: 3
        wait(follower, "ci", timeout=5)
    assert ended.value.exit_code == 3 and follower.record.state == states.ROLLED_BACK


def test_too_few_requests_is_in_progress_until_the_gate_gives_up(checkout, clock):
    target = LambdaEcs.native(clock, pause_at=(), rps=0.5, behaviour={"example/checkout:2": Behaviour(0.0, 50)})
    journal = MemoryJournal()
    handed_over(checkout, target, clock, journal)
    ctx = Ctx(checkout, target, clock, journal)
    ecs_runs(target, ctx, clock)
    at_canary = [c for c in ctx.calls if c["stage"] == "PRE_PRODUCTION_TRAFFIC_SHIFT"]
    assert [c["hookStatus"] for c in at_canary][-1] == "FAILED"
    assert sum(c["hookStatus"] == "IN_PROGRESS" for c in at_canary) == checkout.release.gates.max_inconclusive
    assert "still inconclusive after" in journal.latest("checkout").reason


def test_bad_hook_details_fail_safe_and_a_deployment_deployer_did_not_start_is_not_judged(checkout, clock):
    target = LambdaEcs.native(clock, pause_at=())
    ctx = Ctx(checkout, target, clock, MemoryJournal())
    assert answer({"hookDetails": {"service": "checkout"}}, ctx) == {"hookStatus": "FAILED"}
    assert answer({"hookDetails": {"service": "checkout", "stage": "PRODUCTION_TRAFFIC_SHIFT"}}, ctx) == {"hookStatus": "FAILED"}
    assert answer({}, ctx) == {"hookStatus": "FAILED"}
    assert answer({"hookDetails": {"service": "checkout", "stage": "PRE_PRODUCTION_TRAFFIC_SHIFT"}}, ctx) == {"hookStatus": "SUCCEEDED"}


def test_a_writer_holding_the_lock_makes_ecs_call_again(checkout, clock):
    target = LambdaEcs.native(clock, pause_at=())
    journal = MemoryJournal()
    record = handed_over(checkout, target, clock, journal)
    journal.acquire("checkout", "someone", record.id, clock(), 60)
    response = answer({"hookDetails": {"service": "checkout", "stage": "PRE_PRODUCTION_TRAFFIC_SHIFT"}}, Ctx(checkout, target, clock, journal))
    assert response["hookStatus"] == "IN_PROGRESS" and response["callBackDelay"] == 10
    assert response["hookDetails"] == {"service": "checkout", "stage": "PRE_PRODUCTION_TRAFFIC_SHIFT"}


# --- the guard: two-service releases whose runner is gone ---

class RunnerDied(BaseException):
    """kill -9 of the runner: nothing of it runs after this."""


def orphaned_canary(web, clock, journal, behaviour):
    target = FakeTarget.colors_service(clock, behaviour=behaviour)
    ex = make(web, target, clock, journal)
    real_wait = ex.wait

    def die_at_canary(seconds):
        if target.weights_now.get("green", 0) > 0:
            raise RunnerDied()
        real_wait(seconds)

    ex.wait = die_at_canary
    journal.release = lambda lease: None  # a killed process releases nothing: its lease runs out
    with pytest.raises(RunnerDied):
        releases.release(ex, request_from_spec(web, "example/web:3"), actor="ci")
    del journal.release
    assert 0 < target.weights_now["green"] < 100  # a canary serving, its runner gone
    return target


@pytest.mark.parametrize("on_orphan", ["rollback", "resume"])
def test_guard_takes_over_a_canary_whose_runner_lost_its_lease(examples_config, clock, on_orphan):
    web = examples_config.services["web"]
    web = web.replace(release=web.release.replace(on_orphan=on_orphan))
    journal = MemoryJournal()
    target = orphaned_canary(web, clock, journal, {"example/web:3": Behaviour(0.001, 60)})
    ctx = Ctx(web, target, clock, journal)
    assert tick(ctx)["actions"][0]["action"] == "none"  # its lease has not run out yet: maybe it is only slow
    clock.sleep(30)
    done = tick(ctx)["actions"][0]
    record = journal.latest("web")
    assert record.judge == "guard" and journal.holder("web") is None
    if on_orphan == "rollback":
        assert done["action"] == "rolled_back" and record.state == states.ROLLED_BACK
        assert target.weights_now == {"blue": 100, "green": 0} and target.colors["green"].desired == 0
        assert record.reason.startswith("orphaned: the runner ci lost its lease")
    else:
        assert done["action"] == "resumed" and record.state == states.RELEASED
        assert target.weights_now == {"blue": 0, "green": 100}
    assert journal.in_flight() == []
    assert tick(ctx)["actions"] == []


def test_guard_leaves_an_interrupted_release_to_people(examples_config, clock):
    web = examples_config.services["web"]
    journal = MemoryJournal()
    target = FakeTarget.colors_service(clock)
    stop = {"now": False}

    def stop_at_canary():
        stop["now"] = stop["now"] or target.weights_now.get("green", 0) > 0
        return stop["now"]

    with pytest.raises(Exception):
        releases.release(make(web, target, clock, journal, stop=stop_at_canary), request_from_spec(web, "example/web:3"), actor="ci")
    assert journal.latest("web").state == states.INTERRUPTED
    clock.sleep(60)
    assert tick(Ctx(web, target, clock, journal))["actions"][0]["action"] == "none"
    assert journal.latest("web").state == states.INTERRUPTED


def test_rolled_back_by_the_guard_reads_as_rolled_back_to_wait(examples_config, clock):
    web = examples_config.services["web"]
    journal = MemoryJournal()
    target = orphaned_canary(web, clock, journal, {"example/web:3": Behaviour(0.2)})
    clock.sleep(30)
    tick(Ctx(web, target, clock, journal))
    follower = make(web, target, clock, journal)
    with pytest.raises(RolledBack):
        wait(follower, "ci", timeout=5)
    assert follower.record.state == states.ROLLED_BACK and report(follower.record)["exit_code"] == 3
    assert target.weights_now == {"blue": 100, "green": 0}


def test_the_functions_policy_grants_only_calls_deployers_adapters_make():
    """The other half of the functional test (every call made is granted): every action granted is
    an operation some adapter calls, so the role holds nothing the code never asks for."""
    import re

    from deployer.judge.permissions import actions
    from tests.conftest import ROOT

    code = "".join(p.read_text() for p in (ROOT / "deployer/aws").glob("*.py"))
    called = set(re.findall(r'(?:_call|_conditional)\(\s*"([a-z_]+)"', code))
    for action in sorted(actions()):
        operation = re.sub(r"(?<!^)(?=[A-Z])", "_", action.split(":", 1)[1]).lower()
        assert operation in called, f"{action} is granted but no adapter calls {operation}"


def test_guard_stops_a_bad_canary_between_hooks(checkout, clock):
    """Between ECS's hooks (the canary's bake) no hook calls the function: the guard's gate read
    on the schedule fails the canary there and has ECS roll back, as the runner would at its poll."""
    target = LambdaEcs.native(clock, pause_at=(), canary_bake=600.0, behaviour={"example/checkout:3": Behaviour(error_rate=0.20)})
    journal = MemoryJournal()
    releases.release(make(checkout, target, clock, journal), request_from_spec(checkout, "example/checkout:3"), actor="ci")
    ctx = Ctx(checkout, target, clock, journal)
    seen: list = []
    ecs_runs(target, ctx, clock, guard=seen)
    stopped = [a for a in seen if a["action"] == "stopped"]
    assert stopped and stopped[0]["detail"].startswith("error_rate_above_limit"), seen
    assert target.stops == 1 and target.status == "ROLLBACK_SUCCESSFUL"
    assert not [c for c in ctx.calls if c["hookStatus"] == "FAILED"]  # it never reached the next hook
    settled = tick(ctx)["actions"]
    assert settled[0]["action"] == "settled" and journal.latest("checkout").state == states.ROLLED_BACK


def test_wait_until_a_stage_returns_while_the_release_goes_on(checkout, clock):
    from deployer.release.settle import reached

    assert reached("BAKE_TIME", "PRODUCTION_TRAFFIC_SHIFT") and not reached("SCALE_UP", "POST_TEST_TRAFFIC_SHIFT")
    assert not reached("SOMETHING_NEW", "SCALE_UP")  # a stage ECS adds later is not taken for past anything
    target = LambdaEcs.native(clock, pause_at=())
    journal = MemoryJournal()
    record = handed_over(checkout, target, clock, journal)
    follower = make(checkout, target, clock, journal)
    at = wait(follower, "ci", release_id=record.id, until="PRE_PRODUCTION_TRAFFIC_SHIFT", timeout=60)
    assert at.state == states.RUNNING and target.script[target.at][0] == "PRE_PRODUCTION_TRAFFIC_SHIFT"
    from deployer.errors import TimedOut

    with pytest.raises(TimedOut, match="still running after 10s of waiting; it goes on"):
        wait(follower, "ci", release_id=record.id, timeout=10)  # nobody answers the hook


def test_a_released_lock_keeps_its_token_so_a_record_written_after_a_takeover_stays_writable(checkout, clock):
    """acquire over an expired lease (token 2), write, release, acquire again: token 3, not 1. A deleted
    lock item started the count again, and every later writer of that record got LostLock."""
    from deployer.release.record import ReleaseRecord

    journal = MemoryJournal()
    first = journal.acquire("web", "runner", "r1", clock(), 20)  # token 1; the runner dies holding it
    clock.sleep(30)
    taken = journal.acquire("web", "guard", "r1", clock(), 20)
    assert taken.token == first.token + 1
    record = ReleaseRecord(id="r1", service="web", strategy="canary", image="i", actor="a", started_at=clock(), plan={}, fence=taken.token)
    journal.save(record)
    journal.release(taken)
    assert journal.holder("web") is None
    again = journal.acquire("web", "guard", "r1", clock(), 20)
    assert again.token == taken.token + 1
    record.fence = again.token
    journal.save(record)  # no LostLock


def test_a_call_for_another_deployment_than_the_releases_is_failed(checkout, clock):
    target = LambdaEcs.native(clock, pause_at=())
    journal = MemoryJournal()
    handed_over(checkout, target, clock, journal)
    other = {"targetServiceRevisionArn": "revision-of-someone-elses", "hookDetails": {"service": "checkout", "stage": "PRE_PRODUCTION_TRAFFIC_SHIFT"}}
    assert answer(other, Ctx(checkout, target, clock, journal)) == {"hookStatus": "FAILED"}
    ours = {**other, "targetServiceRevisionArn": f"revision-of-{target.revision}"}
    assert answer(ours, Ctx(checkout, target, clock, journal))["hookStatus"] == "SUCCEEDED"


def test_a_spec_this_deployer_cannot_read_fails_safe(checkout, clock):
    target = LambdaEcs.native(clock, pause_at=())
    journal = MemoryJournal()
    record = handed_over(checkout, target, clock, journal)
    record.plan["spec"]["release"]["a_field_from_a_newer_deployer"] = 1
    journal._persisted.clear()  # the plan part is written once: write it again, as a newer deployer would have
    journal.save(record)
    event = {"hookDetails": {"service": "checkout", "stage": "PRE_PRODUCTION_TRAFFIC_SHIFT"}}
    assert answer(event, Ctx(checkout, target, clock, journal)) == {"hookStatus": "FAILED"}
    clock.sleep(60)
    assert tick(Ctx(checkout, target, clock, journal))["actions"][0]["action"] == "error"
