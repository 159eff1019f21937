"""The gate's e-values: at most 1 in expectation when their claim is false (exactly, by summing the
binomial), so that reading them at every look keeps the error rate (Ville's inequality)."""

from __future__ import annotations

import math
import random

import pytest

from deployer.release.sequential import canary_share, rate_above, rate_above_baseline, rate_below


def expectation(evalue, n: int, p: float) -> float:
    """E[evalue(X)] for X ~ Binomial(n, p), summed exactly."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) * evalue(k) for k in range(n + 1))


@pytest.mark.parametrize("n", [1, 10, 100, 400])
@pytest.mark.parametrize("limit", [0.01, 0.05, 0.2])
def test_evidence_of_a_rate_above_a_limit_averages_at_most_one_on_or_below_it(n, limit):
    for p in (limit, limit / 2, limit / 10):
        assert expectation(lambda k: rate_above(k, n, limit), n, p) <= 1 + 1e-9, (n, limit, p)
    assert expectation(lambda k: rate_above(k, n, limit), n, limit * 3) > 1  # and it grows when the claim is true


@pytest.mark.parametrize("n", [1, 10, 100, 400])
@pytest.mark.parametrize("limit", [0.01, 0.05, 0.2])
def test_evidence_of_a_rate_below_a_limit_averages_at_most_one_on_or_above_it(n, limit):
    for p in (limit, limit * 2, min(0.99, limit * 10)):
        assert expectation(lambda k: rate_below(k, n, limit), n, p) <= 1 + 1e-9, (n, limit, p)


@pytest.mark.parametrize("events", [1, 5, 30, 120])
@pytest.mark.parametrize("share", [0.05, 0.1, 0.5])
def test_evidence_against_the_baseline_averages_at_most_one_when_the_canary_is_no_worse(events, share):
    """Given `events` errors in all, each is the canary's with probability `share` (equal rates)."""
    canary_requests = int(10_000 * share)
    baseline_requests = 10_000 - canary_requests

    def evalue(k):
        return rate_above_baseline(k, canary_requests, events - k, baseline_requests)

    for ratio in (1.0, 0.5):
        pi = canary_share(canary_requests, baseline_requests, ratio)
        assert expectation(evalue, events, pi) <= 1 + 1e-9, (events, share, ratio)


def test_a_margin_moves_the_null_a_canary_within_it_gathers_no_evidence():
    pi = canary_share(1000, 9000, 1.2)
    assert expectation(lambda k: rate_above_baseline(k, 1000, 40 - k, 9000, ratio=1.2), 40, pi) <= 1 + 1e-9
    assert rate_above_baseline(12, 1000, 90, 9000, ratio=1.2) < 1 < rate_above_baseline(40, 1000, 90, 9000, ratio=1.2)


def test_looking_after_every_request_stays_within_alpha():
    """Ville's inequality, seen: 400 streams at the limit, the e-value read after each of 300
    requests; the share that ever reaches 1/alpha stays under alpha (0.1 here)."""
    rng = random.Random(7)
    crossed = 0
    for _ in range(400):
        errors = 0
        for n in range(1, 301):
            errors += rng.random() < 0.05
            if rate_above(errors, n, 0.05) >= 10:
                crossed += 1
                break
    assert crossed / 400 < 0.1


def test_edges():
    assert rate_above(0, 0, 0.05) == 1.0 and rate_below(0, 0, 0.05) == 1.0  # no requests: no evidence either way
    assert rate_above(1, 10, 0.0) == math.inf and rate_above(0, 10, 0.0) == 1.0  # a limit of 0: one error proves it
    assert rate_above(10, 10, 1.0) == 0.0 and rate_below(0, 10, 0.0) == 0.0
    assert rate_above_baseline(0, 100, 0, 900) == 1.0 and rate_above_baseline(3, 0, 0, 900) == 1.0
    assert rate_above(10**5, 10**5, 0.01) == math.inf  # overflow is infinite evidence, not an error
