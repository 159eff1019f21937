"""Anytime-valid evidence about counts: mixture likelihood ratios (e-values) a gate may read as often
as it likes.

Each function returns an e-value: a number whose expectation is at most 1 while the claim it tests
is false, at every look. By Ville's inequality the chance that it *ever* reaches 1/alpha, however
many times it is read, is at most alpha; that is why every bake poll may look at no cost (a fixed
sample test read twelve times spends its error budget up to twelve times).

- `rate_above` / `rate_below`: one color's rate against a fixed limit (Wald's sequential
  probability ratio, mixed over a grid of alternatives as Robbins proposed, so no single alternative
  has to be guessed right).
- `rate_above_baseline`: the canary's rate against the baseline's over the same window, conditional
  on the events seen: given m errors in all, each came from the canary with probability
  pi = rho*s / (rho*s + 1 - s), s the canary's share of the requests and rho the ratio of the two
  rates; the test is of rho <= rho0 against a mixture of larger ratios. This is the test of
  Lindon et al., "Rapid regression detection in software deployments through sequential testing"
  (KDD 2022), on counts.

A likelihood ratio of a Bernoulli or binomial model is a supermartingale under every rate on the
null's side of its boundary, so each test holds for the whole composite null, not one point of it.
Pure arithmetic on a handful of logs: microseconds per call.
"""

from __future__ import annotations

import math

ABOVE = (1.5, 2.0, 3.0, 5.0)  # alternatives above a limit, as multiples of it
BELOW = (0.05, 0.1, 0.2, 0.35, 0.5)  # alternatives below a limit
RATIOS = (1.5, 2.0, 3.0, 5.0, 10.0)  # how much worse than the baseline a canary may be, alternatives


def _bernoulli_log_lr(events: int, trials: int, alternative: float, null: float) -> float:
    """log of the likelihood ratio of `events` in `trials` under `alternative` vs `null`."""
    if alternative <= 0.0:
        return -math.inf if events else trials * math.log((1 - alternative) / (1 - null))
    if alternative >= 1.0:
        return -math.inf if events < trials else events * math.log(1 / null)
    return events * math.log(alternative / null) + (trials - events) * math.log((1 - alternative) / (1 - null))


def _mixture(log_lrs: list[float]) -> float:
    top = max(log_lrs)
    if top == -math.inf:
        return 0.0
    if top > 700:
        return math.inf
    return sum(math.exp(v) for v in log_lrs) / len(log_lrs)


def rate_above(events: int, trials: int, limit: float) -> float:
    """Evidence that the rate is above `limit` (a fraction, 0 < limit < 1)."""
    if trials <= 0:
        return 1.0
    if limit >= 1.0:
        return 0.0  # no rate is above 100%
    if limit <= 0.0:
        return math.inf if events else 1.0  # a limit of 0: one event proves it
    return _mixture([_bernoulli_log_lr(events, trials, min(limit * k, 0.999), limit) for k in ABOVE])


def rate_below(events: int, trials: int, limit: float) -> float:
    """Evidence that the rate is below `limit` (a fraction): the PASS side of a gate."""
    if trials <= 0:
        return 1.0
    if limit <= 0.0:
        return 0.0  # no rate is below 0
    if limit >= 1.0:
        return math.inf if events < trials else 0.0
    return _mixture([_bernoulli_log_lr(events, trials, limit * k, limit) for k in BELOW])


def canary_share(canary_requests: int, baseline_requests: int, ratio: float) -> float:
    """The chance that an event came from the canary when its rate is `ratio` times the baseline's."""
    weighted = ratio * canary_requests
    return weighted / (weighted + baseline_requests)


def rate_above_baseline(canary_events: int, canary_requests: int, baseline_events: int, baseline_requests: int,
                        ratio: float = 1.0) -> float:
    """Evidence that the canary's rate is more than `ratio` times the baseline's (same window)."""
    if canary_requests <= 0 or baseline_requests <= 0 or canary_events + baseline_events == 0:
        return 1.0
    events = canary_events + baseline_events
    null = canary_share(canary_requests, baseline_requests, ratio)
    return _mixture([_bernoulli_log_lr(canary_events, events, canary_share(canary_requests, baseline_requests, ratio * k), null)
                     for k in RATIOS])
