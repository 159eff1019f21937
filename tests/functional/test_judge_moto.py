"""The judge function's guard against a moto server: the in-flight items and the lock in DynamoDB,
the listener's weights really put back; and every call it makes is one its role grants
(deployer.judge.permissions, from which the synth writes the policy)."""

from __future__ import annotations

import pytest

from deployer.aws.dynamodb import Table
from deployer.judge.guard import tick
from deployer.judge.permissions import actions
from deployer.release import record as states
from deployer.release import service as releases
from deployer.release.journal import DynamoJournal
from deployer.release.strategies import request_from_spec
from tests.fakes import Behaviour, FakeClock
from tests.functional.conftest import client, no_sleep
from tests.functional.test_release_moto import build_web, executor_for, journal  # noqa: F401 - the fixture

IAM_PREFIX = {"monitoring": "cloudwatch"}  # botocore's endpoint prefix -> IAM's action prefix, where they differ


class RunnerDied(BaseException):
    """kill -9 of the runner: nothing of it runs after this, not even its `finally`s."""


def record_calls(clients, calls: set) -> None:
    def seen(model, **_):
        prefix = model.service_model.endpoint_prefix
        calls.add(f"{IAM_PREFIX.get(prefix, prefix)}:{model.name}")

    for c in clients:
        c.meta.events.register("before-call", seen)


class Ctx:
    def __init__(self, service, target, clock, journal):
        self.target, self.clock, self.journal, self.holder = target, clock, journal, "judge:moto"

    def executor(self, service, prefix, stop=None):
        return executor_for(service, self.target, self.journal, self.clock)


@pytest.mark.parametrize("behaviour", [Behaviour(0.001, 60)])
def test_guard_rolls_back_an_orphaned_canary_and_calls_only_what_its_role_grants(spec_path, journal, behaviour):  # noqa: F811
    clock = FakeClock()
    service, target, ecs = build_web(spec_path, clock, {"example/web:2": behaviour})
    runner = executor_for(service, target, journal, clock)
    real_wait = runner.wait

    def die_at_canary(seconds):
        if target.weights().get("green", 0) > 0:
            raise RunnerDied()
        real_wait(seconds)

    runner.wait = die_at_canary
    journal.release = lambda lease: None  # a killed process releases nothing
    with pytest.raises(RunnerDied):
        releases.release(runner, request_from_spec(service, "example/web:2"), actor="ci#9")
    orphan = journal.latest("web")
    assert target.weights()["green"] > 0 and orphan.state == states.RUNNING

    # the guard runs elsewhere: its own table client, the same service
    calls: set = set()
    target.elbv2.client = client("elbv2")  # the guard's own; the fake ECS deregisters targets with the old one, as ECS would
    fresh = DynamoJournal(Table(client("dynamodb"), journal.table.table, sleep=no_sleep))
    record_calls([fresh.table.client, target.elbv2.client, target.route53.client], calls)
    ctx = Ctx(service, target, clock, fresh)
    assert fresh.in_flight() == [("web", orphan.id)]
    assert tick(ctx)["actions"][0]["action"] == "none"  # its lease may still be renewed: hands off
    clock.sleep(31)
    done = tick(ctx)["actions"]
    assert done == [{"service": "web", "release_id": orphan.id, "action": "rolled_back", "state": states.ROLLED_BACK}]
    assert target.weights() == {"blue": 100, "green": 0} and ecs.services_state["web-green"]["desired"] == 0
    stored = fresh.load("web", orphan.id)
    assert stored.state == states.ROLLED_BACK and stored.judge == "guard" and stored.reason.startswith("orphaned: the runner ci#9")
    assert fresh.in_flight() == [] and fresh.holder("web") is None
    assert tick(ctx) == {"guarded": 0, "actions": []}
    granted = actions()
    assert calls and calls <= granted, sorted(calls - granted)
