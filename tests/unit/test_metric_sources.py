"""Gate sources: a custom CloudWatch metric judged canary vs baseline, rows from every source, one verdict."""

from __future__ import annotations

import pytest

from deployer.release.gates import Outcome, Thresholds, WindowStats, verdict
from deployer.release.metric_verdict import MetricCheck, aggregate, combine, judge_metric
from deployer.release.plan import plan_from_dict
from deployer.release.sources import Readout, Window
from deployer.release.sources.alb import AlbSource
from deployer.release.sources.cloudwatch_metric import CloudWatchMetricSource
from deployer.release.steps import Gate, GateLimits
from deployer.spec.models import Gates, convert

ERRORS = MetricCheck("checkout-errors", "Example/App", "CheckoutFailures", (("ServiceName", "{service}"),), "Sum", "errors",
                     limit=5.0, margin=0.5)
LATENCY = MetricCheck("checkout-ms", "Example/App", "CheckoutTime", (("Color", "{color}"), ("Group", "{target_group}")),
                      "p90", "latency", limit=800.0, margin=0.2)
ORDERS = MetricCheck("orders", "Example/App", "OrdersPerRequest", (("ServiceName", "{service}"),), "Average", "value",
                     direction="higher", limit=0.05, margin=0.3)
T = Thresholds(5.0, 1000, 0.2, 100, 0.99)


def W(requests, errors=0):
    """Traffic with latencies counted: 1% slower than the baseline's p99, none over the allowed one."""
    return WindowStats(requests, errors, 100.0, 50.0, 0, requests // 100)


def judge(check, canary, baseline, traffic=W(1000), base=W(9000)):
    return judge_metric(check, canary, baseline, traffic, base, min_requests=100, confidence=0.99)


def test_errors_are_a_share_of_the_colors_requests():
    assert judge(ERRORS, 10, 80).outcome == "PASS"  # 1% vs 0.9%
    above = judge(ERRORS, 120, 90)  # 12% >= 5%
    assert (above.outcome, above.reason, above.canary, above.limit) == ("FAIL", "metric_above_limit", 12.0, "<= 5%, baseline +50%")
    worse = judge(ERRORS, 40, 90)  # 4% vs 1%: below the limit, clearly worse than the baseline
    assert (worse.outcome, worse.reason, worse.baseline) == ("FAIL", "metric_worse_than_baseline", 1.0)
    assert judge(ERRORS, None, None).outcome == "PASS"  # a counter that published nothing counted nothing


def test_a_few_requests_are_inconclusive_unless_the_failures_are_overwhelming():
    assert judge(ERRORS, 1, 0, traffic=W(40)).outcome == "INCONCLUSIVE"
    assert judge(ERRORS, 30, 0, traffic=W(40)).outcome == "FAIL"  # 75% of 40: no doubt left


def test_latency_and_values_by_direction():
    assert judge(LATENCY, 500, 480).outcome == "PASS"
    assert judge(LATENCY, 900, 480).reason == "metric_above_limit"
    assert judge(LATENCY, 700, 480).reason == "metric_worse_than_baseline"  # > 480 x 1.2
    assert judge(LATENCY, None, 480).reason == "no_datapoints"
    assert judge(ORDERS, 0.11, 0.12).outcome == "PASS"
    assert judge(ORDERS, 0.04, 0.12).reason == "metric_below_limit"
    assert judge(ORDERS, 0.07, 0.12).reason == "metric_worse_than_baseline"  # < 0.12 x 0.7


@pytest.mark.parametrize("statistic,values,expected", [
    ("Sum", [1, 2, 3], 6), ("SampleCount", [4, 4], 8), ("Average", [1, 3], 2), ("Minimum", [5, 2], 2),
    ("Maximum", [5, 9], 9), ("p99", [120, 480, 300], 480), ("Sum", [], None),
])
def test_periods_add_up_by_statistic(statistic, values, expected):
    assert aggregate(statistic, values) == expected


def test_dimensions_are_filled_per_color():
    values = {"color": "green", "service": "web-green", "target_group": "targetgroup/web-green/abc"}
    assert LATENCY.dimensions_for(values) == [{"Name": "Color", "Value": "green"}, {"Name": "Group", "Value": "targetgroup/web-green/abc"}]


class Target:
    """Only what the sources read."""

    def __init__(self, alb, metric):
        self.alb, self.metric, self.asked = alb, metric, []

    def read_window(self, colors, start, end, period, checks=(), latency_ms=None):
        self.asked.append(([check.name for check in checks], tuple(colors), start, end, period))
        return Readout({c: self.alb[c] for c in colors}, {check.name: {c: self.metric[c] for c in colors} for check in checks})


def test_a_bad_custom_metric_fails_a_gate_the_alb_passes_with_every_row_recorded():
    limits = GateLimits(5.0, 1000.0, 0.2, 50.0, 100, 0.99, 10, 5, (), (ERRORS,))
    window = Window("green", "blue", 1000.0, 1010.0, 10, 100.0, (150.0, 150.0))
    target = Target({"green": W(1000), "blue": W(9000)}, {"green": (60.0, 70.0), "blue": (45.0, 45.0)})
    alb = AlbSource()
    readout = alb.read(target, window, limits.metrics)
    traffic = readout.traffic
    first = alb.verdict(traffic, window, limits)
    assert first.outcome == Outcome.PASS
    source = CloudWatchMetricSource(ERRORS)
    rows = alb.readings(first, limits) + source.judge(source.read(target, window, readout), traffic, window, limits)
    v = combine(first, rows)
    assert target.asked == [(["checkout-errors"], ("green", "blue"), 1000.0, 1010.0, 10)]  # one read for both
    assert (v.outcome, v.reason) == (Outcome.FAIL, "metric_above_limit") and "13.0%" in v.detail
    table = [(r["source"], r["metric"], r["canary"], r["baseline"], r["outcome"]) for r in v.numbers["readings"]]
    assert table[-1] == ("cloudwatch", "checkout-errors", 13.0, 1.0, "FAIL")
    assert [r[1] for r in table] == ["requests", "5xx %", "p50 ms", "p99 ms", "slow %", "checkout-errors"]
    assert table[4] == ("alb", "slow %", 0.0, 0.0, "PASS")


def test_an_inconclusive_alb_holds_even_when_the_metric_passes():
    first = verdict(W(50), W(9000), T)
    ok = judge(ERRORS, 0, 0, traffic=W(50))
    assert combine(first, [ok]).outcome == Outcome.INCONCLUSIVE


def test_metric_gates_travel_in_the_stored_plan():
    gates = convert({"metrics": [{"name": "checkout-errors", "namespace": "Example/App", "metric": "CheckoutFailures",
                                  "dimensions": {"ServiceName": "{service}"}, "kind": "errors", "limit": 5, "margin": 0.5}]}, Gates)
    limits = GateLimits.from_spec(gates)
    assert limits.metrics == (ERRORS,)
    gate = Gate("green", "blue", 10, limits)
    stored = {"version": 2, "service": "web", "strategy": "canary", "live": "blue", "target": "green", "steps": [gate.to_dict()]}
    import json

    assert plan_from_dict(json.loads(json.dumps(stored))).steps == (gate,)
    assert "checkout-errors (errors Sum, <= 5% and within 50% of the baseline)" in gate.describe()


GOOD = ("{name: checkout-errors, namespace: Example/App, metric: CheckoutFailures, dimensions: {ServiceName: '{service}'}, "
        "kind: errors, limit: 5}")


@pytest.mark.parametrize("entry,expected", [
    (GOOD.replace("'{service}'", "web"), "deployer.yaml:54: services.web.release.gates.metrics[0].dimensions: the dimensions must tell the canary from the baseline"),
    (GOOD.replace("{service}", "{colour}"), "deployer.yaml:54: services.web.release.gates.metrics[0].dimensions: unknown placeholder {colour}"),
    (GOOD.replace("limit: 5", "limit: 500"), "deployer.yaml:54: services.web.release.gates.metrics[0]: an errors limit is a percent of requests, 0..100 (got 500)"),
    (GOOD.replace("kind: errors", "kind: latency, direction: higher"), "deployer.yaml:54: services.web.release.gates.metrics[0]: a latency metric is better lower"),
    (GOOD.replace("kind: errors, limit: 5", "kind: value"), "deployer.yaml:54: services.web.release.gates.metrics[0]: set a limit, a margin over the baseline, or both"),
    (GOOD.replace("kind: errors", "kind: errors, statistic: p99"), "deployer.yaml:54: services.web.release.gates.metrics[0]: an errors metric is a count"),
    (GOOD.replace("kind: errors", "kind: errors, statistic: p999"), "deployer.yaml:54: services.web.release.gates.metrics[0].statistic: expected SampleCount"),
    (GOOD + ", " + GOOD, "deployer.yaml:54: services.web.release.gates.metrics: metric names must be unique (twice: checkout-errors)"),
])
def test_metric_gates_are_checked_with_the_field_named(entry, expected):
    from deployer.errors import ConfigError
    from deployer.spec import parse_config
    from tests.conftest import ROOT

    text = (ROOT / "examples/deployer.yaml").read_text()
    assert "        period: 5s\n      keep_previous: 5m\n" in text
    text = text.replace("        period: 5s\n      keep_previous: 5m\n", f"        period: 5s\n        metrics: [{entry}]\n      keep_previous: 5m\n", 1)
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert expected in str(info.value)


def with_metric(service):
    gates = service.release.gates.replace(**{"metrics": convert({"metrics": [{
        "name": "checkout-errors", "namespace": "Example/App", "metric": "CheckoutFailures",
        "dimensions": {"ServiceName": "{service}"}, "kind": "errors", "limit": 5, "margin": 1}]}, Gates).metrics})
    return service.replace(**{"release": service.release.replace(**{"gates": gates})})


def test_the_executor_rolls_back_on_a_custom_metric_and_a_resume_keeps_judging_by_it(examples_config):
    """The app's own metric says 30% of checkouts fail while 5xx and latency look fine: rolled back at 10%,
    the row in the record. Interrupted first and resumed with a spec that no longer has the metric:
    the stored plan still judges by it."""
    from deployer.errors import Interrupted, RolledBack
    from deployer.release import service as releases
    from deployer.release.executor import Executor, Settings
    from deployer.release.memory_journal import MemoryJournal
    from deployer.release.strategies import request_from_spec
    from tests.fakes import Behaviour, FakeClock, FakeTarget, RecordingProgress

    web = examples_config.services["web"]
    strict = with_metric(web)
    clock, journal = FakeClock(), MemoryJournal()
    target = FakeTarget.colors_service(clock)
    target.behaviour["example/web:10"] = Behaviour(0.0, 100, metrics={"CheckoutFailures": 0.3})
    target.behaviour.setdefault("web:1", Behaviour(0.0, 100, metrics={"CheckoutFailures": 0.0}))

    def make(service, stop=lambda: False):
        return Executor(service, target, journal, RecordingProgress(), clock=clock, sleep=clock.sleep, stop_requested=stop,
                        settings=Settings(poll=2.0, lease=30.0))

    first = make(strict, stop=lambda: first.record is not None and first.record.step_index >= 4)
    with pytest.raises(Interrupted):
        releases.release(first, request_from_spec(strict, "example/web:10"), actor="ci")
    with pytest.raises(RolledBack):
        releases.resume(make(web), actor="ci")  # the spec without the metric
    record = journal.latest("web")
    fail = next(v for v in record.verdicts if v["outcome"] == "FAIL")
    assert record.reason.startswith("metric_above_limit") and fail["weight"] == 10
    row = next(r for r in fail["numbers"]["readings"] if r["source"] == "cloudwatch")
    assert (row["metric"], row["canary"], row["outcome"]) == ("checkout-errors", 30.0, "FAIL")
