"""EventBridge Scheduler's rate schedules in the sandbox, on an injected clock (no threads, no processes).

AWS: `rate(value unit)` runs the target every value minutes, hours or days (value a positive whole
number); a disabled schedule does not run. Here one minute lasts the sandbox's minute, and a
schedule never runs twice at once.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

import pytest

from deployer.sandbox.schedule_runner import ScheduleRunner, period

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:judge"


@pytest.mark.parametrize("expression, seconds", [
    ("rate(1 minute)", 2.0), ("rate(5 minutes)", 10.0), ("rate(1 hour)", 120.0), ("rate(2 days)", 5760.0),
    (" rate( 3 minutes ) ", 6.0),
    ("rate(0 minutes)", None), ("rate(30 seconds)", None), ("rate(1.5 minutes)", None),
    ("cron(0/1 * * * ? *)", None), ("at(2026-01-01T00:00:00)", None), ("", None),
])
def test_rate_expressions_on_the_sandbox_time_scale(expression, seconds):
    assert period(expression, minute=2.0) == seconds


@dataclass
class Schedule:
    name: str
    schedule_expression: str = "rate(1 minute)"
    state: str = "ENABLED"
    target: dict = field(default_factory=lambda: {"Arn": FUNCTION, "RoleArn": "role", "Input": '{"deployer": "guard"}'})
    last_modified_date: float = 1.0

    @property
    def arn(self) -> str:
        return f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{self.name}"


class Calls:
    """A stand-in for the Lambda runner's submit: each call a Future the test finishes (or not)."""

    def __init__(self):
        self.made: list[tuple[str, bytes, str, Future]] = []
        self.finish = True

    def __call__(self, arn: str, payload: bytes, source: str) -> Future:
        future: Future = Future()
        if self.finish:
            future.set_result(None)
        self.made.append((arn, payload, source, future))
        return future


def ticks(runner: ScheduleRunner, start: float, seconds: float, every: float = 0.1) -> None:
    for i in range(int(seconds / every) + 1):
        runner.tick(start + i * every)


def test_an_enabled_rate_schedule_invokes_its_function_with_its_input_every_period():
    calls = Calls()
    runner = ScheduleRunner(lambda: [Schedule("guard")], calls, minute=1.0)
    ticks(runner, 1000.0, 3.55)
    assert [(arn, payload, source) for arn, payload, source, _ in calls.made] == [
        (FUNCTION, b'{"deployer": "guard"}', "schedule guard")] * 3  # at +1, +2, +3 s


def test_disabled_schedules_and_other_targets_or_expressions_do_not_run():
    calls = Calls()
    found = [Schedule("off", state="DISABLED"), Schedule("cron", schedule_expression="cron(* * * * ? *)"),
             Schedule("queue", target={"Arn": "arn:aws:sqs:us-east-1:123456789012:q"})]
    runner = ScheduleRunner(lambda: found, calls, minute=1.0)
    ticks(runner, 1000.0, 5)
    assert calls.made == []


def test_a_run_still_going_is_not_started_again_and_late_ticks_do_not_catch_up():
    calls = Calls()
    calls.finish = False
    runner = ScheduleRunner(lambda: [Schedule("guard")], calls, minute=1.0)
    ticks(runner, 1000.0, 4.5)
    assert len(calls.made) == 1  # due at +2, +3, +4: the first still runs
    calls.made[0][3].set_result(None)
    runner.tick(1010.0)  # ten periods late: one run
    runner.tick(1010.5)
    assert len(calls.made) == 2


def test_a_changed_schedule_starts_its_period_again_and_a_deleted_one_stops():
    calls = Calls()
    found = [Schedule("guard")]
    runner = ScheduleRunner(lambda: found, calls, minute=1.0)
    ticks(runner, 1000.0, 0.9)
    found[0] = Schedule("guard", schedule_expression="rate(2 minutes)", last_modified_date=2.0)
    ticks(runner, 1000.9, 1.95)
    assert calls.made == []  # the new period counts from the change: due at +2.9
    runner.tick(1002.95)
    assert len(calls.made) == 1
    found.clear()
    ticks(runner, 1003.0, 5)
    assert len(calls.made) == 1
