"""Gate verdicts: is the canary worse than the baseline? A pure function of the numbers.

Two tiers, as in docs (README, "Gates"):
- tripwire (absolute): the canary's 5xx rate is above `max_5xx_rate` with the gate's confidence
  (Wilson lower bound, so 1 error in 20 requests never trips it but 20 in 20 does), or its
  p99 is above `max_p99_ms` over at least `min_requests`;
- comparison (relative): a one-sided Fisher exact test says the canary's 5xx rate is higher
  than the baseline's, or its p99 exceeds the baseline's by more than `margin`.
Fewer than `min_requests` canary requests is INCONCLUSIVE: it holds the step, it never fails it;
PASS needs the canary's rate below the limit with the gate's confidence. The statistics are closed
forms (deployer.release.exact), microseconds per evaluation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

# A p99 read from fewer requests is mostly the largest value seen: comparing it with the
# baseline's rolls back healthy canaries (benchmarks/gate_trials.py measured 11% at 100-200).
P99_MIN_REQUESTS = 400


class Outcome(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


class Reason:
    """Named reasons, so a record can be filtered and explained later."""

    TOO_FEW_REQUESTS = "too_few_requests"
    ERROR_RATE_ABOVE_LIMIT = "error_rate_above_limit"
    ERROR_RATE_ABOVE_BASELINE = "error_rate_above_baseline"
    P99_ABOVE_LIMIT = "p99_above_limit"
    P99_ABOVE_BASELINE = "p99_above_baseline"
    P50_ABOVE_BASELINE = "p50_above_baseline"
    ALARM = "alarm"
    CANARY_UNHEALTHY = "canary_unhealthy"
    HEALTHY = "healthy"


@dataclass(frozen=True)
class WindowStats:
    """One target group over one closed window."""

    requests: int
    errors: int
    p99_ms: float | None  # None when the group served nothing
    p50_ms: float | None = None  # the median moves with a regression long before p99 is trustworthy

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Thresholds:
    max_5xx_rate: float  # percent
    max_p99_ms: float
    margin: float  # fraction over the baseline p99
    min_requests: int
    confidence: float
    p99_min_delta_ms: float = 50.0  # below this, a p99 difference is noise
    looks: int = 1  # evaluations a step may make; each comparison uses alpha / looks


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    detail: str
    canary: WindowStats
    baseline: WindowStats | None
    numbers: dict

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome.value,
            "reason": self.reason,
            "detail": self.detail,
            "canary": asdict(self.canary),
            "baseline": asdict(self.baseline) if self.baseline else None,
            "numbers": self.numbers,
        }


def _wilson(errors: int, requests: int, confidence: float) -> tuple[float, float]:
    """One-sided Wilson bounds at `confidence` (the two-sided interval at 2c - 1)."""
    from deployer.release.exact import wilson_interval

    return wilson_interval(errors, requests, 2 * confidence - 1)


def wilson_lower_bound(errors: int, requests: int, confidence: float) -> float:
    return 0.0 if requests == 0 else max(0.0, _wilson(errors, requests, confidence)[0])


def wilson_upper_bound(errors: int, requests: int, confidence: float) -> float:
    return 1.0 if requests == 0 else min(1.0, _wilson(errors, requests, confidence)[1])


def two_proportion_p_value(canary: WindowStats, baseline: WindowStats) -> float:
    """One-sided p-value of Fisher's exact test for H1: the canary's error rate is higher.

    Exact, so it stays honest at the small error counts a 10% canary sees (a pooled z-test
    rolled back 6% of identical canaries in benchmarks/gate_trials.py).
    """
    if canary.requests == 0 or baseline.requests == 0 or canary.errors + baseline.errors == 0:
        return 1.0
    from deployer.release.exact import fisher_greater

    return fisher_greater(canary.errors, canary.requests - canary.errors, baseline.errors, baseline.requests - baseline.errors)


def verdict(canary: WindowStats, baseline: WindowStats | None, t: Thresholds) -> Verdict:
    """PASS, FAIL or INCONCLUSIVE for one window, with every number behind it."""
    alpha = (1 - t.confidence) / max(1, t.looks)  # repeated looks must not add up to more false rollbacks
    lower = wilson_lower_bound(canary.errors, canary.requests, t.confidence)
    numbers: dict = {
        "canary_rate_pct": round(canary.error_rate * 100, 3),
        "canary_rate_lower_bound_pct": round(lower * 100, 3),
        "max_5xx_rate_pct": t.max_5xx_rate,
        "max_p99_ms": t.max_p99_ms,
        "min_requests": t.min_requests,
    }

    def done(outcome: Outcome, reason: str, detail: str) -> Verdict:
        return Verdict(outcome, reason, detail, canary, baseline, numbers)

    # Tripwire on errors: decided as soon as the evidence is strong, even on few requests.
    if lower * 100 >= t.max_5xx_rate and canary.errors > 0:
        return done(
            Outcome.FAIL,
            Reason.ERROR_RATE_ABOVE_LIMIT,
            f"canary 5xx {canary.errors}/{canary.requests} = {canary.error_rate:.1%} "
            f"(at least {lower:.1%} with {t.confidence:.0%} confidence) >= limit {t.max_5xx_rate:g}%",
        )
    if canary.requests < t.min_requests:
        return done(
            Outcome.INCONCLUSIVE,
            Reason.TOO_FEW_REQUESTS,
            f"canary served {canary.requests} of the {t.min_requests} requests needed",
        )
    if canary.p99_ms is not None and canary.p99_ms >= t.max_p99_ms:
        return done(Outcome.FAIL, Reason.P99_ABOVE_LIMIT, f"canary p99 {canary.p99_ms:.0f} ms >= limit {t.max_p99_ms:g} ms")

    if baseline is not None and baseline.requests > 0:
        p_value = two_proportion_p_value(canary, baseline)
        numbers.update(baseline_rate_pct=round(baseline.error_rate * 100, 3), p_value=round(p_value, 6), alpha=round(alpha, 6))
        if p_value < alpha and canary.error_rate > baseline.error_rate:
            return done(
                Outcome.FAIL,
                Reason.ERROR_RATE_ABOVE_BASELINE,
                f"canary 5xx {canary.error_rate:.2%} vs baseline {baseline.error_rate:.2%} "
                f"(Fisher exact p={p_value:.2g} < {alpha:.2g})",
            )
        if baseline.requests >= t.min_requests and baseline.p50_ms and canary.p50_ms is not None:
            allowed50 = max(baseline.p50_ms * (1 + t.margin), baseline.p50_ms + t.p99_min_delta_ms)
            numbers.update(baseline_p50_ms=baseline.p50_ms, canary_p50_ms=canary.p50_ms, allowed_p50_ms=round(allowed50, 1))
            if canary.p50_ms > allowed50:
                return done(
                    Outcome.FAIL,
                    Reason.P50_ABOVE_BASELINE,
                    f"canary median {canary.p50_ms:.0f} ms > baseline {baseline.p50_ms:.0f} ms + max({t.margin:.0%}, "
                    f"{t.p99_min_delta_ms:g} ms) = {allowed50:.0f} ms",
                )
        if baseline.requests >= t.min_requests and baseline.p99_ms and canary.p99_ms is not None:
            allowed = max(baseline.p99_ms * (1 + t.margin), baseline.p99_ms + t.p99_min_delta_ms)
            numbers.update(baseline_p99_ms=baseline.p99_ms, allowed_p99_ms=round(allowed, 1))
            if canary.p99_ms > allowed and canary.requests < P99_MIN_REQUESTS:
                # A suspect, not yet a proof: it holds the step, and names the latency if the step
                # runs out of windows (a slow minority must not read as "too few requests").
                return done(
                    Outcome.INCONCLUSIVE,
                    Reason.P99_ABOVE_BASELINE,
                    f"canary served {canary.requests} of the {P99_MIN_REQUESTS} requests a p99 comparison needs "
                    f"(p99 {canary.p99_ms:.0f} ms vs allowed {allowed:.0f} ms)",
                )
            if canary.p99_ms > allowed:
                return done(
                    Outcome.FAIL,
                    Reason.P99_ABOVE_BASELINE,
                    f"canary p99 {canary.p99_ms:.0f} ms > baseline {baseline.p99_ms:.0f} ms + max({t.margin:.0%}, "
                    f"{t.p99_min_delta_ms:g} ms) = {allowed:.0f} ms",
                )
    # PASS needs evidence, not just the absence of a failure: the canary's rate must be below the
    # limit with the gate's confidence, or a bad canary could pass on a lucky small sample.
    upper = wilson_upper_bound(canary.errors, canary.requests, t.confidence)
    numbers["canary_rate_upper_bound_pct"] = round(upper * 100, 3)
    if upper * 100 >= t.max_5xx_rate:
        return done(
            Outcome.INCONCLUSIVE,
            Reason.TOO_FEW_REQUESTS,
            f"canary 5xx {canary.errors}/{canary.requests} = {canary.error_rate:.1%}; could still be up to "
            f"{upper:.1%} (limit {t.max_5xx_rate:g}%), waiting for more requests",
        )
    p99 = f", p99 {canary.p99_ms:.0f} ms" if canary.p99_ms is not None else ""
    return done(Outcome.PASS, Reason.HEALTHY, f"canary 5xx {canary.error_rate:.2%} over {canary.requests} requests{p99}")
