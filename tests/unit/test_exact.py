"""The gate's closed-form statistics agree with scipy's general routines (scipy is a test tool only)."""

from __future__ import annotations

import itertools
import random

import pytest

from deployer.release.exact import fisher_greater, wilson_interval

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("level", [0.8, 0.98, 0.998])
def test_wilson_matches_scipy(level):
    for successes, trials in [(0, 1), (0, 100), (1, 20), (20, 20), (50, 1000), (3, 7), (999, 1000), (12345, 100000)]:
        expected = scipy_stats.binomtest(successes, trials).proportion_ci(confidence_level=level, method="wilson")
        low, high = wilson_interval(successes, trials, level)
        assert low == pytest.approx(expected.low, abs=1e-12) and high == pytest.approx(expected.high, abs=1e-12), (successes, trials)


def test_fisher_matches_scipy_on_a_grid_and_at_random():
    rng = random.Random(11)
    tables = [(a, b, c, d) for a, b, c, d in itertools.product(range(0, 7), range(0, 40, 13), range(0, 7), range(0, 40, 13))]
    tables += [(rng.randint(0, 60), rng.randint(0, 2000), rng.randint(0, 200), rng.randint(0, 20000)) for _ in range(300)]
    tables += [(40, 760, 90, 8910), (0, 0, 5, 5), (5, 5, 0, 0), (300, 700, 0, 9000)]
    for a, b, c, d in tables:
        expected = scipy_stats.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue
        got = fisher_greater(a, b, c, d)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-300), (a, b, c, d, got, expected)
