"""What ECS sends an AWS_LAMBDA lifecycle hook and how it reads the answer. Pure.

AWS, "Lambda hooks for Amazon ECS service deployments"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html): the
function answers a JSON object with `hookStatus` SUCCEEDED (the next stage), FAILED (roll back) or
IN_PROGRESS (invoked again after `callBackDelay` seconds, default 30), and may return `hookDetails`
with IN_PROGRESS, which ECS passes to the next invocation; the hook's configured hookDetails are
passed on every invocation. "If your function doesn't return a valid hookStatus, or if it fails,
Amazon ECS rolls back the deployment."

The payload: "Lifecycle hooks for Amazon ECS service deployments"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-lifecycle-hooks.html)
documents `serviceArn`, `targetServiceRevisionArn` and the maps `testTrafficWeights` and
`productionTrafficWeights` (service revision ARN -> percent) at the top level, the maps filled at
RECONCILE_SERVICE and the traffic-shift stages, empty elsewhere. Invocations logged from AWS (the
AWS News Blog's blue/green walk-through, July 2025) carry those four under `executionDetails`,
beside `executionId`, `lifecycleStage` and `resourceArn` (the service deployment). The sandbox
sends both shapes, so a function written to either works here.

Not documented, chosen here: returned hookDetails are merged into the configured ones (keys
returned win; a returned value that is not an object replaces them); a callBackDelay that is not a
positive number means the default; `executionId` is one ID per hook run (all its invocations).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployer.sandbox.native_deployments import Deployment, HookRun

STATUSES = ("SUCCEEDED", "FAILED", "IN_PROGRESS")
CALLBACK_DELAY = 30.0  # seconds, when the answer names none
MIN_DELAY = 0.2  # real seconds between two invocations of one hook, however short the sandbox's minute
TEST_WEIGHTED = ("RECONCILE_SERVICE", "TEST_TRAFFIC_SHIFT")
PRODUCTION_WEIGHTED = ("RECONCILE_SERVICE", "PRODUCTION_TRAFFIC_SHIFT")


@dataclass(frozen=True)
class HookCall:
    """One invocation the scheduler is to make."""

    hook_id: str
    function_arn: str
    payload: dict


@dataclass(frozen=True)
class HookAnswer:
    """What came back: the function's answer (decoded JSON), or why there is none (a function error)."""

    hook_id: str
    answer: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Reply:
    status: str | None  # SUCCEEDED, FAILED, IN_PROGRESS; None: not valid
    delay: float = CALLBACK_DELAY  # IN_PROGRESS: seconds until the next invocation
    details: Any = None  # IN_PROGRESS: the hookDetails returned
    reason: str = ""  # FAILED or not valid: why, for the rollback's reason


def configured(details: str | None) -> Any:
    """The hook's configured hookDetails (kept as JSON text in its settings)."""
    if details is None:
        return None
    try:
        return json.loads(details)
    except ValueError:
        return details


def merge(current: Any, returned: Any) -> Any:
    if returned is None:
        return current
    if isinstance(current, dict) and isinstance(returned, dict):
        return {**current, **returned}
    return returned


def read(answer: HookAnswer) -> Reply:
    if answer.error is not None:
        return Reply(None, reason=f"the function failed ({answer.error})")
    found = answer.answer
    status = found.get("hookStatus") if isinstance(found, dict) else None
    if status not in STATUSES:
        return Reply(None, reason=f"the function returned no valid hookStatus ({_brief(found)})")
    if status == "FAILED":
        return Reply(status, reason="the function returned hookStatus FAILED")
    if status == "IN_PROGRESS":
        delay = found.get("callBackDelay")
        valid = isinstance(delay, (int, float)) and not isinstance(delay, bool) and delay > 0
        return Reply(status, float(delay) if valid else CALLBACK_DELAY, found.get("hookDetails"))
    return Reply(status)


def wait(delay: float, minute: float) -> float:
    """Real seconds until the next invocation: callBackDelay on the sandbox's time scale, at least MIN_DELAY."""
    return max(MIN_DELAY, delay * minute / 60.0)


def payload(d: Deployment, run: HookRun) -> dict:
    body = {"serviceArn": d.service_arn, "targetServiceRevisionArn": d.target_revision,
            "testTrafficWeights": _weights(d, d.test_weight) if run.stage in TEST_WEIGHTED else {},
            "productionTrafficWeights": _weights(d, d.production_weight) if run.stage in PRODUCTION_WEIGHTED else {}}
    out = {**body, "executionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{d.arn}#{run.hook_id}")), "lifecycleStage": run.stage,
           "resourceArn": d.arn, "executionDetails": dict(body)}
    if run.details is not None:
        out["hookDetails"] = run.details
    return out


def _weights(d: Deployment, target: float) -> dict[str, float]:
    weights = {d.target_revision: _number(target)}
    if d.source_revisions:
        weights[d.source_revisions[0]] = _number(100.0 - target)
    return weights


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _brief(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
