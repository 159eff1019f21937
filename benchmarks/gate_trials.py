"""How often the gate rolls back a healthy canary, and misses a bad one, with 95% intervals.

Trials draw request streams like the sandbox's: the baseline at 1% 5xx, the canary at 10% of 100 rps;
each 10 s gate window adds its requests and the verdict reads everything since the shift, as the
executor does, for at most 12 windows (then the executor gives up and rolls back). Kinds: an identical
canary; a canary at 5% 5xx; one whose latency is 50% higher (log-normal, p99 100 -> 150 ms); errors in
bursts (25% of requests in one window of five, 1% otherwise); a slow minority (3% of requests 1.5 s
slower, the median unchanged). For each kind: the rate of wrong decisions with its 95% Wilson
interval, the canary requests it took to decide (median and 95th percentile), and the mean time of
one verdict. The last line is for machines:
`false_rollback_pct=... missed_5xx_pct=... missed_p99_pct=... median_requests_5xx=... eval_ms=...`.
numpy draws the samples (a test tool here; the gate itself is pure Python).
Run: .venv/bin/python benchmarks/gate_trials.py [--trials 10000] [--sandbox 5]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployer.release.gates import Outcome, Thresholds, WindowStats, verdict  # noqa: E402

THRESHOLDS = Thresholds(max_5xx_rate=5.0, max_p99_ms=1000, margin=0.25, min_requests=100, confidence=0.99,
                        p99_min_delta_ms=0)  # no noise floor: +50% on a 100 ms p99 is a regression here
RPS, WEIGHT, PERIOD, MAX_WINDOWS = 100.0, 0.10, 10.0, 12
REFERENCE_WINDOWS = 3  # deployer.release.handlers.gates.REFERENCE_PERIODS
SIGMA = 0.5  # log-normal latencies whose p99 is the kind's p99


@dataclass(frozen=True)
class Kind:
    name: str
    wrong: Outcome  # the decision that would be wrong
    error_rate: float = 0.01
    p99_ms: float = 100.0
    burst_rate: float | None = None  # errors in one window of five
    slow_fraction: float = 0.0
    slow_ms: float = 0.0


KINDS = {
    "false_rollback": Kind("identical canary (1% 5xx, p99 100 ms)", Outcome.FAIL),
    "missed_5xx": Kind("canary at 5% 5xx", Outcome.PASS, error_rate=0.05),
    "missed_p99": Kind("canary p99 +50% (150 ms)", Outcome.PASS, p99_ms=150.0),
    "missed_bursts": Kind("errors in bursts (25% in 1 window of 5)", Outcome.PASS, burst_rate=0.25),
    "missed_slow_minority": Kind("slow minority (3% of requests +1.5 s)", Outcome.PASS, slow_fraction=0.03, slow_ms=1500.0),
}


def wilson_interval(successes: int, trials: int, level: float) -> tuple[float, float]:
    """Two-sided Wilson score interval of a proportion: the 95% interval of each rate printed."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    p, n = successes / trials, trials
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, center - half), min(1.0, center + half)


def latencies(rng: np.random.Generator, n: int, p99_ms: float) -> np.ndarray:
    mu = math.log(p99_ms) - 2.326 * SIGMA
    return rng.lognormal(mu, SIGMA, n)


def nearest_rank(values: np.ndarray, pct: float) -> float | None:
    if values.size == 0:
        return None
    k = max(1, math.ceil(pct / 100 * values.size)) - 1
    return float(np.partition(values, k)[k])


def trial(rng: np.random.Generator, kind: Kind, timing: list[float]) -> tuple[Outcome, int]:
    """One step, as the executor runs it: the latency reference is the baseline's p99 over the three
    windows before the shift (all the traffic then); CloudWatch counts the canary's requests above
    it (and above the allowed p99) in every window after."""
    canary_n = canary_e = base_n = base_e = 0
    canary_lat: list[np.ndarray] = []
    reference = nearest_rank(latencies(rng, int(RPS * PERIOD) * REFERENCE_WINDOWS, 100.0), 99)
    for window in range(MAX_WINDOWS):
        total = int(RPS * PERIOD)
        n_c = int(rng.binomial(total, WEIGHT))
        n_b = total - n_c
        rate = kind.burst_rate if kind.burst_rate is not None and window % 5 == 0 else kind.error_rate
        canary_n, base_n = canary_n + n_c, base_n + n_b
        canary_e += int(rng.binomial(n_c, rate))
        base_e += int(rng.binomial(n_b, 0.01))
        lat = latencies(rng, n_c, kind.p99_ms)
        if kind.slow_fraction:
            lat = lat + (rng.random(n_c) < kind.slow_fraction) * kind.slow_ms
        canary_lat.append(lat)
        base_lat = latencies(rng, n_b, 100.0)
        c_all = np.concatenate(canary_lat)
        slow = {}
        if reference is not None:
            slow = {"slower_than_allowed": int((c_all > THRESHOLDS.allowed_ms(reference)).sum()),
                    "slower_than_reference": int((c_all > THRESHOLDS.pass_ms(reference)).sum())}
        canary = WindowStats(canary_n, canary_e, nearest_rank(c_all, 99), nearest_rank(c_all, 50), **slow)
        baseline = WindowStats(base_n, base_e, nearest_rank(base_lat, 99), nearest_rank(base_lat, 50))
        started = time.perf_counter()
        v = verdict(canary, baseline, THRESHOLDS, reference if slow else None)
        timing.append(time.perf_counter() - started)
        if v.outcome != Outcome.INCONCLUSIVE:
            return v.outcome, canary_n
    return Outcome.FAIL, canary_n  # still undecided: the executor gives up and rolls back


def simulate(trials: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    timing: list[float] = []
    figures: dict[str, float] = {}
    print(f"gate trials: {trials:,} of each kind; baseline 1% 5xx, canary at {WEIGHT:.0%} of {RPS:.0f} rps, "
          f"{PERIOD:.0f} s windows, at most {MAX_WINDOWS}; min_requests {THRESHOLDS.min_requests}, "
          f"confidence {THRESHOLDS.confidence:.0%}")
    for key, kind in KINDS.items():
        wrong, needed = 0, []
        for _ in range(trials):
            outcome, n = trial(rng, kind, timing)
            wrong += outcome == kind.wrong
            needed.append(n)
        low, high = wilson_interval(wrong, trials, 0.95)
        median, p95 = float(np.median(needed)), float(np.percentile(needed, 95))
        label = "rolled back" if kind.wrong == Outcome.FAIL else "missed"
        print(f"  {kind.name:<42} {label} {wrong / trials:6.2%} (95% interval {low:.2%}-{high:.2%})   "
              f"canary requests to decide: median {median:.0f}, p95 {p95:.0f}")
        figures[f"{key}_pct"] = 100 * wrong / trials
        figures[f"{key}_upper_pct"] = 100 * high
        figures[f"median_requests_{key.removeprefix('missed_').removeprefix('false_')}"] = median
    figures["eval_ms"] = 1000 * sum(timing) / len(timing)
    print(f"  one verdict: {figures['eval_ms']:.3f} ms on average over {len(timing):,} evaluations")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--sandbox", type=int, default=0, help="real sandbox releases of each kind")
    args = parser.parse_args()
    started = time.monotonic()
    f = simulate(args.trials, args.seed)
    print(f"  ({time.monotonic() - started:.0f} s)")
    if args.sandbox:
        from benchmarks.gate_trials_sandbox import run_sandbox_trials

        run_sandbox_trials(args.sandbox)
    print(f"false_rollback_pct={f['false_rollback_pct']:.2f} missed_5xx_pct={f['missed_5xx_pct']:.2f} "
          f"missed_p99_pct={f['missed_p99_pct']:.2f} missed_bursts_pct={f['missed_bursts_pct']:.2f} "
          f"missed_slow_minority_pct={f['missed_slow_minority_pct']:.2f} median_requests_5xx={f['median_requests_5xx']:.0f} "
          f"eval_ms={f['eval_ms']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
