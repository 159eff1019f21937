"""EventBridge Scheduler's rate schedules, run by the sandbox: each ENABLED one invokes its Lambda target.

AWS (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#rate-based): a rate
schedule `rate(value unit)` (unit minute(s), hour(s) or day(s); value a positive whole number) runs
its target every `value` units, passing the target's Input; a Lambda target is invoked
asynchronously ("Invoke a Lambda function on a schedule",
https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html).

Here: time runs on the sandbox's scale (one minute lasts DEPLOYER_SANDBOX_MINUTE seconds, as for
ECS's native deployments); the first run is one period after the schedule is first seen (or last
changed), and runs never catch up: a late tick runs once. A schedule never runs twice at once:
while its previous invocation runs, a due run is skipped (the log says so once per overrun).
Not emulated: cron() and at() expressions, StartDate/EndDate, time zones, flexible windows, the
retry policy and dead-letter queue, targets other than Lambda functions (each named once in the
log). The invocations run on the Lambda runner's bounded workers (deployer.sandbox.lambda_runner).
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Iterable

log = logging.getLogger("deployer.sandbox.schedules")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_MINUTES = {"minute": 1, "hour": 60, "day": 1440}

Submit = Callable[[str, bytes, str], "Future | None"]  # (function ARN, payload, source) -> the running invocation


def period(expression: str, minute: float) -> float | None:
    """Seconds between runs of `rate(value unit)` with one minute lasting `minute` seconds; None when it is
    not a rate expression the scheduler accepts (a cron() or at() one, a value of 0, an unknown unit). Pure."""
    found = _RATE.match((expression or "").strip())
    if not found or int(found.group(1)) < 1:
        return None
    return int(found.group(1)) * _MINUTES[found.group(2).rstrip("s")] * minute


@dataclass
class _Slot:
    version: tuple  # what the schedule looked like when its timer started
    next_at: float
    running: Future | None = None
    overrun_said: bool = False


class ScheduleRunner:
    def __init__(self, schedules: Callable[[], Iterable], submit: Submit, minute: float):
        """`schedules()`: the emulated account's schedules (moto's Schedule objects) as they are now."""
        self.schedules = schedules
        self.submit = submit
        self.minute = minute
        self._slots: dict[str, _Slot] = {}
        self._said: set[tuple[str, str]] = set()

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        seen = set()
        for schedule in list(self.schedules()):
            seen.add(schedule.arn)
            every = self._runnable(schedule)
            if every is None:
                self._slots.pop(schedule.arn, None)
                continue
            target = schedule.target or {}
            version = (schedule.schedule_expression, target.get("Arn"), target.get("Input"), schedule.last_modified_date)
            slot = self._slots.get(schedule.arn)
            if slot is None or slot.version != version:
                slot = self._slots[schedule.arn] = _Slot(version, now + every)
            if now < slot.next_at:
                continue
            while slot.next_at <= now:
                slot.next_at += every
            self._run(schedule, slot)
        for gone in set(self._slots) - seen:
            del self._slots[gone]

    def _runnable(self, schedule) -> float | None:
        if schedule.state != "ENABLED":
            return None
        every = period(schedule.schedule_expression, self.minute)
        if every is None:
            self._say_once(schedule.arn, f"schedule {schedule.name}: {schedule.schedule_expression!r} is not run by the sandbox "
                                         "(rate(N minutes|hours|days) only)")
            return None
        if ":lambda:" not in ((schedule.target or {}).get("Arn") or ""):
            self._say_once(schedule.arn, f"schedule {schedule.name}: its target {(schedule.target or {}).get('Arn')} is not a "
                                         "Lambda function; the sandbox invokes Lambda targets only")
            return None
        return every

    def _run(self, schedule, slot: _Slot) -> None:
        if slot.running is not None and not slot.running.done():
            if not slot.overrun_said:
                log.info("schedule %s: its previous invocation still runs; skipping runs until it ends", schedule.name)
                slot.overrun_said = True
            return
        slot.overrun_said = False
        target = schedule.target or {}
        payload = (target.get("Input") or "{}").encode()
        slot.running = self.submit(target["Arn"], payload, f"schedule {schedule.name}")
        if slot.running is None:
            log.info("schedule %s: the sandbox's Lambda workers are all busy; run skipped", schedule.name)

    def _say_once(self, arn: str, text: str) -> None:
        if (arn, text) not in self._said:
            self._said.add((arn, text))
            log.info("%s", text)
