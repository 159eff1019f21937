"""The stored plan is the whole decision: `resume` and `rollback` act on it, never on deployer.yaml as it is now."""

from __future__ import annotations

import pytest

from deployer.cli.release_cmds import with_gate_limits
from deployer.errors import Interrupted, RolledBack
from deployer.release import record as states
from deployer.release import service as releases
from deployer.release.executor import Executor, Settings
from deployer.release.memory_journal import MemoryJournal
from deployer.release.plan import plan_from_dict
from deployer.release.strategies import plan_release, request_from_spec
from deployer.release.steps import Bake, Gate, WaitHealthy
from tests.fakes import FakeClock, FakeTarget, RecordingProgress


def make(service, target, clock, journal, stop=lambda: False):
    return Executor(service, target, journal, RecordingProgress(), clock=clock, sleep=clock.sleep,
                    stop_requested=stop, settings=Settings(poll=2.0, lease=30.0))


@pytest.fixture
def web(examples_config):
    return examples_config.services["web"]


def test_resume_keeps_the_limits_given_to_release(web):
    """`release --max-5xx-rate 1`, interrupted at its first gate; `resume` (which has only the spec, 5%) judges by 1%."""
    clock, journal = FakeClock(), MemoryJournal()
    target = FakeTarget.colors_service(clock)
    strict = with_gate_limits(web, 1.0, None)
    first = make(strict, target, clock, journal, stop=lambda: first.record is not None and len(first.record.verdicts) >= 1)
    with pytest.raises(Interrupted):
        releases.release(first, request_from_spec(strict, "example/web:2"), actor="ci")
    before = len(journal.latest("web").verdicts)

    again = make(web, target, clock, journal)  # the spec as it is: max_5xx_rate 5
    with pytest.raises(RolledBack, match=r"not yet shown below 1%"):  # 1% errors never prove themselves below 1%; 5% would pass
        releases.resume(again, actor="ci")
    done = journal.latest("web")
    assert done.state == states.ROLLED_BACK
    after = done.verdicts[before:]
    assert after and {v["numbers"]["max_5xx_rate_pct"] for v in after} == {1.0}
    assert "deployer.yaml changed since release" in " ".join(again.progress.lines)


def test_a_spec_edited_mid_release_does_not_change_it(web):
    clock, journal = FakeClock(), MemoryJournal()
    target = FakeTarget.colors_service(clock)
    first = make(web, target, clock, journal, stop=lambda: first.record is not None and first.record.step_index >= 5)
    with pytest.raises(Interrupted):
        releases.release(first, request_from_spec(web, "example/web:2"), actor="ci")
    edited = web.replace(**{"release": web.release.replace(**{"bake": 3600})})
    resumed = releases.resume(make(edited, target, clock, journal), actor="ci")
    stored = plan_from_dict(resumed.plan)
    assert {s.seconds for s in stored.steps if isinstance(s, Bake)} == {10}  # the plan's bake, not the edit's hour
    assert resumed.finished_at - resumed.started_at < 600


def test_every_step_carries_its_parameters(web):
    plan = plan_release(web, FakeTarget.colors_service(FakeClock()).observe(), request_from_spec(web, "example/web:2"))
    data = plan.to_dict()
    assert data["version"] == 2 and data["spec_digest"]
    gate = next(s for s in plan.steps if isinstance(s, Gate))
    assert (gate.limits.max_5xx_rate, gate.limits.max_p99_ms, gate.limits.period, gate.limits.min_requests) == (5.0, 500.0, 5, 100)
    assert next(s for s in plan.steps if isinstance(s, WaitHealthy)).timeout == 180
    assert plan_from_dict(data) == plan


def test_a_version_1_plan_is_completed_from_the_spec_and_says_so(web):
    """Records written before plans carried their parameters still resume: from the spec, with one line saying so."""
    plan = plan_release(web, FakeTarget.colors_service(FakeClock()).observe(), request_from_spec(web, "example/web:2"))
    old = plan.to_dict()
    old.pop("version"), old.pop("spec_digest")
    for step in old["steps"]:
        for key in ("limits", "timeout", "dns_ttl", "circuit_breaker", "path"):
            step.pop(key, None)
    completed = plan_from_dict(old, web)
    assert completed.steps == plan.steps and completed.spec_digest == ""
