"""ECS: services keep what CloudFormation and UpdateService give them, and deployments exist.

AWS: AWS::ECS::Service takes LoadBalancers, DeploymentConfiguration, NetworkConfiguration and
LaunchType, and UpdateService with a new task definition starts a new PRIMARY deployment
(rolloutState IN_PROGRESS) while the previous one becomes ACTIVE and drains. moto 5.2.5 drops
those properties, stores the task definition as a bare `family:revision` and makes no
deployment. The sandbox's ECS controller (deployer.sandbox.ecs_controller) then moves the
deployments: it starts and stops tasks and sets runningCount, rolloutState and events.
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import EC2ContainerServiceBackend, Service, TaskDefinition, ecs_backends
from moto.moto_api._internal import mock_random

DEFAULT_DEPLOYMENT_CONFIGURATION = {"maximumPercent": 200, "minimumHealthyPercent": 100,
                                    "deploymentCircuitBreaker": {"enable": False, "rollback": False}}


def new_deployment(service: Any, task_definition: str, status: str = "PRIMARY") -> dict:
    deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
    now = utcnow()
    return {
        "id": deployment_id, "status": status, "taskDefinition": task_definition,
        "desiredCount": service.desired_count, "pendingCount": 0, "runningCount": 0, "failedTasks": 0,
        "createdAt": now, "updatedAt": now, "launchType": service.launch_type,
        "rolloutState": "IN_PROGRESS", "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
    }


def _camel(d: Any) -> Any:
    """CloudFormation's PascalCase properties -> the API's camelCase."""
    if isinstance(d, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_camel(v) for v in d]
    return d


def _arn(value: Any, backend: EC2ContainerServiceBackend) -> str:
    if isinstance(value, TaskDefinition):
        return value.arn
    return backend.describe_task_definition(str(value)).arn


def install() -> None:
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        backend = ecs_backends[account_id][region_name]
        cluster = props["Cluster"].name if hasattr(props["Cluster"], "name") else props["Cluster"]
        name = props.get("ServiceName") or resource_name
        service = backend.create_service(
            cluster, name, int(props.get("DesiredCount") or 0),
            task_definition_str=_arn(props["TaskDefinition"], backend),
            load_balancers=_camel(props.get("LoadBalancers", [])),
            launch_type=props.get("LaunchType"),
            propagate_tags=props.get("PropagateTags", "NONE"),
        )
        service.deployment_configuration = _camel(props.get("DeploymentConfiguration")) or dict(DEFAULT_DEPLOYMENT_CONFIGURATION)
        service.network_configuration = _camel(props.get("NetworkConfiguration", {}))
        service.health_check_grace_period_seconds = int(props.get("HealthCheckGracePeriodSeconds", 0))
        service.deployments = [new_deployment(service, service.task_definition)]
        return service

    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json["Properties"]
        backend = ecs_backends[account_id][region_name]
        cluster = props["Cluster"].name if hasattr(props["Cluster"], "name") else props["Cluster"]
        service = backend.update_service({
            "cluster": cluster, "service": original_resource.name,
            "task_definition": _arn(props["TaskDefinition"], backend),
            "desired_count": int(props.get("DesiredCount") or 0),
            "deployment_configuration": _camel(props.get("DeploymentConfiguration")),
        })
        service.load_balancers = _camel(props.get("LoadBalancers", service.load_balancers))
        return service

    Service.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    Service.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)

    original_update = EC2ContainerServiceBackend.update_service

    def update_service(self, service_properties):
        cluster = service_properties.get("cluster", "default")
        name = service_properties["service"].split("/")[-1]
        before = self._get_service(cluster, name)
        old_td, old_running = before.task_definition, before.running_count
        requested_td = service_properties.get("task_definition")
        config = service_properties.pop("deployment_configuration", None)
        service = original_update(self, service_properties)
        service.running_count = old_running  # the controller counts real tasks
        service.pending_count = 0
        if config:
            service.deployment_configuration = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **config}
        if requested_td:
            service.task_definition = self.describe_task_definition(requested_td).arn
        deployments = getattr(service, "deployments", None) or []
        if requested_td and service.task_definition != old_td:
            for d in deployments:
                if d["status"] == "PRIMARY":
                    d["status"] = "ACTIVE"
            service.deployments = [new_deployment(service, service.task_definition)] + deployments
        elif deployments:
            primary = deployments[0]
            primary["desiredCount"] = service.desired_count
            if primary["runningCount"] != service.desired_count:
                primary["rolloutState"] = "IN_PROGRESS"
        return service

    EC2ContainerServiceBackend.update_service = update_service
