"""Handlers for ECS's own deployments (engine ecs): start one, follow and judge it, roll it back.

ECS moves the tasks and the listener rules' weights; deployer answers the PAUSE hooks at the
judged stages (ContinueServiceDeployment CONTINUE or ROLLBACK) with the same gates as its own
releases: the new revision's target group against the production one. Between hooks, while the
new revision serves (the canary's bake, ECS's bake time), a FAIL stops the deployment with
StopServiceDeployment ROLLBACK. A deployment ECS rolled back by itself (an alarm, the circuit
breaker, a hook's timeout) is reported as what it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.errors import DeployerError, InconsistentState
from deployer.release.failures import HandedOver, StepFailed, Why
from deployer.release.gates import Outcome
from deployer.release.handlers.gates import check_canary_serving, evaluate, gate, poll_line, record_verdict
from deployer.release.handlers.traffic import check_test_listener
from deployer.release.steps import NEW_REVISION, FollowEcsDeployment, Gate, RollBackEcsDeployment, StartEcsDeployment, short

if TYPE_CHECKING:
    from deployer.aws.ecs_deployments import ServiceDeployment
    from deployer.release.executor import Executor

FOUND_AFTER_START = 10  # reads of DescribeServices until ECS names the deployment it started


def start(ex: Executor, step: StartEcsDeployment, index, rollback=False) -> None:
    record = ex.record
    revision = record.to_revision if step.task_definition == NEW_REVISION else step.task_definition
    if record.ecs_deployment:  # resumed after the start was recorded
        return
    if ex.resumed and _adopt_started(ex, index):  # the runner died between UpdateService and recording its answer
        return
    in_flight = ex.target.current_deployment()
    if in_flight and not ex.resumed:
        found = ex.target.deployment(in_flight)
        if not found.finished:
            raise InconsistentState(f"{ex.service.name}: ECS is already running deployment {in_flight} ({found.status}, {found.stage})",
                                    hint=f"wait for it (`deployer status {ex.service.name}`), or stop it: "
                                         f"`aws ecs stop-service-deployment --service-deployment-arn {in_flight} --stop-type ROLLBACK`")
    if ex.service.target_colors != ("main",):
        ex.record.weights = ex.target.weights()  # production as it was: what ECS moves from
    ex.target.start_deployment(revision)
    for _ in range(FOUND_AFTER_START):
        arn = ex.target.current_deployment()
        if arn and arn != in_flight:
            break
        ex.wait(1.0)
    else:
        raise StepFailed(Why.DEPLOYMENT_FAILED, f"ECS named no deployment of {short(revision)} after UpdateService")
    record.ecs_deployment = arn
    ex.expected["main"] = revision
    ex.note(index, f"ECS deployment {arn}")
    ex.save()
    ex.progress.line(f"    ECS deployment {arn.rsplit('/', 1)[-1]} of {short(revision)}")


def _adopt_started(ex: Executor, index) -> bool:
    """The deployment this release started but never recorded: the newest ECS created since the
    release began. Resume follows it and rollback stops it, rather than starting a second one or
    rolling back nothing."""
    arn = ex.target.deployment_created_since(ex.record.started_at)
    if arn is None:
        return False
    ex.record.ecs_deployment = arn
    ex.note(index, f"ECS deployment {arn} (found: started by this release, not recorded before)")
    ex.save()
    return True


def follow(ex: Executor, step: FollowEcsDeployment, index, rollback=False) -> None:
    if step.judge == "lambda" and step.limits is not None:
        hand_over(ex, step, index)
    arn = ex.record.ecs_deployment
    deadline = ex.clock() + step.timeout
    seen_stage, waiting_for_others = None, set()
    while True:
        deployment = ex.target.deployment(arn)
        if deployment.stage != seen_stage:
            seen_stage = deployment.stage
            ex.note(index, f"ECS stage {deployment.stage} ({deployment.status})")
            ex.progress.line(f"    ECS: {deployment.stage or deployment.status}")
        _track_weights(ex, step, index)
        if deployment.status == "SUCCESSFUL":
            ex.progress.line("    ECS: deployment successful")
            return
        if deployment.finished or deployment.status.startswith("ROLLBACK") or deployment.status == "STOP_REQUESTED":
            raise ended_without_us(deployment)
        hook = deployment.awaiting()
        if hook is not None and deployment.stage in step.judge_at:
            _judge_hook(ex, step, index, deployment, hook.hook_id)
            continue
        if hook is not None and hook.hook_id not in waiting_for_others:
            waiting_for_others.add(hook.hook_id)
            ex.progress.line(f"    ECS waits at {deployment.stage} for a PAUSE hook deployer does not judge "
                             f"(`aws ecs continue-service-deployment --hook-id {hook.hook_id}`)")
        _judge_while_serving(ex, step, index, arn)
        if ex.clock() >= deadline:
            ex.target.stop_deployment(arn)
            raise StepFailed(Why.TIMEOUT, f"ECS's deployment was not done after {step.timeout}s (at {deployment.stage})")
        ex.wait(ex.settings.poll)


def hand_over(ex: Executor, step: FollowEcsDeployment, index) -> None:
    """`judge: lambda`: ECS calls the judge function at the judged stages (AWS_LAMBDA hooks), so the
    runner's part ends once ECS has the deployment; `deployer wait` (or the release's own wait)
    follows the record and ECS's deployment from anywhere."""
    if ex.service.target_colors != ("main",):
        ex.record.weights = ex.target.weights()
    ex.record.judge = "lambda"
    ex.note(index, f"handed to the judge function: ECS calls it at {', '.join(step.judge_at) or 'no stage'}")
    raise HandedOver()


def _track_weights(ex: Executor, step: FollowEcsDeployment, index) -> None:
    """ECS moved the production rule's weights: gate windows start again from there."""
    if step.canary == step.baseline:
        return
    weights = ex.target.weights()
    if weights != (ex.record.weights or {}):
        ex.record.weights = weights
        ex.shifted_at = ex.clock()
        ex.record.shifted_at = ex.shifted_at
        ex.note(index, "ECS set weights " + ", ".join(f"{c} {w}" for c, w in weights.items()))
        ex.progress.line("    ECS moved production traffic: " + ", ".join(f"{c} {w}%" for c, w in weights.items()))
        ex.save()


def _judge_hook(ex: Executor, step: FollowEcsDeployment, index, deployment: ServiceDeployment, hook_id: str) -> None:
    """Decide at a judged stage, then answer ECS; ROLLBACK also ends the step as failed."""
    stage = deployment.stage
    weight = (ex.record.weights or {}).get(step.canary, 0)
    try:
        if step.limits is None:
            pass  # a rollback's deployment: the previous revision is not judged on the way back
        elif stage == "POST_TEST_TRAFFIC_SHIFT":
            check_test_listener(ex, step.probe_requests, step.probe_path)
        elif stage == "PRE_PRODUCTION_TRAFFIC_SHIFT" and weight == 0:
            ex.progress.line(f"    {stage}: the new revision has no production traffic yet; nothing to judge")
        else:
            baseline = step.baseline if (ex.record.weights or {}).get(step.baseline, 0) > 0 else None
            gate(ex, Gate(step.canary, baseline, weight, step.limits), index)  # windows until PASS or FAIL, as deployer's own
    except StepFailed:
        _answer(ex, deployment.arn, hook_id, "ROLLBACK", stage, index)
        raise
    _answer(ex, deployment.arn, hook_id, "CONTINUE", stage, index)


def _answer(ex: Executor, arn: str, hook_id: str, action: str, stage: str, index) -> None:
    try:
        ex.target.answer_hook(arn, hook_id, action)
    except DeployerError as error:
        # a lost first answer makes the second one refused: read back what ECS did
        hook = next((h for h in ex.target.deployment(arn).hooks if h.hook_id == hook_id), None)
        if hook is None or hook.status == "AWAITING_ACTION":
            raise
        ex.note(index, f"{action} at {stage}: ECS already has it ({hook.status}; {error.message})")
        return
    if action == "ROLLBACK" and ex.fail_at is not None:
        ex.note(index, f"ROLLBACK answered at {stage} {ex.clock() - ex.fail_at:.2f}s after the FAIL verdict")
    else:
        ex.note(index, f"{action} answered at {stage}")
    ex.progress.line(f"    {stage}: {action}")


def _judge_while_serving(ex: Executor, step: FollowEcsDeployment, index, arn: str) -> None:
    """Between hooks the new revision may serve (a canary's bake, ECS's bake time): a FAIL there
    stops ECS's deployment at once, with its rollback, rather than waiting for the next hook."""
    weights = ex.record.weights or {}
    if step.limits is None or step.canary == step.baseline or weights.get(step.canary, 0) == 0:
        return
    healthy = check_canary_serving(ex, step.canary) if weights.get(step.canary, 0) < 100 else None
    baseline = step.baseline if weights.get(step.baseline, 0) > 0 else None
    verdict = evaluate(ex, step.canary, baseline, step.limits)
    ex.progress.line(poll_line(ex, step.canary, healthy, verdict, step.limits))
    if verdict.outcome == Outcome.FAIL:
        record_verdict(ex, index, weights.get(step.canary, 0), verdict)
        ex.target.stop_deployment(arn)
        ex.note(index, f"StopServiceDeployment ROLLBACK {ex.clock() - ex.fail_at:.2f}s after the FAIL verdict")
        raise StepFailed(verdict.reason, verdict.detail)


def ended_without_us(deployment: ServiceDeployment) -> Exception:
    """ECS ended its deployment itself: say why, in its words (an alarm, the breaker, a hook's timeout)."""
    if deployment.status == "ROLLBACK_FAILED":
        return InconsistentState(f"ECS could not roll its deployment back: {deployment.status_reason or 'no reason given'}",
                                 hint="check the service in the ECS console; traffic may need a manual fix")
    if deployment.triggered_alarms:
        return StepFailed(Why.ECS_ALARM, f"ECS rolled back: alarm {', '.join(deployment.triggered_alarms)} in ALARM")
    if deployment.circuit_breaker == "TRIGGERED":
        return StepFailed(Why.CIRCUIT_BREAKER, f"ECS rolled back: the circuit breaker tripped ({deployment.status_reason})")
    if any(h.status == "TIMED_OUT" for h in deployment.hooks):
        return StepFailed(Why.TIMEOUT, f"ECS rolled back: a PAUSE hook timed out ({deployment.status_reason})")
    reason = deployment.rollback_reason or deployment.status_reason or deployment.status
    return StepFailed(Why.DEPLOYMENT_FAILED, f"ECS ended its deployment ({deployment.status}): {reason}")


def roll_back(ex: Executor, step: RollBackEcsDeployment, index, rollback=True) -> None:
    """ECS's own rollback, followed until the old revision has all the production traffic. A
    deployment that succeeded meanwhile (the runner was gone through its bake) is undone by ECS
    deploying the previous revision, its hooks continued unjudged."""
    if not ex.record.ecs_deployment and not _adopt_started(ex, None):
        return  # ECS never started one
    arn = ex.record.ecs_deployment
    deadline = ex.clock() + step.timeout
    asked = False
    restored = ex.service.target_colors == ("main",)  # one target group: no weights to wait for
    while True:
        deployment = ex.target.deployment(arn)
        if not restored:
            restored = _restored(ex)
        if deployment.status == "ROLLBACK_SUCCESSFUL":
            ex.note(None, "ECS rolled back (ROLLBACK_SUCCESSFUL)")
            return
        if deployment.status == "STOPPED":
            if not restored:  # stopped where it was: another deployment superseded it, or it was aborted
                raise InconsistentState(f"ECS stopped its deployment {arn} where it was ({deployment.status_reason or 'no reason given'}); "
                                        f"production is not back on {ex.plan.live}",
                                        hint=f"`deployer status {ex.service.name}` shows what ECS runs now")
            ex.note(None, "ECS stopped its deployment; production is back")
            return
        if deployment.status == "ROLLBACK_FAILED":
            raise InconsistentState(f"ECS could not roll back: {deployment.status_reason or 'no reason given'}")
        if deployment.status == "SUCCESSFUL":
            _redeploy_previous(ex, step)
            return
        if deployment.status in ("PENDING", "IN_PROGRESS") and not asked:
            asked = True
            try:
                ex.target.stop_deployment(arn)
            except DeployerError as error:  # e.g. a stop already under way (a lost first answer): read back
                ex.note(None, f"StopServiceDeployment: {error.message}")
        if ex.clock() >= deadline:
            raise InconsistentState(f"ECS's rollback of {arn} was not done after {step.timeout}s ({deployment.status})")
        ex.sleep(min(0.2 if not restored else 1.0, ex.settings.poll))


def _redeploy_previous(ex: Executor, step: RollBackEcsDeployment) -> None:
    previous = ex.record.from_revision
    ex.note(None, f"ECS's deployment had succeeded; ECS deploys the previous revision {short(previous)}")
    started = ex.clock()
    ex.target.start_deployment(previous)
    for _ in range(FOUND_AFTER_START):
        arn = ex.target.deployment_created_since(started)
        if arn:
            break
        ex.sleep(1.0)
    else:
        raise InconsistentState(f"ECS named no deployment of {short(previous)} after UpdateService")
    ex.record.ecs_deployment = arn
    follow_step = next((s for s in ex.plan.steps if isinstance(s, FollowEcsDeployment)), None)
    stages = follow_step.judge_at if follow_step else ()
    back = FollowEcsDeployment(ex.plan.live, ex.plan.target, stages, None, 0, "/", step.timeout)
    follow(ex, back, None)


def _restored(ex: Executor) -> bool:
    """Production back on the target group that served before the release: noted as deployer's own
    shifts are, so the report times the restore from the FAIL verdict the same way."""
    weights = ex.target.weights()
    if weights.get(ex.plan.live, 0) != 100:
        return False
    ex.record.weights = weights
    ex.note(None, "weights " + ", ".join(f"{c} {w}" for c, w in weights.items()))
    if ex.fail_at is not None:
        ex.note(None, f"traffic restored {ex.clock() - ex.fail_at:.2f}s after the FAIL verdict")
    return True
