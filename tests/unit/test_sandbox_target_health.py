"""The sandbox's one view of target health: written by the checker and the ECS controller, read by
the proxies and DescribeTargetHealth."""

from __future__ import annotations

import threading

import pytest

from deployer.sandbox.target_health import TargetHealth
from tests.conftest import ROOT


def test_a_target_not_yet_checked_is_initial_then_follows_what_was_set():
    health = TargetHealth()
    assert health.describe("tg", "10.0.0.1") == ("initial", "Elb.RegistrationInProgress")
    assert not health.is_healthy("tg", "10.0.0.1")
    health.set("tg", "10.0.0.1", "healthy")
    assert health.is_healthy("tg", "10.0.0.1") and health.state("tg", "10.0.0.1") == "healthy"
    assert not health.is_healthy("other-tg", "10.0.0.1")  # per target group, as on an ALB
    health.set("tg", "10.0.0.1", "draining", "Target.DeregistrationInProgress")
    assert health.describe("tg", "10.0.0.1") == ("draining", "Target.DeregistrationInProgress")
    health.forget("tg", "10.0.0.1")
    assert health.state("tg", "10.0.0.1") == "initial"


def test_threads_writing_and_reading_see_whole_entries():
    health = TargetHealth()
    seen = set()

    def write(state):
        for i in range(2000):
            health.set("tg", str(i % 10), state, state.upper())

    def read():
        for i in range(4000):
            seen.add(health.describe("tg", str(i % 10)))

    threads = [threading.Thread(target=write, args=(s,)) for s in ("healthy", "unhealthy")] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen <= {("healthy", "HEALTHY"), ("unhealthy", "UNHEALTHY"), ("initial", "Elb.RegistrationInProgress")}


def test_moto_reports_one_target_health_per_process():
    from deployer.sandbox import moto_ext
    from tests.fakes import SANDBOX_HEALTH

    moto_ext.install(SANDBOX_HEALTH)
    moto_ext.install(SANDBOX_HEALTH)  # idempotent with the same one
    with pytest.raises(RuntimeError, match="another TargetHealth"):
        moto_ext.install(TargetHealth())


def test_no_module_holds_target_health_state():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "deployer/sandbox").rglob("*.py") if "TARGET_HEALTH" in p.read_text()]
    assert offenders == []
