"""The gate judges the new version (issue 15, defect 1), with real processes and real traffic.

`warm` keeps its previous color warm after a release, so the next release deploys to a color
whose old tasks are still healthy. Traffic may reach that color only once every healthy target
there runs the new revision: the example app names its version in every answer, so the traffic
itself says which version served the canary.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Traffic, run, wait_until

pytestmark = pytest.mark.e2e

SERVICE = "warm"


@pytest.fixture(scope="module", autouse=True)
def provisioned(sandbox):
    code, _, err = run(sandbox, "provision", SERVICE)
    assert code == 0, err


def status(box) -> dict:
    code, data, err = run(box, "status", SERVICE)
    assert code == 0, err
    return data


def live_and_idle(box) -> tuple[str, str]:
    colors = status(box)["colors"]
    live = max(colors, key=lambda c: colors[c]["weight"] or 0)
    return live, "green" if live == "blue" else "blue"


def release(box, image: str, rps: float = 60):
    live, idle = live_and_idle(box)
    assert wait_until(lambda: (status(box)["colors"][live]["healthy"] or 0) >= 1, timeout=60)
    with Traffic(box, SERVICE, rps=rps) as traffic:
        code, report, err = run(box, "release", SERVICE, "--image", image, "--poll", "1s")
    shifts = [e["text"] for e in report.get("events", []) if e["text"].startswith("weights ")] if isinstance(report, dict) else []
    return live, idle, code, report, err, traffic.result, shifts


def make_idle_warm(box, image: str) -> None:
    """A good release: the color that served until now stays warm (keep_previous) as the idle one."""
    _, idle, code, report, err, _, _ = release(box, image)
    assert code == 0, err
    colors = status(box)["colors"]
    assert colors[idle]["weight"] == 100
    previous = "green" if idle == "blue" else "blue"
    assert colors[previous]["desired"] >= 1 and (colors[previous]["healthy"] or 0) >= 1, colors


def test_warm_idle_color_with_failing_health_is_rolled_back_before_any_traffic(sandbox):
    make_idle_warm(sandbox, "example/web:2")
    live, idle, code, report, err, sent, shifts = release(sandbox, "example/worker-web:3")  # /health answers 503
    assert code == 3, err
    # ECS replaces tasks that fail their health checks; the circuit breaker may put the old revision back first
    reason = report["rollback_reason"]
    assert reason.startswith(("not_healthy", "circuit_breaker")), reason
    assert "other revisions still serving" in reason or "back in place of" in reason, reason
    assert shifts and all(f"{idle} 0" in s for s in shifts), shifts  # the idle color never got a share of traffic
    assert sent.versions_seen() == {"2"}, sent.line()  # every answer came from the live version
    assert status(sandbox)["colors"][live]["weight"] == 100


def test_warm_idle_color_bad_canary_is_judged_on_its_own_answers(sandbox):
    make_idle_warm(sandbox, "example/web:6")
    live, idle, code, report, err, sent, _ = release(sandbox, "example/web:3", rps=100)  # 20% of answers are 500
    assert code == 3, err
    assert report["rollback_reason"].startswith(("error_rate_above_limit", "error_rate_above_baseline")), report["rollback_reason"]
    # the old revision warm on the idle color (v2) drained before the canary took traffic
    assert sent.versions_seen() <= {"6", "3"}, sent.line()
    assert sent.count("3") > 0 and sent.count("2") == 0, sent.line()
    fail = next(v for v in report["verdicts"] if v["outcome"] == "FAIL")
    assert fail["canary"]["errors"] > 0
    assert status(sandbox)["colors"][live]["weight"] == 100
