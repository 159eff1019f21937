"""Releases in the sandbox with real processes and real HTTP traffic through the weighted proxies."""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.e2e.conftest import Traffic, healthy_targets, refreshed, run, wait_until

pytestmark = pytest.mark.e2e


def ready(box, service: str, color: str, count: int = 2) -> None:
    assert wait_until(lambda: healthy_targets(box, service, color) >= count, timeout=60), f"{service} {color} not healthy"


def live_color(box) -> str:
    code, status, err = run(box, "status", "web")
    assert code == 0, err
    return max(status["colors"], key=lambda c: status["colors"][c]["weight"] or 0)


def release_web(box, image: str, rps: float, *flags: str):
    """Release `image` to web under traffic: (live color before, exit code, report, stderr, traffic)."""
    live = live_color(box)
    ready(box, "web", live)
    with Traffic(box, "web", rps=rps) as t:
        code, report, err = run(box, "release", "web", "--image", image, "--poll", "1s", *flags)
    return live, code, report, err, t.result


def proxy_events(box) -> list[tuple[float, str]]:
    lines = (box.directory / "proxy-events.log").read_text().splitlines()
    return [(float(line.split(" ", 1)[0]), line.split(" ", 1)[1]) for line in lines]


def test_good_canary_is_promoted(sandbox):
    _, code, report, err, sent = release_web(sandbox, "example/web:2", rps=200)  # the canary's 10%: 20 rps
    assert code == 0, err
    assert report["result"] == "released" and report["live_color"] in ("blue", "green")
    assert [s["verdict"] for s in report["steps"]][-1] == "PASS"
    assert sent.versions.get("2", 0) > 0


def test_linear_moves_weights_in_equal_steps_each_gated(sandbox):
    """`--strategy linear` on a canary service: web's release.linear (50% steps, 3 s bakes) gives 50 then 100;
    the dry run shows that plan, each gate with its limits."""
    code, preview, err = run(sandbox, "release", "web", "--image", "example/web:2", "--strategy", "linear", "--dry-run")
    assert code == 0 and preview["plan"]["strategy"] == "linear", err
    gates = [s for s in preview["plan"]["steps"] if s["kind"] == "Gate"]
    assert [g["weight"] for g in gates] == [50, 100] and {g["limits"]["period"] for g in gates} == {2}
    assert [s["seconds"] for s in preview["plan"]["steps"] if s["kind"] == "Bake"] == [3, 3]
    live, code, report, err, sent = release_web(sandbox, "example/web:2", 200, "--strategy", "linear")
    assert code == 0, err
    assert report["result"] == "released" and report["strategy"] == "linear" and report["live_color"] != live
    assert [(v["weight"], v["outcome"]) for v in report["verdicts"] if v["outcome"] == "PASS"] == [(50, "PASS"), (100, "PASS")]
    assert sent.versions.get("2", 0) > 0


def test_a_canary_failing_its_own_metric_is_rolled_back_with_the_numbers(sandbox):
    """example/web:10 answers 200 to everything, but 30% of its checkouts fail: only the app's own
    CloudWatch metric (EMF in the task's log) sees it, and the gate on it rolls the canary back."""
    live, code, report, err, _ = release_web(sandbox, "example/web:10", rps=100)
    assert code == 3, err
    assert report["result"] == "rolled_back" and report["rollback_reason"].startswith(("metric_above_limit", "metric_worse_than_baseline"))
    assert live_color(sandbox) == live
    fail = next(v for v in report["verdicts"] if v["outcome"] == "FAIL")
    row = next(r for r in fail["numbers"]["readings"] if r["source"] == "cloudwatch")
    assert row["metric"] == "checkout-errors" and row["outcome"] == "FAIL" and row["canary"] > 5 and row["baseline"] < 5, row
    assert next(r for r in fail["numbers"]["readings"] if r["metric"] == "5xx %")["canary"] == 0
    assert any(r["source"] == "cloudwatch" and r["outcome"] == "FAIL" for r in report["readings"])


def test_canary_with_20_percent_5xx_is_rolled_back_fast(sandbox):
    live, code, report, err, _ = release_web(sandbox, "example/web:3", rps=100)
    assert code == 3, err
    assert report["result"] == "rolled_back"
    assert report["rollback_reason"].startswith(("error_rate_above_limit", "error_rate_above_baseline"))
    fail = next(v for v in report["verdicts"] if v["outcome"] == "FAIL")
    assert fail["weight"] == 10
    shifted = next(e["at"] for e in report["events"] if e["text"].startswith("weights ") and "10" in e["text"])
    # decided on evidence, not on a request quota: 20% errors prove themselves within ~60 canary requests
    # (about 6 s of a 10% share of 100 rps); the clock adds metric delivery and a loaded machine's delays
    assert 0 < fail["canary"]["requests"] <= 100, fail["canary"]
    assert fail["at"] - shifted <= 15, "decided within a few gate windows"
    # the proxy's own log: all traffic on the stable color within 1 s of the FAIL verdict
    restored = [at for at, text in proxy_events(refreshed(sandbox)) if at >= fail["at"] and "=100" in text and "=0" in text]
    assert restored and restored[0] - fail["at"] < 1.0, (fail["at"], restored[:3])
    assert live_color(sandbox) == live


def test_latency_regression_is_rolled_back(sandbox):
    _, code, report, err, _ = release_web(sandbox, "example/web:4", rps=100)
    assert code == 3, err
    assert report["rollback_reason"].startswith(("p99_above", "p50_above")), report["rollback_reason"]


def test_errors_in_bursts_are_rolled_back(sandbox):
    """example/web:11 fails every request for 1 s in each 5 s and none in between: the windows since the
    shift add the bursts up."""
    live, code, report, err, sent = release_web(sandbox, "example/web:11", rps=100)
    assert code == 3, err
    assert report["rollback_reason"].startswith(("error_rate_above_limit", "error_rate_above_baseline")), report["rollback_reason"]
    assert live_color(sandbox) == live
    assert sent.versions.get("11", 0) > 0


def test_a_slow_minority_is_rolled_back_though_the_median_does_not_move(sandbox):
    """example/web:12: 3% of requests take 1.5 s longer; the median stays, the p99 tripwire (500 ms) fails."""
    live, code, report, err, _ = release_web(sandbox, "example/web:12", rps=100)
    assert code == 3, err
    assert report["rollback_reason"].startswith(("p99_above_limit", "p99_above_baseline")), report["rollback_reason"]
    fail = next(v for v in report["verdicts"] if v["outcome"] == "FAIL")
    p50 = next(r for r in fail["numbers"]["readings"] if r["metric"] == "p50 ms")
    assert p50["canary"] is not None and p50["canary"] < p50["baseline"] + 50, p50  # the median did not move
    assert live_color(sandbox) == live


def test_a_canary_that_drops_connections_is_rolled_back_though_it_never_answers_5xx(sandbox):
    """example/web:13 closes 15% of its connections mid-request: the target sends no status, so its
    5xx count stays 0; the ALB answers 502 and counts the request in the group's RequestCount only.
    Requests the target never answered (RequestCount minus TargetResponseTime's SampleCount) are
    errors, and the gate rolls the canary back on them."""
    live, code, report, err, sent = release_web(sandbox, "example/web:13", rps=100)
    assert code == 3, err
    assert report["rollback_reason"].startswith(("error_rate_above_limit", "error_rate_above_baseline")), report["rollback_reason"]
    fail = next(v for v in report["verdicts"] if v["outcome"] == "FAIL")
    assert fail["canary"]["errors"] > 0 and fail["weight"] == 10, fail["canary"]
    assert sent.statuses.get(502, 0) > 0 and not any(500 <= s < 600 and s != 502 for s in sent.statuses), sent.statuses
    assert live_color(sandbox) == live


def test_a_canary_that_gets_no_traffic_is_never_promoted(sandbox):
    """No requests at all (a quiet hour): nothing to judge, so the step holds, then rolls back as
    too_few_requests; neither a PASS nor a FAIL blamed on the canary."""
    live = live_color(sandbox)
    ready(sandbox, "web", live)
    code, report, err = run(sandbox, "release", "web", "--image", "example/web:2", "--poll", "1s", "--bake", "0s")
    assert code == 3, err
    assert report["result"] == "rolled_back" and report["rollback_reason"].startswith("too_few_requests"), report["rollback_reason"]
    assert not any(v["outcome"] in ("PASS", "FAIL") for v in report["verdicts"]), report["verdicts"]
    assert live_color(sandbox) == live


def test_crashing_tasks_are_rolled_back_before_any_traffic(sandbox):
    live, code, report, err, sent = release_web(sandbox, "example/web:5", rps=40)
    assert code == 3, err
    assert report["rollback_reason"].startswith(("deployment_failed", "circuit_breaker")), report["rollback_reason"]
    assert not any(e["text"].startswith("weights ") and "100" not in e["text"] for e in report["events"])
    assert sum(n for s, n in sent.statuses.items() if s >= 500) == 0
    assert live_color(sandbox) == live


def test_tasks_crashing_while_serving_the_canary_are_rolled_back(sandbox):
    live, code, report, err, sent = release_web(sandbox, "example/web:8", rps=100)
    assert code == 3, err
    assert any(re.fullmatch(r"weights .* 10(, .*)?", e["text"]) for e in report["events"]), "the canary took traffic"
    assert report["rollback_reason"].split(":")[0] in (
        "canary_unhealthy", "error_rate_above_limit", "error_rate_above_baseline"), report["rollback_reason"]
    assert live_color(sandbox) == live
    assert sent.versions.get("8", 0) > 0


@pytest.mark.parametrize("service,count,floor", [("roll-half", 4, 2), ("roll-full", 2, 2)])
def test_rolling_never_goes_below_its_healthy_floor(sandbox, service, count, floor):
    ready(sandbox, service, "main", count)
    samples: list[int] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(healthy_targets(sandbox, service, "main"))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with Traffic(sandbox, service, rps=30):
        code, report, err = run(sandbox, "release", service, "--image", "example/worker-web:2", "--poll", "1s")
    stop.set()
    sampler.join(timeout=5)
    assert code == 0, err
    assert len(samples) > 10 and min(samples) >= floor, samples


def test_two_concurrent_releases_one_is_locked(sandbox):
    ready(sandbox, "web", live_color(sandbox))
    results = {}

    def release(image):
        results[image] = run(sandbox, "release", "web", "--image", image, "--poll", "1s")

    with Traffic(sandbox, "web", rps=80):
        threads = [threading.Thread(target=release, args=(image,)) for image in ("example/web:6", "example/web:7")]
        for t in threads:
            t.start()
            time.sleep(0.3)
        for t in threads:
            t.join(timeout=300)
    codes = sorted(code for code, _, _ in results.values())
    assert codes == [0, 6], {k: (c, e[-300:]) for k, (c, _, e) in results.items()}
    locked = next(r for c, r, _ in results.values() if c == 6)
    assert locked["result"] == "locked" and "locked by" in locked["message"]
