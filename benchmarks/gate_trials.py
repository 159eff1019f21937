"""How often the gate rolls back a healthy canary, and misses a bad one.

Trials draw request streams like the sandbox's: the baseline at 1% 5xx, the canary at 10% of the
traffic; each gate window adds `rps x period` requests and the verdict reads everything since the
shift, as the executor does. 1,000 trials each of an identical canary, a canary at 5% 5xx and a
canary whose p99 is 50% higher. Prints false-rollback and missed-rollback rates and the canary
requests it took to decide. `--sandbox N` also runs N real sandbox releases of each kind.
Run: .venv/bin/python benchmarks/gate_trials.py [--trials 1000] [--sandbox 5]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployer.release.gates import Outcome, Thresholds, WindowStats, verdict  # noqa: E402

THRESHOLDS = Thresholds(max_5xx_rate=5.0, max_p99_ms=1000, margin=0.25, min_requests=100, confidence=0.99,
                        p99_min_delta_ms=20, looks=12)


def latencies(rng: random.Random, n: int, p99_ms: float) -> list[float]:
    """Log-normal latencies whose 99th percentile is `p99_ms` (sigma 0.5)."""
    sigma = 0.5
    mu = math.log(p99_ms) - 2.326 * sigma
    return [rng.lognormvariate(mu, sigma) for _ in range(n)]


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def stats(n: int, errors: int, values: list[float]) -> WindowStats:
    return WindowStats(n, errors, percentile(values, 99), percentile(values, 50))


def trial(rng: random.Random, canary_rate: float, canary_p99: float, *, rps=100.0, weight=0.10, period=10.0,
          max_windows=12) -> tuple[Outcome, int]:
    canary_n = canary_e = base_n = base_e = 0
    canary_lat: list[float] = []
    base_lat: list[float] = []
    for _ in range(max_windows):
        n_c = sum(1 for _ in range(int(rps * period)) if rng.random() < weight)
        n_b = int(rps * period) - n_c
        canary_n += n_c
        base_n += n_b
        canary_e += sum(1 for _ in range(n_c) if rng.random() < canary_rate)
        base_e += sum(1 for _ in range(n_b) if rng.random() < 0.01)
        canary_lat += latencies(rng, n_c, canary_p99)
        base_lat += latencies(rng, n_b, 100.0)
        v = verdict(stats(canary_n, canary_e, canary_lat), stats(base_n, base_e, base_lat), THRESHOLDS)
        if v.outcome != Outcome.INCONCLUSIVE:
            return v.outcome, canary_n
    return Outcome.FAIL, canary_n  # still undecided: the executor gives up and rolls back


def simulate(trials: int, seed: int) -> None:
    rng = random.Random(seed)
    kinds = [("identical canary (1% 5xx, p99 100 ms)", 0.01, 100.0, Outcome.FAIL),
             ("canary at 5% 5xx", 0.05, 100.0, Outcome.PASS),
             ("canary p99 +50% (150 ms)", 0.01, 150.0, Outcome.PASS)]
    print(f"gate trials: {trials} each; baseline 1% 5xx, canary at 10% of 100 rps, 10 s windows, "
          f"min_requests {THRESHOLDS.min_requests}, confidence {THRESHOLDS.confidence:.0%}")
    for name, rate, latency, wrong in kinds:
        outcomes, needed = [], []
        for _ in range(trials):
            outcome, n = trial(rng, rate, latency)
            outcomes.append(outcome)
            needed.append(n)
        wrong_rate = sum(o == wrong for o in outcomes) / trials
        label = "false-rollback" if wrong == Outcome.FAIL else "missed-rollback"
        print(f"  {name:<40} {label} {wrong_rate:6.1%}   canary requests to decide: "
              f"median {statistics.median(needed):.0f}, p90 {sorted(needed)[int(0.9 * trials)]:.0f}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--sandbox", type=int, default=0, help="real sandbox releases of each kind")
    args = parser.parse_args()
    simulate(args.trials, args.seed)
    if args.sandbox:
        from benchmarks.gate_trials_sandbox import run_sandbox_trials

        run_sandbox_trials(args.sandbox)
    return 0


if __name__ == "__main__":
    sys.exit(main())
