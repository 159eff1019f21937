"""Task definition and its log group. Pure.

The container is named after the service; the ECS services' load balancer mappings use
that same name (checked by `deployer.synth.checks`). Its root filesystem is read-only unless
the spec says otherwise; `scratch_paths` become empty task-storage volumes mounted writable.
It is never privileged.
"""

from __future__ import annotations

from troposphere import Ref, Region, Template
from troposphere.ecs import (
    ContainerDefinition,
    Environment,
    LogConfiguration,
    MountPoint,
    PortMapping,
    Secret,
    TaskDefinition,
    Volume,
)
from troposphere.logs import LogGroup

from deployer.spec import Service
from deployer.synth import iam, names
from deployer.synth.notes import note


def log_group_name(service: Service) -> str:
    return f"/deployer/{service.name}"


def scratch_volume(index: int) -> str:
    return f"scratch-{index}"


def container_definition(service: Service, image) -> ContainerDefinition:
    return ContainerDefinition(
        Name=service.name,
        Image=image,
        Essential=True,
        Privileged=False,
        ReadonlyRootFilesystem=service.readonly_root_filesystem,
        MountPoints=[
            MountPoint(SourceVolume=scratch_volume(i), ContainerPath=path, ReadOnly=False)
            for i, path in enumerate(service.scratch_paths)
        ],
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
    log_group = LogGroup(names.LOG_GROUP, LogGroupName=log_group_name(service), RetentionInDays=service.log_retention_days)
    if service.kms_key:
        log_group.KmsKeyId = service.kms_key
    else:
        note(log_group, "log group is not encrypted with a customer-managed KMS key",
             "CloudWatch Logs encrypts it with its own keys. A customer-managed key costs money and needs a key "
             "policy that lets CloudWatch Logs use it: set kms_key when you have one.")
    t.add_resource(log_group)
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
            Volumes=[Volume(Name=scratch_volume(i)) for i in range(len(service.scratch_paths))],
        )
    )
