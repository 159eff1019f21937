"""ECS: services keep what CloudFormation and UpdateService give them, and deployments exist.

AWS: AWS::ECS::Service takes LoadBalancers, DeploymentConfiguration, NetworkConfiguration and
LaunchType, and UpdateService with a new task definition starts a new PRIMARY deployment
(rolloutState IN_PROGRESS) while the previous one becomes ACTIVE and drains. moto 5.2.5 drops
those properties, stores the task definition as a bare `family:revision` and makes no
deployment. The sandbox's ECS controller (deployer.sandbox.ecs_controller) then moves the
deployments: it starts and stops tasks and sets runningCount, rolloutState and events.
CreateService keeps its deploymentConfiguration (AWS fills in the defaults; moto 5.2.5 drops it),
and AWS::ECS::Service its DeploymentController. On a native service (blue/green, linear, canary)
creation and each new deployment also start a service deployment
(deployer.sandbox.moto_ext.ecs_deployments), and a configuration ECS refuses (a PAUSE hook at
TEST_TRAFFIC_SHIFT, a canary percent out of bounds ...) is an InvalidParameterException.

AWS::ECS::TaskDefinition keeps NetworkMode, RequiresCompatibilities, Cpu, Memory, TaskRoleArn,
ExecutionRoleArn and RuntimePlatform, and its container definitions read back in the API's
camelCase. moto 5.2.5 keeps only the family, containers and memory (so a Fargate task definition
became `bridge`, EC2-only, with no roles) and stores an updated one's containers in PascalCase.
"""

from __future__ import annotations

from typing import Any

from moto.core.utils import pascal_to_camelcase, remap_nested_keys, utcnow
from moto.ecs.models import EC2ContainerServiceBackend, Service, TaskDefinition, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api._internal import mock_random

from deployer.sandbox.moto_ext.ecs_deployments import LOCK, check, native, start

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
    """CloudFormation's PascalCase properties -> the API's camelCase; a lifecycle hook's HookDetails
    is the user's own JSON and stays as given."""
    if isinstance(d, dict):
        return {k[:1].lower() + k[1:]: v if k == "HookDetails" else _camel(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_camel(v) for v in d]
    return d


def _arn(value: Any, backend: EC2ContainerServiceBackend) -> str:
    if isinstance(value, TaskDefinition):
        return value.arn
    return backend.describe_task_definition(str(value)).arn


def _register_from_cloudformation(props: dict, backend: EC2ContainerServiceBackend) -> TaskDefinition:
    cpu, memory = props.get("Cpu"), props.get("Memory")
    return backend.register_task_definition(
        family=props.get("Family") or f"task-definition-{mock_random.randint(0, 10**6)}",
        container_definitions=remap_nested_keys(props.get("ContainerDefinitions", []), pascal_to_camelcase),
        volumes=remap_nested_keys(props.get("Volumes", []), pascal_to_camelcase),
        network_mode=props.get("NetworkMode"),
        requires_compatibilities=props.get("RequiresCompatibilities"),
        cpu=str(cpu) if cpu is not None else None,
        memory=str(memory) if memory is not None else None,
        task_role_arn=props.get("TaskRoleArn"),
        execution_role_arn=props.get("ExecutionRoleArn"),
        runtime_platform=_camel(props.get("RuntimePlatform")) or None,
        tags=_camel(props.get("Tags")) or None,
    )


def install_task_definitions() -> None:
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        return _register_from_cloudformation(cloudformation_json["Properties"], ecs_backends[account_id][region_name])

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        """A changed task definition is a new revision (the old one deregistered), as on AWS."""
        backend = ecs_backends[account_id][region_name]
        new = _register_from_cloudformation(cloudformation_json["Properties"], backend)
        same = all(getattr(new, a, None) == getattr(original_resource, a, None) for a in (
            "family", "container_definitions", "volumes", "network_mode", "compatibilities", "cpu", "memory",
            "task_role_arn", "execution_role_arn"))
        if same:
            backend.task_definitions[new.family].pop(new.revision, None)  # nothing changed: keep the original
            return original_resource
        backend.deregister_task_definition(original_resource.arn)
        return new

    TaskDefinition.create_from_cloudformation_json = classmethod(create)
    TaskDefinition.update_from_cloudformation_json = classmethod(update)


def install() -> None:
    install_task_definitions()

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        backend = ecs_backends[account_id][region_name]
        cluster = props["Cluster"].name if hasattr(props["Cluster"], "name") else props["Cluster"]
        name = props.get("ServiceName") or resource_name
        config = _camel(props.get("DeploymentConfiguration"))
        check(config)
        with LOCK:  # the ECS controller sees the service whole, its first service deployment included
            service = backend.create_service(
                cluster, name, int(props.get("DesiredCount") or 0),
                task_definition_str=_arn(props["TaskDefinition"], backend),
                load_balancers=_camel(props.get("LoadBalancers", [])),
                launch_type=props.get("LaunchType"),
                propagate_tags=props.get("PropagateTags", "NONE"),
                deployment_controller=_camel(props.get("DeploymentController")),
            )
            service.deployment_configuration = config or dict(DEFAULT_DEPLOYMENT_CONFIGURATION)
            service.network_configuration = _camel(props.get("NetworkConfiguration", {}))
            service.health_check_grace_period_seconds = int(props.get("HealthCheckGracePeriodSeconds", 0))
            service.deployments = [new_deployment(service, service.task_definition)]
            if native(service):
                start(backend, service, initial=True)
        return service

    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        props = cloudformation_json["Properties"]
        backend = ecs_backends[account_id][region_name]
        cluster = props["Cluster"].name if hasattr(props["Cluster"], "name") else props["Cluster"]
        with LOCK:  # a native deployment starts with the template's load balancers
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
        """A new task definition (or forceNewDeployment on a native service) starts a new PRIMARY
        deployment; on a native service, also a service deployment (deployer.sandbox.moto_ext.ecs_deployments)."""
        cluster = service_properties.get("cluster", "default")
        name = service_properties["service"].split("/")[-1]
        config = service_properties.pop("deployment_configuration", None)
        check(config)
        force = service_properties.pop("force_new_deployment", False)
        with LOCK:
            before = self._get_service(cluster, name)
            old_td, old_running = before.task_definition, before.running_count
            requested_td = service_properties.get("task_definition")
            service = original_update(self, service_properties)
            service.running_count = old_running  # the controller counts real tasks
            service.pending_count = 0
            if config:
                service.deployment_configuration = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **config}
            if requested_td:
                service.task_definition = self.describe_task_definition(requested_td).arn
            deployments = getattr(service, "deployments", None) or []
            if (requested_td and service.task_definition != old_td) or (force and native(service)):
                for d in deployments:
                    if d["status"] == "PRIMARY":
                        d["status"] = "ACTIVE"
                service.deployments = [new_deployment(service, service.task_definition)] + deployments
                if native(service):
                    start(self, service, initial=False)
                return service
            if force and deployments:  # moto's own forceNewDeployment: the PRIMARY deployment gets a new ID
                deployments[0]["id"] = f"ecs-svc/{mock_random.randint(0, 32**12)}"
                deployments[0]["createdAt"] = deployments[0]["updatedAt"] = utcnow()
            if deployments:
                primary = deployments[0]
                primary["desiredCount"] = service.desired_count
                if primary["runningCount"] != service.desired_count:
                    primary["rolloutState"] = "IN_PROGRESS"
        return service

    EC2ContainerServiceBackend.update_service = update_service
    install_create_service()


def install_create_service() -> None:
    """CreateService keeps deploymentConfiguration (AWS fills in the defaults); moto 5.2.5 drops it.
    A native service's creation is its first service deployment."""
    original = EC2ContainerServiceResponse.create_service

    def create_service(self):
        config = self._get_param("deploymentConfiguration")
        check(config)
        with LOCK:
            result = original(self)
            service = result.result["service"]
            service.deployment_configuration = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **(config or {})}
            if native(service):
                start(self.ecs_backend, service, initial=True)
        return result

    EC2ContainerServiceResponse.create_service = create_service
