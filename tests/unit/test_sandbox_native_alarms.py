"""CloudWatch alarm evaluation as the sandbox does it for deployment alarms, and the rule weights it writes.

AWS (alarm-evaluation.html): the statistic per period over the last EvaluationPeriods periods, ALARM
when DatapointsToAlarm of them breach, missing data per TreatMissingData, a percentile over too few
samples ignored when EvaluateLowSampleCountPercentile is `ignore`. ALB forward weights are integers.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from deployer.sandbox.alarm_evaluation import AlarmSpec, evaluate, periods, statistic
from deployer.sandbox.listener_weights import RuleRef, integer_weights, percent_on, production_group, shift

NOW = 1_800_000_047.0  # 47 s into a minute
FIVE_XX = AlarmSpec("web-5xx", "Sum", "GreaterThanOrEqualToThreshold", 5.0, period=60, treat_missing="notBreaching")
P99 = AlarmSpec("web-p99", "p99", "GreaterThanOrEqualToThreshold", 0.5, period=60, treat_missing="notBreaching", low_sample="ignore")


def test_a_5xx_count_over_its_threshold_in_the_current_period_alarms():
    windows = periods(FIVE_XX, [(NOW - 5, 2.0), (NOW - 3, 3.0), (NOW - 70, 50.0)], NOW)
    assert windows == [(NOW - 47, [2.0, 3.0])]  # the period before is outside one evaluation period
    verdict = evaluate(FIVE_XX, windows, "OK")
    assert verdict.state == "ALARM"
    assert verdict.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [5 (")
    assert "was greater than or equal to the threshold (5)" in verdict.reason


@pytest.mark.parametrize("treat, state", [("notBreaching", "OK"), ("breaching", "ALARM"), ("missing", "INSUFFICIENT_DATA"), ("ignore", "ALARM")])
def test_no_data_is_treated_per_treat_missing_data(treat, state):
    spec = AlarmSpec("a", "Sum", "GreaterThanOrEqualToThreshold", 1.0, period=10, treat_missing=treat)
    assert evaluate(spec, periods(spec, [], NOW), "ALARM").state == state


def test_m_out_of_n_periods():
    spec = AlarmSpec("a", "Maximum", "GreaterThanThreshold", 1.0, period=10, evaluation_periods=3, datapoints_to_alarm=2,
                     treat_missing="notBreaching")
    one = [(NOW - 25, 2.0)]
    two = one + [(NOW - 1, 3.0)]
    assert evaluate(spec, periods(spec, one, NOW), "OK").state == "OK"
    assert evaluate(spec, periods(spec, two, NOW), "OK").state == "ALARM"


def test_a_p99_over_too_few_samples_keeps_the_state():
    """p99 needs 10/(1-0.99) = 1000 samples in a period, else (ignore) the alarm keeps its state."""
    slow = [(NOW - 1, 2.0)] * 999
    assert evaluate(P99, periods(P99, slow, NOW), "OK").state == "OK"
    assert evaluate(P99, periods(P99, slow, NOW), "ALARM").state == "ALARM"
    enough = slow + [(NOW - 1, 2.0)]
    assert evaluate(P99, periods(P99, enough, NOW), "OK").state == "ALARM"


@pytest.mark.parametrize("name, value", [("Sum", 10.0), ("SampleCount", 4), ("Average", 2.5), ("Minimum", 1.0), ("Maximum", 4.0), ("p50", 2.0)])
def test_statistics(name, value):
    assert statistic(name, [1.0, 2.0, 3.0, 4.0]) == value


def _rule(weights: dict[str, int]):
    actions = [SimpleNamespace(data={"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": g, "Weight": w} for g, w in weights.items()]}})]
    return RuleRef(SimpleNamespace(actions=actions, is_default=False, arn="rule"), SimpleNamespace(default_actions=[]))


@pytest.mark.parametrize("percent, pair", [(0, (0, 100)), (5, (5, 95)), (100, (100, 0)), (12.5, (125, 875)), (0.1, (1, 999))])
def test_integer_weights(percent, pair):
    assert integer_weights(percent) == pair


def test_shift_writes_the_rule_weights_in_the_rules_order():
    ref = _rule({"blue": 100, "green": 0})
    assert production_group(ref, ("green", "blue")) == "blue"
    assert shift(ref, "green", "blue", 10) is True
    groups = ref.rule.actions[0].data["ForwardConfig"]["TargetGroups"]
    assert [(g["TargetGroupArn"], g["Weight"]) for g in groups] == [("blue", 90), ("green", 10)]
    assert percent_on(ref, "green") == 10
    assert shift(ref, "green", "blue", 10) is False  # already so: no write
    assert production_group(_rule({"blue": 50, "green": 50}), ("green", "blue")) == "green"  # a tie: the first named


class FakeCloudWatch:
    """moto's CloudWatch backend as AlarmWatch reads it: alarms, metric data, set_alarm_state."""

    def __init__(self, alarm, data):
        self.alarms = {alarm.name: alarm}
        self.metric_data = data
        self.set: list[tuple[str, str, str]] = []

    def set_alarm_state(self, name, reason, reason_data, state):
        self.set.append((name, state, reason))
        self.alarms[name].state_value = state


def test_the_watch_evaluates_the_alarm_on_its_own_metric_and_sets_its_state():
    from datetime import datetime, timezone

    from deployer.sandbox.alarm_watch import AlarmWatch

    dims = [SimpleNamespace(name="LoadBalancer", value="app/web/1"), SimpleNamespace(name="TargetGroup", value="targetgroup/green/2")]
    alarm = SimpleNamespace(name="green-5xx", namespace="AWS/ApplicationELB", metric_name="HTTPCode_Target_5XX_Count",
                            statistic="Sum", extended_statistic=None, comparison_operator="GreaterThanOrEqualToThreshold",
                            threshold=3.0, period=10, evaluation_periods=1, datapoints_to_alarm=None, dimensions=dims,
                            treat_missing_data="notBreaching", evaluate_low_sample_count_percentile=None, unit=None,
                            metric_data_queries=[], state_value="OK")

    def datum(value, dimensions=dims, name="HTTPCode_Target_5XX_Count", at=NOW - 1):
        return SimpleNamespace(namespace="AWS/ApplicationELB", name=name, dimensions=dimensions, value=value, unit="Count",
                               timestamp=datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None))

    blue = [dims[0], SimpleNamespace(name="TargetGroup", value="targetgroup/blue/1")]
    cloudwatch = FakeCloudWatch(alarm, [datum(2.0), datum(9.0, blue), datum(9.0, dims[:1]), datum(9.0, name="RequestCount")])
    watch = AlarmWatch(cloudwatch, every=1.0)
    assert watch.in_alarm(("green-5xx", "missing-alarm"), NOW) == ()  # only 2 on the green group itself
    cloudwatch.metric_data.append(datum(1.0))
    assert watch.in_alarm(("green-5xx",), NOW + 0.5) == ()  # evaluated at most once a second
    assert watch.in_alarm(("green-5xx",), NOW + 1) == ("green-5xx",)
    assert cloudwatch.set == [("green-5xx", "ALARM", cloudwatch.set[0][2])] and "[3 (" in cloudwatch.set[0][2]
