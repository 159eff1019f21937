"""Task definition and its log group. Pure.

The container is named after the service; the ECS services' load balancer mappings use
that same name (checked by `deployer.synth.checks`).
"""

from __future__ import annotations

from troposphere import Ref, Region, Template
from troposphere.ecs import ContainerDefinition, Environment, LogConfiguration, PortMapping, Secret, TaskDefinition
from troposphere.logs import LogGroup

from deployer.spec import Service
from deployer.synth import iam, names


def log_group_name(service: Service) -> str:
    return f"/deployer/{service.name}"


def container_definition(service: Service, image) -> ContainerDefinition:
    return ContainerDefinition(
        Name=service.name,
        Image=image,
        Essential=True,
        PortMappings=[PortMapping(ContainerPort=service.container_port, Protocol="tcp")],
        Environment=[Environment(Name=k, Value=v) for k, v in sorted(service.environment.items())],
        Secrets=[Secret(Name=k, ValueFrom=v) for k, v in sorted(service.secrets.items())],
        LogConfiguration=LogConfiguration(
            LogDriver="awslogs",
            Options={
                "awslogs-group": Ref(names.LOG_GROUP),
                "awslogs-region": Region,
                "awslogs-stream-prefix": service.name,
            },
        ),
    )


def add_task_definition(t: Template, service: Service) -> None:
    t.add_resource(
        LogGroup(names.LOG_GROUP, LogGroupName=log_group_name(service), RetentionInDays=service.log_retention_days)
    )
    t.add_resource(
        TaskDefinition(
            names.TASK_DEFINITION,
            Family=service.name,
            NetworkMode="awsvpc",
            RequiresCompatibilities=[service.launch_type],
            Cpu=str(service.cpu),
            Memory=str(service.memory),
            ExecutionRoleArn=iam.execution_role_arn(),
            TaskRoleArn=iam.task_role_arn(),
            ContainerDefinitions=[container_definition(service, Ref(names.PARAM_IMAGE))],
        )
    )
