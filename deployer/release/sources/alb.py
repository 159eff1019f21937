"""The ALB target-group metrics of each color (requests, 5xx, connection errors, p50, p99): the
traffic every gate judges, and the sample size of every other source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.release.gates import ALLOWED_SLOW_SHARE, Outcome, Reason, Verdict, WindowStats, verdict
from deployer.release.metric_verdict import Reading

if TYPE_CHECKING:
    from deployer.release.ports import Target
    from deployer.release.sources import Readout, Window
    from deployer.release.steps import GateLimits

DECIDES = {  # which row a verdict's reason speaks about
    Reason.TOO_FEW_REQUESTS: "requests",
    Reason.ERROR_RATE_ABOVE_LIMIT: "5xx %", Reason.ERROR_RATE_ABOVE_BASELINE: "5xx %",
    Reason.P99_ABOVE_LIMIT: "p99 ms", Reason.P99_ABOVE_BASELINE: "slow %",
}


class AlbSource:
    name = "alb"

    def read(self, target: "Target", window: "Window", checks: tuple = ()) -> "Readout":
        """The traffic, and the gate's custom metrics with it: one GetMetricData call per evaluation."""
        return target.read_window(window.colors, window.start, window.end, window.period, checks, window.latency_ms)

    def verdict(self, traffic: dict[str, WindowStats], window: "Window", limits: "GateLimits") -> Verdict:
        canary = traffic.get(window.canary, WindowStats(0, 0, None))
        baseline = traffic.get(window.baseline) if window.baseline else None
        return verdict(canary, baseline, limits.thresholds(), window.reference_ms)

    def readings(self, v: Verdict, limits: "GateLimits") -> list[Reading]:
        decided = DECIDES.get(v.reason, "")
        c, b = v.canary, v.baseline

        def row(metric: str, canary, baseline, limit: str) -> Reading:
            if v.outcome == Outcome.PASS:
                outcome = Outcome.PASS.value
            else:
                outcome = v.outcome.value if metric == decided else ""
            detail = v.detail if metric == decided or v.outcome == Outcome.PASS and metric == "5xx %" else ""
            return Reading(self.name, metric, canary, baseline, limit, outcome, v.reason if detail else "", detail)

        def ms(value):
            return None if value is None else round(value, 1)

        rows = [
            row("requests", c.requests, b.requests if b else None, f">= {limits.min_requests}"),
            row("5xx %", round(c.error_rate * 100, 3), round(b.error_rate * 100, 3) if b else None, f"< {limits.max_5xx_rate:g}%"),
            row("p50 ms", ms(c.p50_ms), ms(b.p50_ms) if b else None, ""),
            row("p99 ms", ms(c.p99_ms), ms(b.p99_ms) if b else None, f"< {limits.max_p99_ms:g} ms"),
        ]
        allowed = v.numbers.get("allowed_p99_ms")
        if allowed is not None and c.slower_than_allowed is not None:
            def share(stats):
                return round(100 * stats.slower_than_allowed / stats.requests, 3) if stats and stats.requests and stats.slower_than_allowed is not None else None
            rows.append(row("slow %", share(c), share(b), f"<= {ALLOWED_SLOW_SHARE:.0%} slower than {allowed:g} ms"))
        return rows
