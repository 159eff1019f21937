"""Handlers for the steps that move or check traffic: the test listener, the pre-traffic check, weight shifts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.errors import InconsistentState
from deployer.release.failures import StepFailed, Why
from deployer.release.steps import PointTestListener, PreTrafficCheck, ShiftTraffic, short
from deployer.release.handlers.health import expected_revision

if TYPE_CHECKING:
    from deployer.release.executor import Executor


def point_test_listener(ex: Executor, step: PointTestListener, index, rollback=False) -> None:
    ex.heartbeat_if_due()  # a runner whose lease was taken over (a call that hung) changes nothing
    ex.target.point_test_listener(step.color)


def pre_traffic_check(ex: Executor, step: PreTrafficCheck, index, rollback=False) -> None:
    check_test_listener(ex, step.requests, step.path)


def check_test_listener(ex: Executor, requests: int, path: str) -> None:
    """`requests` GETs of `path` through the test listener (the new version only); any failure fails."""
    url = ex.target.test_listener_url() + path
    failures = []
    for _ in range(requests):
        ex.heartbeat_if_due()
        failure = ex.probe(url)
        if failure is not None:
            failures.append(failure)
    if failures:
        ex.fail_at = ex.clock()
        raise StepFailed(Why.PRE_TRAFFIC_CHECK_FAILED, f"{len(failures)}/{requests} checks of {url} failed ({', '.join(sorted(set(failures)))})")
    ex.progress.line(f"    {requests}/{requests} checks of {url} passed")


def require_only_release(ex: Executor, color: str) -> None:
    """Traffic goes to the release's color only while every healthy target there runs its revision."""
    expected = expected_revision(ex, color)
    serving = ex.target.serving_revisions(color)
    stale = {revision: n for revision, n in serving.items() if revision != expected and n}
    if not serving.get(expected):
        raise StepFailed(Why.NO_HEALTHY_TARGETS, f"{color} has no healthy targets of {short(expected)}; traffic not shifted")
    if stale:
        shown = ", ".join(f"{n} of {short(r) if r else 'unknown tasks'}" for r, n in stale.items())
        raise StepFailed(Why.OTHER_REVISION_SERVING, f"{color} has healthy targets of other revisions ({shown}); traffic not shifted")


def shift(ex: Executor, step: ShiftTraffic, index, rollback=False) -> None:
    weights = step.as_dict()
    for color, weight in weights.items():
        if weight > 0 and color == ex.plan.target and not rollback:
            require_only_release(ex, color)
        elif weight > 0 and ex.target.healthy(color) == 0:
            if rollback:
                raise InconsistentState(f"{color} has no healthy targets; traffic cannot go back to it")
            raise StepFailed(Why.NO_HEALTHY_TARGETS, f"{color} has no healthy targets; traffic not shifted")
    ex.heartbeat_if_due()  # a runner whose lease was taken over (a call that hung) changes nothing
    seen = ex.target.set_weights(weights)
    ex.shifted_at = ex.clock()
    ex.record.weights = seen
    ex.record.shifted_at = ex.shifted_at
    ex.note(index, "weights " + ", ".join(f"{c} {w}" for c, w in seen.items()))
    if rollback and ex.fail_at is not None:
        ex.note(index, f"traffic restored {ex.shifted_at - ex.fail_at:.2f}s after the FAIL verdict")
    if step.dns_ttl is not None:
        ex.progress.line(f"    DNS weights set; clients may keep the old answer up to {step.dns_ttl}s (TTL)")
