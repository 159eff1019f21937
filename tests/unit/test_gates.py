"""Gate verdict tables, low- and zero-traffic cases included."""

import pytest

from deployer.release.gates import (
    Outcome,
    Reason,
    Thresholds,
    WindowStats,
    two_proportion_p_value,
    verdict,
    wilson_lower_bound,
)

T = Thresholds(max_5xx_rate=5.0, max_p99_ms=500, margin=0.25, min_requests=100, confidence=0.99, p99_min_delta_ms=20)
BASE = WindowStats(requests=2000, errors=20, p99_ms=120)  # 1% baseline


def W(requests, errors, p99=100.0):
    return WindowStats(requests, errors, p99 if requests else None)


@pytest.mark.parametrize(
    "canary,baseline,outcome,reason",
    [
        # zero and low traffic: never FAIL on thin evidence
        (W(0, 0), BASE, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        (W(0, 0), None, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        (W(20, 1), BASE, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        (W(99, 2), BASE, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        # tripwire: overwhelming errors fail at once, even below min_requests
        (W(20, 20), BASE, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_LIMIT),
        (W(60, 30), BASE, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_LIMIT),
        (W(1000, 200), BASE, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_LIMIT),
        # comparison: 5% canary against a 1% baseline is caught by the two-proportion test
        (W(800, 40), BASE, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_BASELINE),
        # same rate as the baseline passes
        (W(200, 2), BASE, Outcome.PASS, Reason.HEALTHY),
        (W(1000, 10), BASE, Outcome.PASS, Reason.HEALTHY),
        (W(500, 0), BASE, Outcome.PASS, Reason.HEALTHY),
        # latency: absolute limit, then relative to the baseline with the margin
        (W(200, 0, p99=520), BASE, Outcome.FAIL, Reason.P99_ABOVE_LIMIT),
        (W(500, 0, p99=160), BASE, Outcome.FAIL, Reason.P99_ABOVE_BASELINE),  # 120 * 1.25 = 150
        (W(200, 0, p99=160), BASE, Outcome.INCONCLUSIVE, Reason.P99_ABOVE_BASELINE),  # a suspect: 200 requests cannot confirm a p99
        # the median moves with a regression long before p99 is trustworthy
        (WindowStats(150, 0, 400, 330), WindowStats(2000, 20, 120, 30), Outcome.FAIL, Reason.P50_ABOVE_BASELINE),
        (W(200, 0, p99=149), BASE, Outcome.PASS, Reason.HEALTHY),
        # tiny latencies: a few ms over a fast baseline is noise (min delta 20 ms)
        (W(200, 0, p99=17), W(2000, 0, p99=5), Outcome.PASS, Reason.HEALTHY),
        (W(500, 0, p99=30), W(2000, 0, p99=5), Outcome.FAIL, Reason.P99_ABOVE_BASELINE),
        # no baseline (blue/green after the switch): absolute limits only
        (W(200, 4, p99=300), None, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),  # 2% could still be 5.9%
        (W(1000, 20, p99=300), None, Outcome.PASS, Reason.HEALTHY),
        # a 5% canary on a lucky small sample does not pass: its upper bound is above the limit
        (W(120, 2), BASE, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        (W(200, 0, p99=300), W(0, 0), Outcome.PASS, Reason.HEALTHY),
        # a baseline too thin for its p99 to mean anything is not compared on latency
        (W(200, 0, p99=300), W(50, 0, p99=80), Outcome.PASS, Reason.HEALTHY),
    ],
)
def test_verdict_table(canary, baseline, outcome, reason):
    v = verdict(canary, baseline, T)
    assert (v.outcome, v.reason) == (outcome, reason), v.detail


def test_verdict_carries_its_numbers():
    v = verdict(W(800, 40), BASE, T)
    assert v.numbers["canary_rate_pct"] == 5.0
    assert v.numbers["baseline_rate_pct"] == 1.0
    assert v.numbers["p_value"] < 1e-6 and v.numbers["alpha"] == 0.01
    assert "canary 5xx 5.00% vs baseline 1.00% (Fisher exact p=" in v.detail
    d = v.to_dict()
    assert d["outcome"] == "FAIL" and d["canary"] == {"requests": 800, "errors": 40, "p99_ms": 100.0, "p50_ms": None}


def test_inconclusive_says_how_many_requests_are_missing():
    v = verdict(W(37, 0), BASE, T)
    assert v.detail == "canary served 37 of the 100 requests needed"


@pytest.mark.parametrize(
    "errors,requests,low,high",
    [(0, 100, 0.0, 0.0), (1, 20, 0.0, 0.02), (20, 20, 0.75, 0.9), (50, 1000, 0.03, 0.04)],
)
def test_wilson_lower_bound(errors, requests, low, high):
    assert low <= wilson_lower_bound(errors, requests, 0.99) <= high


def test_fisher_exact_known_values():
    # 3/10 vs 0/10: one-sided Fisher p = C(10,3)C(10,0)/C(20,3) = 120/1140
    assert two_proportion_p_value(W(10, 3), W(10, 0)) == pytest.approx(120 / 1140, rel=1e-9)
    assert two_proportion_p_value(W(800, 40), BASE) < 1e-9
    assert two_proportion_p_value(W(0, 0), BASE) == 1.0
    assert two_proportion_p_value(W(100, 0), W(100, 0)) == 1.0


def test_repeated_looks_lower_alpha():
    looks = Thresholds(5.0, 500, 0.25, 100, 0.99, 20, looks=10)
    borderline = W(400, 12)  # 3% vs 1%: Fisher p ~ 0.0036
    assert verdict(borderline, BASE, T).outcome == Outcome.FAIL
    assert verdict(borderline, BASE, looks).outcome != Outcome.FAIL


def test_alarm_gate():
    from deployer.release.metric_verdict import combine
    from deployer.release.sources.alarms import AlarmSource

    source = AlarmSource(("web-green-5xx", "web-green-p99", "web-green-cpu"))
    passing = verdict(W(1000, 0, 100), None, T)
    assert combine(passing, source.judge([], {}, None, None)).outcome == Outcome.PASS
    v = combine(passing, source.judge(["web-green-5xx", "web-green-p99"], {}, None, None))
    assert v.outcome == Outcome.FAIL and v.reason == "alarm" and v.detail == "alarm in ALARM: web-green-5xx, web-green-p99"
    assert v.numbers["alarms"] == ["web-green-5xx", "web-green-p99"]
    assert [(r["metric"], r["canary"], r["outcome"]) for r in v.numbers["readings"]] == [
        ("web-green-5xx", "ALARM", "FAIL"), ("web-green-p99", "ALARM", "FAIL"), ("web-green-cpu", "OK", "PASS")]
