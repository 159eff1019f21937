"""ECS's own deployments (`release.engine: ecs`): the bounds ECS and CloudFormation enforce, and
what the native mode cannot do. Pure, no I/O; `deployer.spec.models` calls `problems`.

Sources (AWS API and CloudFormation references):
- DeploymentConfiguration.bakeTimeInMinutes, CanaryConfiguration, LinearConfiguration: bake times
  0..1440 minutes; canaryPercent 0.1..100 and stepPercent 3..100, in steps of 0.1.
- DeploymentLifecycleHookTimeoutConfiguration: timeoutInMinutes 1..20160.
- DeploymentLifecycleHook: "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT or
  PRODUCTION_TRAFFIC_SHIFT stages".
- AWS::ECS::Service CanaryConfiguration / LinearConfiguration: CloudFormation refuses a deployment
  whose estimated time exceeds 33 hours (bake + canary bake; bake + step bake x steps).
"""

from __future__ import annotations

import math

# Where ECS maps our strategy names.
ECS_STRATEGY = {"rolling": "ROLLING", "bluegreen": "BLUE_GREEN", "canary": "CANARY", "linear": "LINEAR"}

# The lifecycle stages at which a PAUSE hook may stop a deployment, in ECS's order, and what the
# judge reads there. TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT take Lambda hooks only.
JUDGED_STAGES = {
    "POST_TEST_TRAFFIC_SHIFT": "the new revision answers through the test listener",
    "PRE_PRODUCTION_TRAFFIC_SHIFT": "before each production shift: the new revision's traffic against the production one",
    "POST_PRODUCTION_TRAFFIC_SHIFT": "all traffic on the new revision: its error rate and latency against the limits",
}
NOT_JUDGEABLE = {
    "RECONCILE_SERVICE": "nothing new runs yet",
    "PRE_SCALE_UP": "nothing new runs yet",
    "POST_SCALE_UP": "the new revision serves no traffic yet (ECS has already checked its targets' health)",
    "TEST_TRAFFIC_SHIFT": "ECS allows only Lambda hooks there, not PAUSE",
    "PRODUCTION_TRAFFIC_SHIFT": "ECS allows only Lambda hooks there, not PAUSE",
}

DEFAULT_JUDGE_AT = {
    "rolling": (),
    "bluegreen": ("POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"),
    "canary": ("POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT"),
    "linear": ("PRE_PRODUCTION_TRAFFIC_SHIFT",),
}

BAKE_MAX_MINUTES = 1440
HOOK_TIMEOUT_MAX_MINUTES = 20160
CLOUDFORMATION_MAX_MINUTES = 33 * 60
CANARY_MIN_PERCENT, LINEAR_MIN_PERCENT = 0.1, 3.0


def tenths(value: float) -> bool:
    """True when `value` is a whole number of tenths (ECS's 0.1 steps), judged without float noise."""
    return math.isclose(value * 10, round(value * 10), abs_tol=1e-9)


def minutes_problem(seconds: int, most: int, least: int = 0) -> str | None:
    """ECS counts these in whole minutes."""
    if seconds % 60:
        return f"ECS counts this in whole minutes (got {seconds}s; e.g. {max(least, seconds // 60) or 1}m)"
    if not least * 60 <= seconds <= most * 60:
        return f"ECS allows {least}..{most} minutes (got {seconds // 60}m)"
    return None


def linear_steps(step_percent: float) -> int:
    """Shifts after the first, as CloudFormation counts them for the 33-hour estimate."""
    whole = 100 / step_percent
    return int(whole) - 1 if math.isclose(whole, round(whole)) else math.floor(whole)


def judge_at(service) -> tuple[str, ...]:
    """The stages where deployer's gates decide (the spec's list, or the strategy's default)."""
    chosen = service.release.ecs.judge_at if service.release.ecs else None
    if chosen is not None:
        return tuple(chosen)
    default = DEFAULT_JUDGE_AT[service.release.strategy]
    if service.load_balancer.test_listener is None or service.release.ecs_options.judge == "lambda":
        # nothing to probe through, or a judge outside the VPC that cannot reach the test listener
        default = tuple(s for s in default if s != "POST_TEST_TRAFFIC_SHIFT")
    return default


def problems(service) -> list[tuple[str, str]]:
    """(field path under the service, what is wrong) for a service with `release.engine: ecs`."""
    release, found = service.release, []
    options = release.ecs_options
    strategy = release.strategy
    if service.dns and service.dns.mode == "weighted":
        found.append(("dns.mode", "ECS shifts traffic on one ALB's listener rules, not between Route53 records; "
                                  "DNS blue/green needs release.engine: deployer"))
    bake = minutes_problem(release.bake, BAKE_MAX_MINUTES)
    if bake:
        found.append(("release.bake", f"with engine ecs this is ECS's bake time after the last shift: {bake}"))
    if strategy == "linear":
        if release.linear.step_percent < LINEAR_MIN_PERCENT:
            found.append(("release.linear.step_percent",
                          f"ECS's linear steps are {LINEAR_MIN_PERCENT:g}..100 percent (got {release.linear.step_percent})"))
        step_bake = release.linear.step_bake if release.linear.step_bake is not None else release.bake
        problem = minutes_problem(step_bake, BAKE_MAX_MINUTES)
        if problem and release.linear.step_bake is not None:
            found.append(("release.linear.step_bake", problem))
        elif not problem and not bake and release.linear.step_percent >= LINEAR_MIN_PERCENT:
            total = release.bake // 60 + step_bake // 60 * linear_steps(release.linear.step_percent)
            if total > CLOUDFORMATION_MAX_MINUTES:
                found.append(("release.linear", f"bake + step_bake x {linear_steps(release.linear.step_percent)} steps is "
                                                f"{total} minutes; CloudFormation allows a deployment 33 hours ({CLOUDFORMATION_MAX_MINUTES})"))
    if strategy == "canary":
        if not tenths(options.canary_percent):
            found.append(("release.ecs.canary_percent", f"ECS takes steps of 0.1 percent (got {options.canary_percent:g})"))
        problem = minutes_problem(options.canary_bake, BAKE_MAX_MINUTES)
        if problem:
            found.append(("release.ecs.canary_bake", problem))
        elif not bake:
            total = release.bake // 60 + options.canary_bake // 60
            if total > CLOUDFORMATION_MAX_MINUTES:
                found.append(("release.ecs.canary_bake", f"bake + canary_bake is {total} minutes; "
                                                          f"CloudFormation allows a deployment 33 hours ({CLOUDFORMATION_MAX_MINUTES})"))
    timeout = minutes_problem(options.hook_timeout, HOOK_TIMEOUT_MAX_MINUTES, least=1)
    if timeout:
        found.append(("release.ecs.hook_timeout", timeout))
    found += _judge_problems(service)
    return found


def _judge_problems(service) -> list[tuple[str, str]]:
    stages, strategy = judge_at(service), service.release.strategy
    if strategy == "rolling":
        if stages:
            return [("release.ecs.judge_at", "ECS runs lifecycle hooks in bluegreen, linear and canary deployments, "
                                             "not rolling ones; leave judge_at empty")]
        return []
    found = []
    for i, stage in enumerate(stages):
        if stage in NOT_JUDGEABLE:
            found.append((f"release.ecs.judge_at.{i}", f"the judge cannot decide at {stage}: {NOT_JUDGEABLE[stage]}; "
                                                       f"expected one of {', '.join(JUDGED_STAGES)}"))
        elif stage not in JUDGED_STAGES:
            found.append((f"release.ecs.judge_at.{i}", f"unknown stage {stage!r}: expected one of {', '.join(JUDGED_STAGES)}"))
    if len(set(stages)) != len(stages):
        found.append(("release.ecs.judge_at", "a stage is listed twice"))
    if "POST_TEST_TRAFFIC_SHIFT" in stages and service.release.ecs_options.judge == "lambda":
        found.append(("release.ecs.judge_at", "the judge function runs outside the service's VPC and cannot reach its test "
                                              "listener (load_balancer.test_listener.allowed_cidrs): judge "
                                              "POST_TEST_TRAFFIC_SHIFT with release.ecs.judge: runner, or leave it out"))
    elif "POST_TEST_TRAFFIC_SHIFT" in stages and service.load_balancer.test_listener is None:
        found.append(("release.ecs.judge_at", "POST_TEST_TRAFFIC_SHIFT probes the new revision through the test listener: "
                                              "set load_balancer.test_listener, or judge at another stage"))
    return found
