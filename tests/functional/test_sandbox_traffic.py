"""The traffic generator's counts per version and status class (what e2e tests assert on)."""

from __future__ import annotations

from deployer.sandbox.traffic import MAX_VERSIONS, NO_VERSION, TrafficResult


def test_counts_per_version_and_status_class():
    result = TrafficResult(sent=7)
    for status, version in ((200, "1"), (200, "2"), (200, "2"), (500, "2"), (503, None), (599, None), (404, "1")):
        result.add(status, version)
    assert result.count("2") == 3 and result.count("2", "5xx") == 1 and result.count(status_class="2xx") == 3
    assert result.count(NO_VERSION, "5xx") == 1 and result.count(NO_VERSION, "none") == 1
    assert result.versions_seen() == {"1", "2"} and result.versions_seen("5xx") == {"2"}
    assert result.versions == {"1": 1, "2": 2} and result.statuses[599] == 1
    # "every 5xx the tasks answered came from version 2"
    assert result.count(status_class="5xx") - result.count(NO_VERSION, "5xx") == result.count("2", "5xx")
    assert result.line() == "7 requests, 3 5xx (42.9%); v1 1, v2 2 (+1 5xx)"


def test_distinct_versions_are_bounded():
    result = TrafficResult()
    for i in range(3 * MAX_VERSIONS):
        result.add(200, f"{i}-" + "x" * 100)
    assert len({v for v, _ in result.responses}) == MAX_VERSIONS + 1
    assert result.count("other") == 2 * MAX_VERSIONS and max(len(v) for v, _ in result.responses) <= 40
