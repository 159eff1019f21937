"""Handlers for the steps that judge the canary: bake (failing fast) and gate, over windows since traffic moved."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

from deployer.errors import DeployerError
from deployer.release.failures import StepFailed
from deployer.release.gates import Outcome, Reason, Verdict
from deployer.release.metric_verdict import combine
from deployer.release.record import iso
from deployer.release.sources import Window, extra_sources
from deployer.release.sources.alb import AlbSource
from deployer.release.steps import Bake, Gate, GateLimits
from deployer.reporting import lines

if TYPE_CHECKING:
    from deployer.release.executor import Executor


def evaluate(ex: Executor, canary: str, baseline: str | None, limits: GateLimits) -> Verdict:
    """One gate evaluation over the closed periods since traffic last moved: the ALB's numbers,
    then every other source's over the same window, combined into one verdict with its rows."""
    period = limits.period
    start = math.floor(ex.shifted_at / period) * period if ex.shifted_at else ex.clock() - period
    end = math.floor((ex.clock() - ex.settings.metrics_delay) / period) * period
    closed = end > start  # else the first period is still filling: read it as it is
    if not closed:
        end = start + period
    if baseline and not (ex.latency_reference and ex.latency_reference[0] == canary):
        ex.latency_reference = (canary, reference_before(ex, baseline, start, limits))
    reference = ex.latency_reference[1] if ex.latency_reference and ex.latency_reference[0] == canary else None
    key = (canary, baseline, start, end, limits, reference)
    if closed and ex.last_gate and ex.last_gate[0] == key:
        return ex.last_gate[1]  # the same closed periods: a second read would only repeat the answer
    window = Window(canary, baseline, start, end, period, reference, limits.thresholds().latency_ms(reference) if reference else None)
    alb = AlbSource()
    readout = alb.read(ex.target, window, tuple(limits.metrics))
    traffic = readout.traffic
    held = traffic.get(baseline) if baseline else None
    if reference is None and closed and held and held.p99_ms is not None and held.requests >= limits.min_requests:
        # no traffic before the shift to take it from: the baseline's p99 over this closed window,
        # and from the next read on the canary's requests are counted against it
        ex.latency_reference = (canary, held.p99_ms)
    first = alb.verdict(traffic, window, limits)
    readings = alb.readings(first, limits)
    for source in extra_sources(limits):
        readings += source.judge(source.read(ex.target, window, readout), traffic, window, limits)
    result = combine(first, readings)
    seen = ex.looks[1] if ex.looks[0] == (canary, start) else 0
    ex.looks = ((canary, start), seen + 1)
    result.numbers["window"] = [iso(start), iso(end)]
    result.numbers["looks"] = seen + 1  # reads of this window so far: the tests hold however many
    ex.last_gate = (key, result) if closed else None
    return result


REFERENCE_PERIODS = 3  # the baseline's p99 before the shift is read over this many gate periods


def reference_before(ex: Executor, baseline: str, start: float, limits: GateLimits) -> float | None:
    """The baseline's p99 over the periods just before traffic moved, as one period (so one p99 of
    all those requests): the latency reference, fixed before the canary served anything, so the
    counts against it are plain binomial counts. One GetMetricData call per release; None when
    the baseline served too little then (the first closed window during the step is used instead)."""
    span = REFERENCE_PERIODS * limits.period
    try:
        before = ex.target.read_window([baseline], start - span, start, span).traffic.get(baseline)
    except DeployerError:
        return None
    if before is None or before.p99_ms is None or before.requests < limits.min_requests:
        return None
    return before.p99_ms


def record_verdict(ex: Executor, step_index: int | None, weight: int, v: Verdict) -> None:
    data = {"step": step_index, "weight": weight, "at": round(ex.clock(), 3), **v.to_dict()}
    ex.record.verdicts.append(data)
    ex.progress.verdict(f"{weight}%", data)
    if v.outcome == Outcome.FAIL:
        ex.fail_at = ex.clock()


def poll_line(ex: Executor, canary: str, healthy: int | None, v: Verdict | None, limits: GateLimits) -> str:
    return lines.poll_line(ex.record.weights or {}, canary, healthy, v, limits)


def check_canary_serving(ex: Executor, canary: str) -> int | None:
    """A canary that takes traffic with no healthy target left (its tasks died) fails at once:
    its requests go to no target, so they never reach the target group's metrics. Returns the
    healthy count for the progress line (one DescribeTargetHealth per poll, not two)."""
    weight = (ex.record.weights or {}).get(canary, 0)
    try:
        healthy = ex.target.healthy(canary)
    except DeployerError:
        if weight > 0:
            raise
        return None  # the progress line shows "?"; a canary with no traffic has nothing to fail
    if weight > 0 and healthy == 0:
        raise StepFailed(Reason.CANARY_UNHEALTHY, f"{canary} has no healthy targets left while serving {weight}% of the traffic")
    return healthy


def bake(ex: Executor, step: Bake, index, rollback=False) -> None:
    canary = ex.plan.target
    baseline = ex.plan.live
    end = (ex.record.step_started_at or ex.clock()) + step.seconds  # a run taken over mid-bake bakes the rest
    while ex.clock() < end:
        ex.wait(min(ex.settings.poll, end - ex.clock()))
        healthy = check_canary_serving(ex, canary)
        if step.limits is None:
            continue
        weights = ex.record.weights or {}
        base = baseline if weights.get(baseline, 0) > 0 else None
        v = evaluate(ex, canary, base, step.limits)
        ex.progress.line(poll_line(ex, canary, healthy, v, step.limits))
        if v.outcome == Outcome.FAIL:  # fail fast; PASS or INCONCLUSIVE keep baking
            record_verdict(ex, index, weights.get(canary, 0), v)
            raise StepFailed(v.reason, v.detail)


def gate(ex: Executor, step: Gate, index, rollback=False) -> None:
    # a run that took the step over (the guard's next slice) counts the windows already read since it began
    began = ex.record.step_started_at
    inconclusive = sum(1 for v in ex.record.verdicts if began is not None and v["step"] == index and v["at"] >= began
                       and v["outcome"] != Outcome.PASS) if began is not None and ex.resumed else 0
    while judge_once(ex, step, index, inconclusive).outcome != Outcome.PASS:
        inconclusive += 1
        ex.save()
        ex.wait(step.limits.period)


def judge_once(ex: Executor, step: Gate, index, inconclusive: int) -> Verdict:
    """One read of a gate, recorded: PASS or INCONCLUSIVE is returned; FAIL, or one INCONCLUSIVE more
    than the limits allow after `inconclusive` of them, raises StepFailed. The runner's gate loops on
    it; the judge function makes one read per call of ECS's hook."""
    limits = step.limits
    healthy = check_canary_serving(ex, step.canary)
    v = evaluate(ex, step.canary, step.baseline, limits)
    record_verdict(ex, index, step.weight, v)
    ex.progress.line(poll_line(ex, step.canary, healthy, v, limits))
    if v.outcome == Outcome.FAIL:
        raise StepFailed(v.reason, v.detail)
    if v.outcome != Outcome.PASS and inconclusive + 1 > limits.max_inconclusive:
        # named for what kept it open: too few requests, or a latency it could not yet confirm
        raise StepFailed(v.reason, f"still inconclusive after {inconclusive + 1} windows: {v.detail}")
    return v
