"""One-line progress of a release for people: what a poll saw. Pure."""

from __future__ import annotations


def poll_line(weights: dict, canary: str, healthy: int | None, verdict, limits) -> str:
    """`blue 90%, green 10% | green healthy 2 | 5xx 0.4% (limit 5%) over 250 req | p99 120 ms (limit 500 ms) | PASS`."""
    shown = ", ".join(f"{c} {w}%" for c, w in weights.items())
    parts = [shown] if shown else []
    if healthy is not None:
        parts.append(f"{canary} healthy {healthy}")
    if verdict is not None:
        c = verdict.canary
        parts.append(f"5xx {c.error_rate:.1%} (limit {limits.max_5xx_rate:g}%) over {c.requests} req")
        if c.p99_ms is not None:
            parts.append(f"p99 {c.p99_ms:.0f} ms (limit {limits.max_p99_ms:g} ms)")
        parts.append(verdict.outcome.value)
    return "    " + " | ".join(parts)
