"""The deployment alarms, evaluated from moto's CloudWatch data, their state set in moto.

moto never evaluates an alarm; ECS rolls a deployment back on its own when a deployment alarm
goes to ALARM, whoever is watching. So while a native deployment watches its alarms, the sandbox
evaluates each (deployer.sandbox.alarm_evaluation) from the metric data the metrics feeder
published (deployer.sandbox.metrics) and sets a changed state with SetAlarmState's backend call,
so DescribeAlarms shows ALARM with a CloudWatch-style reason. A state set by a client through
SetAlarmState holds until the next evaluation, as on AWS. Metric-math and anomaly-band alarms are
not evaluated (their state is read as it is).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from deployer.sandbox.alarm_evaluation import COMPARISONS, AlarmSpec, evaluate, periods

SCAN_SLACK = 300.0  # metric data arrives roughly in time order: scan back this far past the window


class AlarmWatch:
    def __init__(self, cloudwatch_backend, every: float = 1.0):
        self.backend = cloudwatch_backend
        self.every = every  # seconds between two evaluations of one alarm
        self._evaluated: dict[str, float] = {}

    def in_alarm(self, names: tuple[str, ...], now: float) -> tuple[str, ...]:
        """The alarms of `names` in ALARM now (each evaluated first, at most once every `every` s)."""
        found = []
        for name in names:
            alarm = self.backend.alarms.get(name)
            if alarm is None:
                continue
            if now - self._evaluated.get(name, float("-inf")) >= self.every:
                self._evaluated[name] = now
                self._evaluate(alarm, now)
            if alarm.state_value == "ALARM":
                found.append(name)
        return tuple(found)

    def _evaluate(self, alarm, now: float) -> None:
        spec = spec_of(alarm)
        if spec is None:
            return
        windows = periods(spec, self._samples(alarm, now - spec.period * spec.evaluation_periods), now)
        verdict = evaluate(spec, windows, alarm.state_value)
        if verdict.state == alarm.state_value:
            return
        data = {"version": "1.0", "queryDate": _iso(now), "startDate": _iso(windows[0][0]), "statistic": spec.statistic,
                "period": spec.period, "recentDatapoints": [v for _, v in verdict.datapoints], "threshold": spec.threshold,
                "evaluatedDatapoints": [{"timestamp": _iso(s), "value": v} for s, v in verdict.datapoints]}
        self.backend.set_alarm_state(alarm.name, verdict.reason, json.dumps(data), verdict.state)

    def _samples(self, alarm, since: float) -> list[tuple[float, float]]:
        wanted = {(d.name, d.value) for d in alarm.dimensions}
        out = []
        data = self.backend.metric_data  # moto's threads only append to it: read back from the end, by index
        for i in range(len(data) - 1, -1, -1):
            datum = data[i]
            at = _epoch(datum.timestamp)
            if at < since - SCAN_SLACK:
                break
            if at < since or datum.namespace != alarm.namespace or datum.name != alarm.metric_name:
                continue
            if {(d.name, d.value) for d in datum.dimensions} != wanted or not hasattr(datum, "value"):
                continue
            if alarm.unit and datum.unit != alarm.unit:
                continue
            out.append((at, float(datum.value)))
        return out


def spec_of(alarm) -> AlarmSpec | None:
    statistic = alarm.extended_statistic or alarm.statistic
    if alarm.metric_data_queries or not alarm.metric_name or not statistic or alarm.comparison_operator not in COMPARISONS:
        return None
    return AlarmSpec(
        name=alarm.name, statistic=statistic, comparison=alarm.comparison_operator, threshold=float(alarm.threshold),
        period=int(alarm.period), evaluation_periods=int(alarm.evaluation_periods or 1),
        datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
        treat_missing=alarm.treat_missing_data or "missing",
        low_sample=alarm.evaluate_low_sample_count_percentile or "evaluate")


def _epoch(stamp: datetime) -> float:
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
