"""What a service's deploymentConfiguration asks of an ECS-native deployment. Pure.

A service is native when ECS runs its blue/green, linear or canary deployments itself: the
deployment controller is ECS, the strategy BLUE_GREEN, LINEAR or CANARY, and its load balancer
names an alternate target group and a production listener rule (AWS: "Amazon ECS blue/green
deployments", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html).
The settings come in the API's camelCase, values possibly as strings (CloudFormation parameters).
Minutes stay minutes here: the stage machine scales them (DEPLOYER_SANDBOX_MINUTE).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NATIVE_STRATEGIES = ("BLUE_GREEN", "LINEAR", "CANARY")
HOOK_STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
               "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT")
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHook.html: "PAUSE hooks cannot be configured at ..."
NO_PAUSE_AT = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")

# Documented defaults: canary 5 % for 10 min, linear 10 % steps 6 min apart
# (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CanaryConfiguration.html, .../API_LinearConfiguration.html);
# bake time 15 min for native strategies when omitted
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-ecs-service-deploymentconfiguration.html);
# hook timeout 1440 min, then ROLLBACK (.../APIReference/API_DeploymentLifecycleHookTimeoutConfiguration.html).
CANARY_PERCENT, CANARY_BAKE = 5.0, 10.0
LINEAR_STEP, LINEAR_BAKE = 10.0, 6.0
BAKE_MINUTES = 15.0
HOOK_TIMEOUT_MINUTES, HOOK_TIMEOUT_ACTION = 1440.0, "ROLLBACK"


@dataclass(frozen=True)
class Step:
    weight: float  # % of production traffic on the new revision once this step is done
    bake_minutes: float  # the wait after it (none after 100 %)


@dataclass(frozen=True)
class Hook:
    target_type: str  # PAUSE or AWS_LAMBDA (the API's default when omitted)
    stages: tuple[str, ...]
    timeout_minutes: float
    timeout_action: str  # ROLLBACK or CONTINUE
    target_arn: str | None = None
    details: str | None = None  # hookDetails as JSON text (AWS_LAMBDA: passed to every invocation)


@dataclass(frozen=True)
class Alarms:
    names: tuple[str, ...] = ()
    enable: bool = False
    rollback: bool = False


@dataclass(frozen=True)
class Settings:
    strategy: str
    steps: tuple[Step, ...]
    bake_minutes: float
    hooks: tuple[Hook, ...]
    alarms: Alarms


def is_native(deployment_controller: dict | None, config: dict | None, load_balancers: list | None) -> bool:
    if ((deployment_controller or {}).get("type") or "ECS") != "ECS":
        return False
    if (config or {}).get("strategy") not in NATIVE_STRATEGIES:
        return False
    advanced = advanced_configuration(load_balancers)
    return bool(advanced.get("alternateTargetGroupArn") and advanced.get("productionListenerRule"))


def advanced_configuration(load_balancers: list | None) -> dict:
    first = (load_balancers or [{}])[0] or {}
    return first.get("advancedConfiguration") or {}


def production_steps(config: dict) -> tuple[Step, ...]:
    """BLUE_GREEN: 0 -> 100 at once (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html).
    CANARY: canaryPercent, its bake, then the rest at once (.../developerguide/canary-deployment.html).
    LINEAR: stepPercent at a time with stepBakeTimeInMinutes between steps, none after 100 %
    (.../developerguide/deployment-type-linear.html; API_LinearConfiguration: "not applied after reaching 100 percent")."""
    strategy = config.get("strategy")
    if strategy == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        percent = _number(canary.get("canaryPercent"), CANARY_PERCENT)
        bake = _number(canary.get("canaryBakeTimeInMinutes"), CANARY_BAKE)
        return (Step(100.0, 0.0),) if percent >= 100 else (Step(percent, bake), Step(100.0, 0.0))
    if strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step = _number(linear.get("stepPercent"), LINEAR_STEP)
        bake = _number(linear.get("stepBakeTimeInMinutes"), LINEAR_BAKE)
        weights = []
        k = 1
        while round(k * step, 1) < 100:
            weights.append(round(k * step, 1))
            k += 1
        return (*(Step(w, bake) for w in weights), Step(100.0, 0.0))
    return (Step(100.0, 0.0),)


def settings(config: dict) -> Settings:
    hooks = tuple(
        Hook(target_type=h.get("targetType") or "AWS_LAMBDA",
             stages=tuple(h.get("lifecycleStages") or ()),
             timeout_minutes=_number((h.get("timeoutConfiguration") or {}).get("timeoutInMinutes"), HOOK_TIMEOUT_MINUTES),
             timeout_action=(h.get("timeoutConfiguration") or {}).get("action") or HOOK_TIMEOUT_ACTION,
             target_arn=h.get("hookTargetArn"),
             details=_json_text(h.get("hookDetails")))
        for h in config.get("lifecycleHooks") or ())
    alarms = config.get("alarms") or {}
    return Settings(
        strategy=config.get("strategy") or "BLUE_GREEN",
        steps=production_steps(config),
        bake_minutes=_number(config.get("bakeTimeInMinutes"), BAKE_MINUTES),
        hooks=hooks,
        alarms=Alarms(tuple(alarms.get("alarmNames") or ()), _flag(alarms.get("enable")), _flag(alarms.get("rollback"))),
    )


def problems(config: dict) -> list[str]:
    """What ECS refuses in a native deployment configuration, with the documented bounds."""
    if config.get("strategy") not in NATIVE_STRATEGIES:
        return []
    out = []
    checks = [("bakeTimeInMinutes", config.get("bakeTimeInMinutes"), 0, 1440),
              ("canaryConfiguration.canaryPercent", (config.get("canaryConfiguration") or {}).get("canaryPercent"), 0.1, 100),
              ("canaryConfiguration.canaryBakeTimeInMinutes", (config.get("canaryConfiguration") or {}).get("canaryBakeTimeInMinutes"), 0, 1440),
              ("linearConfiguration.stepPercent", (config.get("linearConfiguration") or {}).get("stepPercent"), 3, 100),
              ("linearConfiguration.stepBakeTimeInMinutes", (config.get("linearConfiguration") or {}).get("stepBakeTimeInMinutes"), 0, 1440)]
    for i, hook in enumerate(config.get("lifecycleHooks") or ()):
        checks.append((f"lifecycleHooks[{i}].timeoutConfiguration.timeoutInMinutes",
                       (hook.get("timeoutConfiguration") or {}).get("timeoutInMinutes"), 1, 20160))
        stages = hook.get("lifecycleStages") or []
        # API_DeploymentLifecycleHook: "You must provide this parameter when configuring an AWS_LAMBDA lifecycle hook."
        if hook.get("targetType") != "PAUSE" and not hook.get("hookTargetArn"):
            out.append(f"lifecycleHooks[{i}].hookTargetArn is required for an AWS_LAMBDA lifecycle hook")
        if not stages:
            out.append(f"lifecycleHooks[{i}].lifecycleStages must name at least one stage")
        for stage in stages:
            if stage not in HOOK_STAGES:
                out.append(f"lifecycleHooks[{i}].lifecycleStages: unknown stage {stage}")
            elif hook.get("targetType") == "PAUSE" and stage in NO_PAUSE_AT:
                out.append(f"PAUSE lifecycle hooks cannot be configured at the {stage} stage")
    for name, value, low, high in checks:
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            out.append(f"{name} must be a number, not {value!r}")
            continue
        if not low <= number <= high:
            out.append(f"{name} must be between {low:g} and {high:g}, not {number:g}")
    return out


def _json_text(value: Any) -> str | None:
    """CloudFormation gives HookDetails as a JSON object or as the text of one; the API as a document."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _number(value: Any, default: float) -> float:
    return default if value is None or value == "" else float(value)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
