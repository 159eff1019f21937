"""Named CloudWatch alarms: one in ALARM fails the gate, whatever the other numbers say."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.release.gates import Outcome, Reason
from deployer.release.metric_verdict import Reading

if TYPE_CHECKING:
    from deployer.release.ports import Target
    from deployer.release.sources import Window


class AlarmSource:
    name = "alarm"

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def read(self, target: "Target", window: "Window", readout=None) -> list[str]:
        return target.alarms_in_alarm(list(self.names))

    def judge(self, in_alarm: list[str], traffic, window, limits) -> list[Reading]:
        rows = []
        for name in self.names:
            alarmed = name in in_alarm
            rows.append(Reading(self.name, name, "ALARM" if alarmed else "OK", None, "not ALARM",
                                (Outcome.FAIL if alarmed else Outcome.PASS).value,
                                Reason.ALARM if alarmed else "", f"alarm in ALARM: {name}" if alarmed else ""))
        return rows
