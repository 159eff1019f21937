"""Gate verdict tables, low- and zero-traffic cases included."""

import pytest

from deployer.release.gates import Outcome, Reason, Thresholds, WindowStats, verdict

T = Thresholds(max_5xx_rate=5.0, max_p99_ms=500, margin=0.25, min_requests=100, confidence=0.99, p99_min_delta_ms=20)
BASE = WindowStats(requests=2000, errors=20, p99_ms=120)  # 1% baseline


def W(requests, errors, p99=100.0):
    return WindowStats(requests, errors, p99 if requests else None)


def L(requests, errors=0, allowed=0, reference=None, p99=100.0):
    """A canary whose latencies were counted: `allowed` requests slower than the allowed p99,
    `reference` slower than the baseline's p99 (as many as `allowed` unless given)."""
    return WindowStats(requests, errors, p99, None, allowed, allowed if reference is None else reference)


REF = 120.0  # the baseline's p99: allowed = max(120 * 1.25, 120 + 20) = 150 ms


@pytest.mark.parametrize(
    "canary,baseline,reference,outcome,reason",
    [
        # zero and low traffic: never FAIL on thin evidence, never PASS either
        (W(0, 0), BASE, None, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        (W(0, 0), None, None, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        (W(20, 1), BASE, None, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        (L(99, 2), BASE, REF, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        # over the limit: overwhelming errors fail at once, even below min_requests
        (W(20, 20), BASE, None, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_LIMIT),
        (W(60, 30), None, None, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_LIMIT),
        (W(1000, 200), None, None, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_LIMIT),
        # against the baseline: 5% vs 1% over the same window
        (W(800, 40), BASE, None, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_BASELINE),
        # a clean baseline makes a few canary errors telling: 6 of 6 errors from a 10% share
        (W(100, 6), WindowStats(900, 0, 100), None, Outcome.FAIL, Reason.ERROR_RATE_ABOVE_BASELINE),
        # the baseline's rate, and its p99: passes once both are shown
        (L(400, 4, 0, 4), BASE, REF, Outcome.PASS, Reason.HEALTHY),
        (L(1000, 10, 2, 10), BASE, REF, Outcome.PASS, Reason.HEALTHY),
        (L(500, 0, 0, 0), BASE, REF, Outcome.PASS, Reason.HEALTHY),
        # the latency counts are not in yet (no reference): a baseline to compare with holds the step
        (W(500, 0), BASE, None, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        # a 5% canary on a lucky small sample does not pass: not yet shown below the limit
        (L(120, 2), BASE, REF, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),
        # latency: the absolute tripwire, then the counts against the baseline's p99
        (L(200, 0, p99=520), BASE, REF, Outcome.FAIL, Reason.P99_ABOVE_LIMIT),
        (L(500, 0, 25, 40), BASE, REF, Outcome.FAIL, Reason.P99_ABOVE_BASELINE),  # 5% slower than allowed
        (L(500, 0, 6, 40), BASE, REF, Outcome.INCONCLUSIVE, Reason.P99_ABOVE_BASELINE),  # 8% over the p99: not shown fine
        (L(500, 0, 4, 15), BASE, REF, Outcome.INCONCLUSIVE, Reason.P99_ABOVE_BASELINE),  # 3%: could still be 4.5%
        (L(2000, 0, 4, 30), BASE, REF, Outcome.PASS, Reason.HEALTHY),  # 1.5% over the baseline's p99: p95 below it
        # no baseline (blue/green after the switch): absolute limits only
        (W(200, 4, p99=300), None, None, Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS),  # 2% could still be 5%
        (W(1000, 20, p99=300), None, None, Outcome.PASS, Reason.HEALTHY),
        (W(300, 0, p99=300), W(0, 0), None, Outcome.PASS, Reason.HEALTHY),
    ],
)
def test_verdict_table(canary, baseline, reference, outcome, reason):
    v = verdict(canary, baseline, T, reference)
    assert (v.outcome, v.reason) == (outcome, reason), v.detail


def test_verdict_carries_its_numbers():
    v = verdict(W(800, 40), BASE, T)
    assert v.numbers["canary_rate_pct"] == 5.0 and v.numbers["baseline_rate_pct"] == 1.0
    assert v.numbers["fail_at_evidence"] == 300.0 and v.numbers["pass_at_evidence"] == 100.0
    assert v.numbers["evidence_5xx_above_baseline"] >= 300 and v.numbers["test"] == "anytime-valid mixture SPRT"
    assert "canary 5xx 5.00% vs baseline 1.00% over the same window (evidence " in v.detail
    d = v.to_dict()
    assert d["outcome"] == "FAIL" and d["canary"] == {"requests": 800, "errors": 40, "p99_ms": 100.0, "p50_ms": None,
                                                      "slower_than_allowed": None, "slower_than_reference": None}
    slow = verdict(L(500, 0, 25, 40), BASE, T, REF)
    assert slow.numbers["allowed_p99_ms"] == 150.0 and slow.numbers["reference_p99_ms"] == 120.0
    assert "5.0% of canary requests slower than 150 ms (baseline p99 120 ms + max(25%, 20 ms))" in slow.detail


def test_inconclusive_says_how_many_requests_are_missing():
    v = verdict(W(37, 0), BASE, T)
    assert v.detail == "canary served 37 of the 100 requests needed"


def test_looking_again_at_more_data_only_adds_evidence_it_never_needs_a_correction():
    """The same proportions over more requests: inconclusive, then decided; no per-look alpha."""
    outcomes = [verdict(W(n, n * 3 // 100), BASE, T).outcome for n in (100, 200, 400, 800, 1600)]
    first = outcomes.index(Outcome.FAIL)
    assert first > 0 and set(outcomes[:first]) == {Outcome.INCONCLUSIVE} and set(outcomes[first:]) == {Outcome.FAIL}, outcomes


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


def test_the_p99_tripwire_waits_for_100_requests_even_when_min_requests_is_lower():
    """From 60 requests the "p99" is the slowest one: one cold start over the limit is no evidence
    (the counts against the baseline still judge latency on small windows)."""
    from dataclasses import replace

    small = replace(T, min_requests=40)
    assert verdict(L(60, 0, 0, 1, p99=520), BASE, small, REF).outcome != Outcome.FAIL
    assert verdict(L(100, 0, 0, 1, p99=520), BASE, small, REF).reason == Reason.P99_ABOVE_LIMIT
