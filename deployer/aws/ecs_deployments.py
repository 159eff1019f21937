"""ECS service deployments (engine ecs): start one, follow it, and answer its PAUSE hooks.

Calls and the botocore version that first has each (the floor pinned in pyproject.toml):
ListServiceDeployments / DescribeServiceDeployments 1.35.52; StopServiceDeployment 1.38.1;
BLUE_GREEN, lifecycleStage and lifecycle hooks 1.39.5; LINEAR and CANARY 1.40.61;
Service.currentServiceDeployment 1.41.1; PAUSE hooks and ContinueServiceDeployment 1.43.10.
botocore has no paginator or waiter for them. Response enums are not validated by botocore, and
ECS's documentation names a stage (PRE_PRODUCTION_TRAFFIC_SHIFT) its enum lacks: stage and status
strings are kept as ECS sends them, never rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from deployer.aws.base import Adapter

IN_FLIGHT = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
ROLLED_BACK = ("ROLLBACK_SUCCESSFUL",)
TERMINAL = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


@dataclass(frozen=True)
class Hook:
    hook_id: str
    target_type: str  # PAUSE | AWS_LAMBDA
    status: str  # AWAITING_ACTION | IN_PROGRESS | SUCCEEDED | FAILED | TIMED_OUT
    expires_at: float | None = None
    timeout_action: str = ""


@dataclass(frozen=True)
class ServiceDeployment:
    arn: str
    status: str
    stage: str = ""  # lifecycleStage
    status_reason: str = ""
    target_revision: str = ""
    production_weight: float | None = None  # the target revision's requested share (a snapshot)
    test_weight: float | None = None
    hooks: tuple[Hook, ...] = ()
    rollback_reason: str = ""
    triggered_alarms: tuple[str, ...] = ()
    circuit_breaker: str = ""  # TRIGGERED when the breaker stopped it
    created_at: float | None = None
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def awaiting(self) -> Hook | None:
        """The PAUSE hook waiting for ContinueServiceDeployment, if any."""
        return next((h for h in self.hooks if h.target_type == "PAUSE" and h.status == "AWAITING_ACTION"), None)

    @classmethod
    def from_api(cls, data: dict) -> "ServiceDeployment":
        target = data.get("targetServiceRevision") or {}
        alarms = data.get("alarms") or {}
        return cls(
            arn=data.get("serviceDeploymentArn", ""),
            status=data.get("status", ""),
            stage=data.get("lifecycleStage", ""),
            status_reason=data.get("statusReason", ""),
            target_revision=target.get("arn", ""),
            production_weight=target.get("requestedProductionTrafficWeight"),
            test_weight=target.get("requestedTestTrafficWeight"),
            hooks=tuple(Hook(h.get("hookId", ""), h.get("targetType", ""), h.get("status", ""), _ts(h.get("expiresAt")),
                             h.get("timeoutAction", "")) for h in data.get("lifecycleHookDetails") or []),
            rollback_reason=(data.get("rollback") or {}).get("reason", ""),
            triggered_alarms=tuple(alarms.get("triggeredAlarmNames") or ()),
            circuit_breaker=(data.get("deploymentCircuitBreaker") or {}).get("status", ""),
            created_at=_ts(data.get("createdAt")),
            finished_at=_ts(data.get("finishedAt")),
        )


def _ts(value) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


class EcsDeployments(Adapter):
    """One ECS client's service-deployment calls; each reads back what it needs, nothing cached."""

    service_name = "ecs"

    def start(self, cluster: str, service: str, task_definition: str) -> None:
        """UpdateService with the new revision only: the strategy and its settings are the service's own."""
        self._call("update_service", idempotent=True, cluster=cluster, service=service, taskDefinition=task_definition)

    def current(self, cluster: str, service: str) -> str | None:
        """The deployment ECS is running for the service (Service.currentServiceDeployment), else
        the newest one it lists as in flight."""
        found = self._call("describe_services", idempotent=True, cluster=cluster, services=[service]).get("services", [])
        arn = found[0].get("currentServiceDeployment") if found else None
        if arn:
            return arn
        listed = self.list(cluster, service, statuses=IN_FLIGHT)
        return listed[0]["serviceDeploymentArn"] if listed else None

    def list(self, cluster: str, service: str, statuses: tuple[str, ...] = (), created_after: datetime | None = None) -> list[dict]:
        """Briefs, newest first; ListServiceDeployments has no paginator: follow nextToken here."""
        params: dict = {"cluster": cluster, "service": service, "maxResults": 100}
        if statuses:
            params["status"] = list(statuses)
        if created_after is not None:
            params["createdAt"] = {"after": created_after}
        briefs: list[dict] = []
        for _ in range(50):  # bounded: 5,000 deployments is far more than a service keeps
            page = self._call("list_service_deployments", idempotent=True, **params)
            briefs += page.get("serviceDeployments", [])
            token = page.get("nextToken")
            if not token:
                break
            params["nextToken"] = token
        return sorted(briefs, key=lambda b: _ts(b.get("createdAt")) or 0.0, reverse=True)

    def describe(self, arn: str) -> ServiceDeployment:
        response = self._call("describe_service_deployments", idempotent=True, serviceDeploymentArns=[arn])
        found = response.get("serviceDeployments", [])
        if not found:
            from deployer.errors import NotFound

            failure = (response.get("failures") or [{}])[0]
            raise NotFound("describe_service_deployments", failure.get("reason", "MISSING"),
                           f"ECS service deployment {arn} not found ({failure.get('reason', 'no answer')})")
        return ServiceDeployment.from_api(found[0])

    def answer(self, arn: str, hook_id: str, action: str) -> None:
        """CONTINUE or ROLLBACK at a PAUSE hook. Not retried blindly: a second answer after a lost
        first one is refused by ECS (the hook no longer awaits), which the caller reads back."""
        self._call("continue_service_deployment", idempotent=False, serviceDeploymentArn=arn, hookId=hook_id, action=action)

    def stop(self, arn: str, stop_type: str = "ROLLBACK") -> None:
        self._call("stop_service_deployment", idempotent=True, serviceDeploymentArn=arn, stopType=stop_type)
