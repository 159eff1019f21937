"""ECS: service deployments of native services, and the four APIs that show and steer them.

AWS (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html): ECS
creates a service deployment when a service is created and when an update needs one (a new task
definition, or forceNewDeployment). Each runs from source service revisions to a target revision
(`arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>`,
`...:service-revision/<cluster>/<service>/<id>`); ListServiceDeployments, DescribeServiceDeployments,
StopServiceDeployment and ContinueServiceDeployment read and steer them, and DescribeServices names
the current one (`currentServiceDeployment`). moto 5.2.5 has none of it: its server answers those
four actions with NotImplementedError.

The sandbox keeps them for native services (blue/green, linear, canary; deployer.sandbox.native_settings):
the records are deployer.sandbox.native_deployments.Deployment objects, moved by the ECS
controller's thread (deployer.sandbox.native_scheduler) and read or steered by moto's request
threads, always under `LOCK`.
"""

from __future__ import annotations

import base64
import copy
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api._internal import mock_random

from deployer.sandbox import native_deployments as machine
from deployer.sandbox.native_settings import is_native, problems

LOCK = threading.RLock()  # the controller's thread and moto's request threads
_ID_ALPHABET = string.ascii_letters + string.digits + "_-"


@dataclass
class Revision:
    arn: str
    deployment_id: str  # the service's deployment (service.deployments[i]["id"]) whose tasks run it
    task_definition: str


@dataclass
class Store:
    deployments: dict[str, machine.Deployment] = field(default_factory=dict)  # ARN -> record, oldest first
    revisions: dict[str, Revision] = field(default_factory=dict)  # by deployment ID
    placement: dict[str, str] = field(default_factory=dict)  # deployment ID -> the target group its tasks register in


def store(backend) -> Store:
    """The backend's records (a moto reset makes new backends, and so new records)."""
    with LOCK:
        found = getattr(backend, "sandbox_native", None)
        if found is None:
            found = backend.sandbox_native = Store()
        return found


def native(service) -> bool:
    return is_native(getattr(service, "deployment_controller", None), getattr(service, "deployment_configuration", None),
                     getattr(service, "load_balancers", None))


def check(config: dict | None) -> None:
    """InvalidParameterException for a native deployment configuration ECS refuses."""
    found = problems(config or {})
    if found:
        raise InvalidParameterException(found[0])


def revision(backend, service, deployment: dict) -> Revision:
    records = store(backend).revisions
    if deployment["id"] not in records:
        arn = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:service-revision/{service.cluster_name}/{service.name}/{_id()}"
        records[deployment["id"]] = Revision(arn, deployment["id"], deployment["taskDefinition"])
    return records[deployment["id"]]


def active(backend, service) -> machine.Deployment | None:
    """The service's newest deployment that has not finished."""
    for record in reversed(list(store(backend).deployments.values())):
        if record.service_arn == service.arn:
            return record if record.status in machine.ACTIVE else None
    return None


def start(backend, service, initial: bool) -> machine.Deployment:
    """A new service deployment to the service's PRIMARY deployment, from every other one it has."""
    with LOCK:
        now = time.time()
        arn = f"arn:aws:ecs:{backend.region_name}:{backend.account_id}:service-deployment/{service.cluster_name}/{service.name}/{_id()}"
        for record in store(backend).deployments.values():
            if record.service_arn == service.arn:
                machine.supersede(record, arn, now)
        target, *sources = service.deployments
        record = machine.Deployment(
            arn=arn, service_arn=service.arn, cluster_arn=service.cluster_arn,
            config=copy.deepcopy(service.deployment_configuration or {}),
            target_revision=revision(backend, service, target).arn,
            source_revisions=tuple(revision(backend, service, d).arn for d in sources),
            created_at=now, updated_at=now, initial=initial)
        store(backend).deployments[arn] = record
        service.current_service_deployment = arn
        return record


# ------------------------------------------------------------ what the API shows
def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _drop_none(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def brief(d: machine.Deployment) -> dict:
    return _drop_none({
        "serviceDeploymentArn": d.arn, "serviceArn": d.service_arn, "clusterArn": d.cluster_arn,
        "startedAt": _time(d.started_at), "createdAt": _time(d.created_at), "finishedAt": _time(d.finished_at),
        "targetServiceRevisionArn": d.target_revision, "status": d.status, "statusReason": d.status_reason,
    })


def describe(d: machine.Deployment) -> dict:
    def summary(arn: str, production: float | None, test: float | None) -> dict:
        requested, running, pending = d.counts.get(arn, (0, 0, 0))
        return _drop_none({"arn": arn, "requestedTaskCount": requested, "runningTaskCount": running, "pendingTaskCount": pending,
                           "requestedProductionTrafficWeight": production, "requestedTestTrafficWeight": test})

    shown = machine.intent(d)
    weight, test = shown.production_weight, shown.test_weight
    sources = [summary(arn, None if weight is None else (100.0 - weight if i == 0 else 0.0),
                       None if test is None else (100.0 - test if i == 0 else 0.0))
               for i, arn in enumerate(d.source_revisions)]
    alarms = d.settings.alarms
    return _drop_none({
        **brief(d),
        "updatedAt": _time(d.updated_at), "stoppedAt": _time(d.stopped_at),
        "sourceServiceRevisions": sources,
        "targetServiceRevision": summary(d.target_revision, weight, test),
        "lifecycleStage": d.stage,
        "lifecycleHookDetails": [_drop_none({"hookId": h.hook_id, "targetType": h.target_type, "targetArn": h.target_arn,
                                             "status": h.status, "expiresAt": _time(h.expires_at), "timeoutAction": h.timeout_action})
                                 for h in d.hooks] or None,
        "deploymentConfiguration": d.config,
        "rollback": None if d.rollback is None else _drop_none({
            "reason": d.rollback.reason, "startedAt": _time(d.rollback.started_at), "serviceRevisionArn": d.rollback.revision_arn}),
        "alarms": {"status": machine.alarms_status(d), "alarmNames": list(alarms.names),
                   "triggeredAlarmNames": list(d.triggered_alarms)},
    })


# ------------------------------------------------------------ the four actions
def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _record(backend, arn: str) -> machine.Deployment:
    record = store(backend).deployments.get(arn or "")
    if record is None:
        raise ECSException("ServiceDeploymentNotFoundException", f"The service deployment {arn} does not exist.")
    return record


def list_service_deployments(self) -> ActionResult:
    """AWS: the service's deployments, filtered by status and createdAt, at most maxResults (1-100,
    default 20) a page with a nextToken."""
    backend = self.ecs_backend
    service = backend._get_service(self._get_param("cluster") or "default", (self._get_param("service") or "").split("/")[-1])
    statuses = set(self._get_param("status") or [])
    created = self._get_param("createdAt") or {}
    after, before = _epoch(created.get("after")), _epoch(created.get("before"))
    limit = self._get_param("maxResults")
    limit = 20 if limit is None else int(limit)
    if not 1 <= limit <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    token = self._get_param("nextToken")
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except ValueError:
        raise InvalidParameterException("The nextToken is not valid.") from None
    with LOCK:
        found = [brief(d) for d in reversed(list(store(backend).deployments.values()))
                 if d.service_arn == service.arn and (not statuses or d.status in statuses)
                 and (after is None or d.created_at >= after) and (before is None or d.created_at <= before)]
    page = {"serviceDeployments": found[offset:offset + limit]}
    if offset + limit < len(found):
        page["nextToken"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
    return ActionResult(page)


def describe_service_deployments(self) -> ActionResult:
    arns = self._get_param("serviceDeploymentArns") or []
    if len(arns) > 20:
        raise InvalidParameterException("You can specify a maximum of 20 service deployment ARNs.")
    records = store(self.ecs_backend).deployments
    with LOCK:
        found = [describe(records[a]) for a in arns if a in records]
    return ActionResult({"serviceDeployments": found,
                         "failures": [{"arn": a, "reason": "MISSING"} for a in arns if a not in records]})


def stop_service_deployment(self) -> ActionResult:
    arn = self._get_param("serviceDeploymentArn")
    with LOCK:
        try:
            machine.request_stop(_record(self.ecs_backend, arn), self._get_param("stopType") or "ROLLBACK", time.time())
        except machine.Refused as refused:
            raise ECSException(refused.code, refused.message) from None
    return ActionResult({"serviceDeploymentArn": arn})


def continue_service_deployment(self) -> ActionResult:
    arn = self._get_param("serviceDeploymentArn")
    with LOCK:
        try:
            machine.continue_hook(_record(self.ecs_backend, arn), self._get_param("hookId") or "",
                                  self._get_param("action") or "CONTINUE", time.time())
        except machine.Refused as refused:
            raise ECSException(refused.code, refused.message) from None
    return ActionResult({"serviceDeploymentArn": arn})


def install() -> None:
    for action in (list_service_deployments, describe_service_deployments, stop_service_deployment, continue_service_deployment):
        setattr(EC2ContainerServiceResponse, action.__name__, action)


def _id() -> str:
    return "".join(mock_random.choice(_ID_ALPHABET) for _ in range(22))
