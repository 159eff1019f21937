"""ECS-native service deployments (blue/green, linear, canary) as a stage machine. Pure.

State, what the scheduler saw and the clock go in; an `Intent` comes out: the production and
test weights of the new revision, and which revisions' tasks run. The scheduler
(deployer.sandbox.native_scheduler) makes the world match it; nothing here touches moto.

Stage order, as ECS documents it (ServiceDeployment.lifecycleStage,
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html and
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHook.html):
RECONCILE_SERVICE (only when more than one revision is active), PRE_SCALE_UP, SCALE_UP (the new
revision at the desired count, healthy in the alternate target group), POST_SCALE_UP,
TEST_TRAFFIC_SHIFT (test rule 100 % to the new revision), POST_TEST_TRAFFIC_SHIFT, then per
production step PRE_PRODUCTION_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT ("for linear and canary
deployments, this stage is invoked before every traffic shift step", API_DeploymentLifecycleHook;
the step's bake is spent in PRODUCTION_TRAFFIC_SHIFT), POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME
(both revisions run), CLEAN_UP (the old revision scaled in and drained), SUCCESSFUL. Every stage
lasts at least one call, and each traffic shift at least SHIFT_MINUTES, so a client polling every
second or two sees it. A service's first deployment only scales up.
A PAUSE hook holds its stage with a hook AWAITING_ACTION until ContinueServiceDeployment or its
timeout (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/pause-lifecycle-hooks.html).
An AWS_LAMBDA hook holds it IN_PROGRESS while its function answers IN_PROGRESS, until SUCCEEDED,
FAILED (roll back), an answer that is no valid hookStatus or a function error (roll back), or its
timeout (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html;
payload and answers: deployer.sandbox.lambda_hooks). The machine only says which invocation is due
(`Intent.calls`) and reads what came back (`Seen.answers`); the scheduler invokes. During a
rollback AWS also runs the hooks configured at TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT;
deployer configures none there, and here no hook runs during a rollback.

Time: `now` in seconds; `minute` is how many seconds one ECS minute lasts (the sandbox's time
scale), applied to every minute-valued setting: bake times and hook timeouts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

from deployer.sandbox import lambda_hooks
from deployer.sandbox.lambda_hooks import HookAnswer, HookCall
from deployer.sandbox.native_settings import Settings, settings

MINUTE_ENV, DEFAULT_MINUTE = "DEPLOYER_SANDBOX_MINUTE", 5.0  # seconds one ECS minute lasts in the sandbox

PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED = "PENDING", "IN_PROGRESS", "SUCCESSFUL", "STOPPED"
ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL = "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"
ACTIVE = (PENDING, IN_PROGRESS, "STOP_REQUESTED", ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS)
AWAITING, SUCCEEDED, FAILED, TIMED_OUT = "AWAITING_ACTION", "SUCCEEDED", "FAILED", "TIMED_OUT"  # a hook's, and IN_PROGRESS
HOLDING = (AWAITING, IN_PROGRESS)  # a hook in either holds its stage

# A traffic shift (TEST_TRAFFIC_SHIFT, each PRODUCTION_TRAFFIC_SHIFT) lasts at least this long: ECS
# moves on once the load balancer applies the new weights, which AWS documents only for NLBs (a
# 10-minute wait, nlb-resources-for-blue-green.html); one minute is the sandbox's stand-in for an ALB.
SHIFT_MINUTES = 1.0

# AWS (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html): the
# alarms are watched while the new revision runs, from its scale-up to the end of the bake time.
MONITORED_FROM, MONITORED_UNTIL = "SCALE_UP", "BAKE_TIME"


def time_scale(environ: dict) -> float:
    """Seconds one ECS minute lasts: DEPLOYER_SANDBOX_MINUTE, a positive number (default 5)."""
    text = environ.get(MINUTE_ENV) or ""
    try:
        seconds = float(text) if text else DEFAULT_MINUTE
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ValueError(f"{MINUTE_ENV} must be a positive number of seconds, not {text!r}")
    return seconds


class Refused(Exception):
    """A request the deployment's state does not allow; `code` is the ECS error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Phase:
    stage: str
    step: int | None = None  # the production step (index into Settings.steps)


@dataclass
class HookRun:
    hook_id: str
    target_type: str
    stage: str
    status: str
    expires_at: float
    timeout_action: str
    target_arn: str | None = None  # AWS_LAMBDA: the function
    details: object = None  # AWS_LAMBDA: the hookDetails its next invocation gets
    due_at: float | None = None  # AWS_LAMBDA: when it is invoked next; None while an invocation runs, or once done
    invocations: int = 0


@dataclass(frozen=True)
class Rollback:
    reason: str
    started_at: float
    revision_arn: str | None


@dataclass(frozen=True)
class Seen:
    """What the scheduler saw this tick."""

    desired: int = 0
    target_healthy: int = 0  # the new revision's tasks healthy in its target group
    target_left: int = 0  # the new revision's tasks running or draining
    sources_left: int = 0  # the production source revision's tasks running or draining
    stale_left: int = 0  # the other source revisions' tasks running or draining
    alarms: tuple[str, ...] = ()  # the deployment's alarms now in ALARM
    answers: tuple[HookAnswer, ...] = ()  # what the Lambda hooks' invocations answered since the last tick


@dataclass(frozen=True)
class Intent:
    production_weight: float | None  # % of production traffic on the new revision; None: leave the rules alone
    test_weight: float | None
    target_tasks: bool
    source_tasks: bool  # the production source revision
    stale_tasks: bool  # every other source revision
    events: tuple[str, ...] = ()
    calls: tuple[HookCall, ...] = ()  # Lambda hook invocations to start now


@dataclass
class Deployment:
    arn: str
    service_arn: str
    cluster_arn: str
    config: dict  # the deploymentConfiguration it runs with, as DescribeServiceDeployments shows it
    target_revision: str
    source_revisions: tuple[str, ...]  # the one serving production first
    created_at: float
    initial: bool = False  # the service's first deployment: nothing to shift from
    status: str = PENDING
    status_reason: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    stopped_at: float | None = None
    updated_at: float = 0.0
    phase: int = -1  # index into `program`; -1 before it starts
    entered: float = 0.0  # when the current phase began
    production_weight: float = 0.0
    test_weight: float = 0.0
    target_running: bool = False
    source_running: bool = True
    stale_running: bool = True
    hooks: list[HookRun] = field(default_factory=list)  # every hook run, as lifecycleHookDetails lists them
    waiting: list[HookRun] = field(default_factory=list)  # the current phase's
    rollback: Rollback | None = None
    triggered_alarms: tuple[str, ...] = ()
    counts: dict = field(default_factory=dict)  # revision ARN -> (requested, running, pending), kept by the scheduler

    @cached_property
    def settings(self) -> Settings:
        return settings(self.config)

    @cached_property
    def program(self) -> tuple[Phase, ...]:
        return program(self.settings, reconcile=len(self.source_revisions) > 1, initial=self.initial)

    @property
    def stage(self) -> str | None:
        return self.program[self.phase].stage if self.phase >= 0 else None


def program(config: Settings, reconcile: bool, initial: bool) -> tuple[Phase, ...]:
    if initial:
        return (Phase("SCALE_UP"),)
    phases = [Phase("RECONCILE_SERVICE")] if reconcile else []
    phases += [Phase(s) for s in ("PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT")]
    for i in range(len(config.steps)):
        phases += [Phase("PRE_PRODUCTION_TRAFFIC_SHIFT", i), Phase("PRODUCTION_TRAFFIC_SHIFT", i)]
    phases += [Phase(s) for s in ("POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP")]
    return tuple(phases)


def advance(d: Deployment, seen: Seen, now: float, minute: float) -> Intent:
    """Move `d` as far as `seen` and the clock allow (at most one stage), and say what should be."""
    events: list[str] = []
    if d.status == PENDING:
        _start(d, now, minute, events)
    elif d.status == IN_PROGRESS:
        _progress(d, seen, now, minute, events)
    elif d.status == ROLLBACK_REQUESTED:
        _roll_back(d, now, d.rollback.reason if d.rollback else "Rollback requested", events)
    elif d.status == ROLLBACK_IN_PROGRESS and seen.target_left == 0:
        d.status, d.finished_at = ROLLBACK_SUCCESSFUL, now
        events.append(f"rolled back to {d.rollback.revision_arn if d.rollback else 'the previous revision'}")
    d.updated_at = now
    return intent(d, events, _due(d, now))


def intent(d: Deployment, events: list[str] | tuple = (), calls: tuple[HookCall, ...] = ()) -> Intent:
    return Intent(None if d.initial else d.production_weight, None if d.initial else d.test_weight,
                  d.target_running, d.source_running, d.stale_running, tuple(events), calls)


def monitoring(d: Deployment) -> bool:
    """Whether the deployment alarms are watched now (the scheduler evaluates them only then)."""
    alarms = d.settings.alarms
    if d.status != IN_PROGRESS or d.initial or not (alarms.enable and alarms.names) or d.phase < 0:
        return False
    stages = [p.stage for p in d.program]
    return stages.index(MONITORED_FROM) <= d.phase <= stages.index(MONITORED_UNTIL)


def alarms_status(d: Deployment) -> str:
    """ServiceDeploymentAlarms.status: TRIGGERED | MONITORING | MONITORING_COMPLETE | DISABLED."""
    if not (d.settings.alarms.enable and d.settings.alarms.names) or d.initial:
        return "DISABLED"
    if d.triggered_alarms:
        return "TRIGGERED"
    return "MONITORING" if d.status in ACTIVE else "MONITORING_COMPLETE"


# ------------------------------------------------------------ requests (ContinueServiceDeployment, StopServiceDeployment)
def continue_hook(d: Deployment, hook_id: str, action: str, now: float) -> None:
    """https://docs.aws.amazon.com/AmazonECS/latest/developerguide/continue-service-deployment.html: the hook
    must be AWAITING_ACTION and the deployment IN_PROGRESS. Which error ECS raises is not documented:
    ClientException for the deployment's state, InvalidParameterException for the hook."""
    if d.status != IN_PROGRESS:
        raise Refused("ClientException", f"The service deployment {d.arn} is {d.status}, not IN_PROGRESS.")
    hook = next((h for h in d.hooks if h.hook_id == hook_id), None)
    if hook is None:
        raise Refused("InvalidParameterException", f"The lifecycle hook {hook_id} was not found in service deployment {d.arn}.")
    if hook.status != AWAITING:
        raise Refused("InvalidParameterException", f"The lifecycle hook {hook_id} is {hook.status}, not AWAITING_ACTION.")
    if action == "ROLLBACK":
        hook.status = FAILED
        _request_rollback(d, now, f"ContinueServiceDeployment rolled back at lifecycle hook {hook_id} ({hook.stage}).")
    else:
        hook.status = SUCCEEDED
    d.updated_at = now


def request_stop(d: Deployment, stop_type: str, now: float) -> None:
    """https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stop-service-deployment.html: PENDING and
    IN_PROGRESS move to ROLLBACK_REQUESTED, then roll back; a deployment already stopping or rolling back
    continues; a finished one cannot be stopped (ConflictException). ECS documents only ROLLBACK
    ("The valid values are ROLLBACK") although the enum has ABORT: ABORT is treated as ROLLBACK."""
    if d.status not in ACTIVE:
        raise Refused("ConflictException", f"The service deployment {d.arn} is {d.status} and cannot be stopped.")
    if d.status in (PENDING, IN_PROGRESS):
        d.stopped_at = now
        _request_rollback(d, now, f"StopServiceDeployment (stopType {stop_type or 'ROLLBACK'}) requested a rollback.")
    d.updated_at = now


def fail(d: Deployment, reason: str, now: float) -> None:
    """The deployment cannot run (e.g. its production listener rule does not exist): STOPPED as it is."""
    _fail_waiting(d)
    d.status, d.status_reason = STOPPED, reason
    d.stopped_at = d.finished_at = d.updated_at = now


def supersede(d: Deployment, by_arn: str, now: float) -> None:
    """A newer deployment of the service started: this one stops where it is (the newer one reconciles)."""
    if d.status in ACTIVE:
        fail(d, f"Stopped: service deployment {by_arn} started.", now)


# ------------------------------------------------------------ the stages
def _start(d: Deployment, now: float, minute: float, events: list[str]) -> None:
    d.status, d.started_at = IN_PROGRESS, now
    events.append(f"started ({d.settings.strategy}{', first deployment' if d.initial else ''})")
    _enter(d, 0, now, minute, events)


def _progress(d: Deployment, seen: Seen, now: float, minute: float, events: list[str]) -> None:
    if monitoring(d) and seen.alarms:
        _alarmed(d, seen.alarms, now, events)
        return
    for answer in seen.answers:
        if _answered(d, answer, now, minute, events):
            return
    for hook in d.waiting:
        if hook.status in HOLDING and now >= hook.expires_at:
            hook.status = TIMED_OUT
            events.append(f"lifecycle hook {hook.hook_id} timed out at {hook.stage}: {hook.timeout_action}")
            if hook.timeout_action == "ROLLBACK":
                _roll_back(d, now, f"Lifecycle hook {hook.hook_id} at {hook.stage} timed out.", events)
                return
    if not _done(d, seen, now, minute):
        return
    if d.phase + 1 < len(d.program):
        _enter(d, d.phase + 1, now, minute, events)
    else:
        d.status, d.finished_at = SUCCESSFUL, now
        events.append("completed")


def _enter(d: Deployment, index: int, now: float, minute: float, events: list[str]) -> None:
    d.phase, d.entered = index, now
    phase = d.program[index]
    note = ""
    if phase.stage == "RECONCILE_SERVICE":
        d.production_weight = d.test_weight = 0.0
        d.stale_running = False
    elif phase.stage == "SCALE_UP":
        d.target_running = True
    elif phase.stage == "TEST_TRAFFIC_SHIFT":
        d.test_weight = 100.0
        note = ": test traffic 100% on the new revision"
    elif phase.stage == "PRODUCTION_TRAFFIC_SHIFT":
        d.production_weight = d.settings.steps[phase.step].weight
        note = f": production traffic {d.production_weight:g}% on the new revision"
    elif phase.stage == "CLEAN_UP":
        d.source_running = d.stale_running = False
    events.append(f"lifecycle stage {phase.stage}{note}")
    d.waiting = []
    for hook in [h for h in d.settings.hooks if phase.stage in h.stages]:
        pause = hook.target_type == "PAUSE"
        run = HookRun(_hook_id(d, len(d.hooks), "pause" if pause else "lambda"), hook.target_type, phase.stage,
                      AWAITING if pause else IN_PROGRESS, now + hook.timeout_minutes * minute, hook.timeout_action,
                      target_arn=hook.target_arn, details=None if pause else lambda_hooks.configured(hook.details),
                      due_at=None if pause else now)
        d.hooks.append(run)
        d.waiting.append(run)
        if pause:
            events.append(f"paused at {phase.stage}: lifecycle hook {run.hook_id} awaiting action")
        else:
            events.append(f"lifecycle hook {run.hook_id} at {phase.stage}: invoking {hook.target_arn}")


def _answered(d: Deployment, answer: HookAnswer, now: float, minute: float, events: list[str]) -> bool:
    """Apply what a Lambda hook's invocation answered; True when that rolled the deployment back.
    An answer to a hook that no longer waits for one (it timed out, the deployment moved on) is dropped."""
    hook = next((h for h in d.waiting if h.hook_id == answer.hook_id and h.status == IN_PROGRESS and h.due_at is None), None)
    if hook is None:
        return False
    reply = lambda_hooks.read(answer)
    if reply.status == IN_PROGRESS:
        hook.details = lambda_hooks.merge(hook.details, reply.details)
        hook.due_at = now + lambda_hooks.wait(reply.delay, minute)
        return False
    if reply.status == SUCCEEDED:
        hook.status = SUCCEEDED
        events.append(f"lifecycle hook {hook.hook_id} at {hook.stage} succeeded")
        return False
    hook.status = FAILED
    _roll_back(d, now, f"Lifecycle hook {hook.hook_id} at {hook.stage}: {reply.reason}.", events)
    return True


def _due(d: Deployment, now: float) -> tuple[HookCall, ...]:
    """The Lambda hooks' invocations due now, marked as running (one at a time per hook)."""
    if d.status != IN_PROGRESS:
        return ()
    calls = []
    for hook in d.waiting:
        if hook.target_type != "PAUSE" and hook.status == IN_PROGRESS and hook.due_at is not None and hook.due_at <= now:
            hook.due_at = None
            hook.invocations += 1
            calls.append(HookCall(hook.hook_id, hook.target_arn or "", lambda_hooks.payload(d, hook)))
    return tuple(calls)


def _done(d: Deployment, seen: Seen, now: float, minute: float) -> bool:
    if any(h.status in HOLDING for h in d.waiting):
        return False
    phase = d.program[d.phase]
    waited = now - d.entered
    if phase.stage == "RECONCILE_SERVICE":
        return seen.stale_left == 0
    if phase.stage == "SCALE_UP":
        return seen.target_healthy >= seen.desired
    if phase.stage == "TEST_TRAFFIC_SHIFT":
        return waited >= SHIFT_MINUTES * minute
    if phase.stage == "PRODUCTION_TRAFFIC_SHIFT":
        return waited >= max(SHIFT_MINUTES, d.settings.steps[phase.step].bake_minutes) * minute
    if phase.stage == "BAKE_TIME":
        return waited >= d.settings.bake_minutes * minute
    if phase.stage == "CLEAN_UP":
        return seen.sources_left == 0 and seen.stale_left == 0
    return True


def _alarmed(d: Deployment, names: tuple[str, ...], now: float, events: list[str]) -> None:
    """AWS (developerguide/deployment-alarm-failure.html): an alarm in ALARM fails the deployment; with
    rollback, ECS rolls back to the last completed revision; without, the deployment stops where it is."""
    d.triggered_alarms = tuple(sorted(set(d.triggered_alarms) | set(names)))
    reason = f"CloudWatch alarm(s) in ALARM: {', '.join(sorted(names))}."
    if d.settings.alarms.rollback:
        _roll_back(d, now, f"{reason} Rolling back to {d.source_revisions[0]}.", events)
        return
    _fail_waiting(d)
    d.status, d.status_reason, d.stopped_at, d.finished_at = STOPPED, reason, now, now
    events.append(f"stopped: {reason}")


def _request_rollback(d: Deployment, now: float, reason: str) -> None:
    _fail_waiting(d)
    d.status, d.status_reason = ROLLBACK_REQUESTED, reason
    d.rollback = Rollback(reason, now, d.source_revisions[0] if d.source_revisions else None)


def _roll_back(d: Deployment, now: float, reason: str, events: list[str]) -> None:
    """Production and test traffic back on the source revision first; then the new revision's tasks stop."""
    _fail_waiting(d)
    if not d.source_revisions:  # a first deployment: nothing to go back to
        d.status, d.status_reason, d.finished_at = STOPPED, f"{reason} There is no previous revision to roll back to.", now
        events.append(f"stopped: {d.status_reason}")
        return
    d.rollback = d.rollback or Rollback(reason, now, d.source_revisions[0])
    d.status, d.status_reason = ROLLBACK_IN_PROGRESS, reason
    d.production_weight = d.test_weight = 0.0
    d.target_running, d.source_running = False, True
    events.append(f"rolling back: {reason}")


def _fail_waiting(d: Deployment) -> None:
    for hook in d.waiting:
        if hook.status in HOLDING:
            hook.status = FAILED


def _hook_id(d: Deployment, n: int, kind: str) -> str:
    return f"ecs-{kind}-" + hashlib.sha256(f"{d.arn}|{n}".encode()).hexdigest()[:24]
