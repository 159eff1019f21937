"""Gate verdicts: is the canary worse than the baseline? A pure function of the numbers.

Every test is anytime-valid (deployer.release.sequential): a gate may read a window as often as it
likes (each bake poll, each retry) and its error rates still hold. `confidence` c gives the budget
alpha = 1 - c. FAIL needs evidence against the canary:
- errors above the limit: the canary's 5xx rate is above `max_5xx_rate` (at alpha/3);
- errors above the baseline: its rate is higher than the baseline's over the same window (alpha/3);
- latency: more than 1% of its requests are slower than the baseline's p99 plus the margin, i.e.
  its p99 is over the allowed one (alpha/3), counted by CloudWatch, not read from a noisy p99;
- the absolute p99 tripwire (`max_p99_ms`) over at least `min_requests`.
PASS needs evidence for the canary, at most alpha wrong for each kind of harm: its 5xx rate is
below `max_5xx_rate`, and fewer than 5% of its requests are slower than the baseline's p99 plus the
noise floor `p99_min_delta_ms` (about: its p95 below that). The baseline's p99 is read once, over
the three gate periods before traffic moved, so the counts against it are plain binomial counts. Neither yet is INCONCLUSIVE: the step holds, and gives up as
`too_few_requests` (or the latency it could not clear) after `max_inconclusive` windows; no canary
is ever promoted, or blamed, on too little traffic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

ALLOWED_SLOW_SHARE = 0.01  # a p99 within the margin: at most 1% of requests slower than the allowed p99
# PASS: fewer than 5% slower than the baseline's p99 plus the noise floor (about: the canary's p95
# below it). With the reference read from one window instead of three before the shift, a canary
# 50% slower passed 1.05% of the time (benchmarks/gate_trials.py: that p99 was itself noisy).
PASS_SLOW_SHARE = 0.05
FAIL_TESTS = 3  # errors vs limit, errors vs baseline, latency: each spends a third of alpha
TRIPWIRE_MIN_REQUESTS = 100  # a p99 is the 99th of 100: from fewer requests it is the slowest one (one cold start)


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
    ALARM = "alarm"
    CANARY_UNHEALTHY = "canary_unhealthy"
    HEALTHY = "healthy"


@dataclass(frozen=True)
class WindowStats:
    """One target group over one window (everything since traffic last moved)."""

    requests: int
    errors: int
    p99_ms: float | None  # None when the group served nothing
    p50_ms: float | None = None
    slower_than_allowed: int | None = None  # requests slower than the allowed p99 (the baseline's plus the margin)
    slower_than_reference: int | None = None  # requests slower than the baseline's p99 plus the noise floor

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

    def allowed_ms(self, reference_ms: float) -> float:
        """The canary's allowed p99 when the baseline's is `reference_ms`: FAIL counts requests above it."""
        return max(reference_ms * (1 + self.margin), reference_ms + self.p99_min_delta_ms)

    def pass_ms(self, reference_ms: float) -> float:
        """The baseline's p99 plus the noise floor: PASS counts requests above it."""
        return reference_ms + self.p99_min_delta_ms

    def latency_ms(self, reference_ms: float) -> tuple[float, float]:
        """The two thresholds CloudWatch counts requests above: (allowed, pass)."""
        return self.allowed_ms(reference_ms), self.pass_ms(reference_ms)


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


def verdict(canary: WindowStats, baseline: WindowStats | None, t: Thresholds, reference_ms: float | None = None) -> Verdict:
    """PASS, FAIL or INCONCLUSIVE for one window, with every number behind it.

    `reference_ms` is the baseline's p99 that the latency counts were taken against (None: no
    reference yet, so latency is judged by the absolute tripwire alone)."""
    from deployer.release.sequential import rate_above, rate_above_baseline, rate_below

    alpha = 1 - t.confidence
    fail_at, pass_at = FAIL_TESTS / alpha, 1 / alpha
    limit = t.max_5xx_rate / 100
    numbers: dict = {
        "test": "anytime-valid mixture SPRT",
        "fail_at_evidence": round(fail_at, 1),
        "pass_at_evidence": round(pass_at, 1),
        "canary_rate_pct": round(canary.error_rate * 100, 3),
        "max_5xx_rate_pct": t.max_5xx_rate,
        "max_p99_ms": t.max_p99_ms,
        "min_requests": t.min_requests,
    }

    def done(outcome: Outcome, reason: str, detail: str) -> Verdict:
        return Verdict(outcome, reason, detail, canary, baseline, numbers)

    above = rate_above(canary.errors, canary.requests, limit)
    numbers["evidence_5xx_above_limit"] = _shown(above)
    if above >= fail_at:
        return done(Outcome.FAIL, Reason.ERROR_RATE_ABOVE_LIMIT,
                    f"canary 5xx {canary.errors}/{canary.requests} = {canary.error_rate:.1%}: above the limit {t.max_5xx_rate:g}% "
                    f"(evidence {said(above)} >= {fail_at:.0f})")
    compared = baseline is not None and baseline.requests > 0
    if compared:
        worse = rate_above_baseline(canary.errors, canary.requests, baseline.errors, baseline.requests)
        numbers.update(baseline_rate_pct=round(baseline.error_rate * 100, 3), evidence_5xx_above_baseline=_shown(worse))
        if worse >= fail_at:
            return done(Outcome.FAIL, Reason.ERROR_RATE_ABOVE_BASELINE,
                        f"canary 5xx {canary.error_rate:.2%} vs baseline {baseline.error_rate:.2%} over the same window "
                        f"(evidence {said(worse)} >= {fail_at:.0f})")
    if canary.requests >= max(t.min_requests, TRIPWIRE_MIN_REQUESTS) and canary.p99_ms is not None and canary.p99_ms >= t.max_p99_ms:
        return done(Outcome.FAIL, Reason.P99_ABOVE_LIMIT, f"canary p99 {canary.p99_ms:.0f} ms >= limit {t.max_p99_ms:g} ms")
    latency_known = reference_ms is not None and canary.slower_than_allowed is not None and canary.slower_than_reference is not None
    slow_pass = None
    if latency_known:
        allowed = t.allowed_ms(reference_ms)
        slow = rate_above(canary.slower_than_allowed, canary.requests, ALLOWED_SLOW_SHARE)
        slow_pass = rate_below(canary.slower_than_reference, canary.requests, PASS_SLOW_SHARE)
        numbers.update(reference_p99_ms=round(reference_ms, 1), allowed_p99_ms=round(allowed, 1), pass_p99_ms=round(t.pass_ms(reference_ms), 1),
                       canary_slower_than_allowed=canary.slower_than_allowed,
                       canary_slower_than_reference=canary.slower_than_reference,
                       evidence_p99_above_allowed=_shown(slow), evidence_p95_below_reference=_shown(slow_pass))
        if slow >= fail_at:
            share = canary.slower_than_allowed / canary.requests
            return done(Outcome.FAIL, Reason.P99_ABOVE_BASELINE,
                        f"{share:.1%} of canary requests slower than {allowed:.0f} ms (baseline p99 {reference_ms:.0f} ms "
                        f"+ max({t.margin:.0%}, {t.p99_min_delta_ms:g} ms)); its p99 is above that "
                        f"(evidence {said(slow)} >= {fail_at:.0f})")
    if canary.requests < t.min_requests:
        return done(Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS, f"canary served {canary.requests} of the {t.min_requests} requests needed")
    below = rate_below(canary.errors, canary.requests, limit)
    numbers["evidence_5xx_below_limit"] = _shown(below)
    if below < pass_at:
        return done(Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS,
                    f"canary 5xx {canary.errors}/{canary.requests} = {canary.error_rate:.1%}: not yet shown below "
                    f"{t.max_5xx_rate:g}% (evidence {said(below)} of {pass_at:.0f}), waiting for more requests")
    if compared and not latency_known:
        return done(Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS,
                    "latency not judged yet: the next window counts the canary's requests against the baseline's p99")
    if slow_pass is not None and slow_pass < pass_at:
        share = canary.slower_than_reference / canary.requests
        return done(Outcome.INCONCLUSIVE, Reason.P99_ABOVE_BASELINE if share > 0.01 else Reason.TOO_FEW_REQUESTS,
                    f"{share:.1%} of canary requests slower than {t.pass_ms(reference_ms):.0f} ms (baseline p99 "
                    f"{reference_ms:.0f} ms + {t.p99_min_delta_ms:g} ms): not yet shown "
                    f"under {PASS_SLOW_SHARE:.1%} (evidence {said(slow_pass)} of {pass_at:.0f})")
    p99 = f", p99 {canary.p99_ms:.0f} ms" if canary.p99_ms is not None else ""
    return done(Outcome.PASS, Reason.HEALTHY, f"canary 5xx {canary.error_rate:.2%} over {canary.requests} requests{p99}")


def said(evidence: float) -> str:
    """An e-value for people: whole numbers once it is large, "over a trillion" past what matters."""
    if evidence >= 1e12:
        return "over 10^12"
    return f"{evidence:,.0f}" if evidence >= 10 else f"{evidence:.2f}"


def _shown(evidence: float) -> float:
    """An e-value for a record: rounded, and finite (JSON has no infinity)."""
    return round(min(evidence, 1e12), 3)
