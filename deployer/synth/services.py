"""The ECS service(s): one for a rolling service or under engine ecs, blue and green for
deployer's canary/linear/bluegreen. Pure.

Task definition and desired count come from stack parameters (the live values, filled in by
`provision`), so CloudFormation never moves a service off the revision a release put there.
"""

from __future__ import annotations

from troposphere import If, Ref, Template
from troposphere.ecs import (
    AwsvpcConfiguration,
    DeploymentCircuitBreaker,
    DeploymentConfiguration,
    DeploymentController,
    LoadBalancer,
    NetworkConfiguration,
    PlacementConstraint,
    PlacementStrategy,
    Service as EcsService,
)

from deployer.spec import Service
from deployer.synth import alarms, alb, names, native, network


def _deployment(service: Service) -> DeploymentConfiguration:
    """How ECS moves tasks (and, under engine ecs, traffic)."""
    if service.release.native:
        return native.deployment_configuration(service, alarms.alarm_names(service))
    low, high = service.release.rolling.percents
    config = DeploymentConfiguration(
        MinimumHealthyPercent=low,
        MaximumPercent=high,
        DeploymentCircuitBreaker=DeploymentCircuitBreaker(
            Enable=service.release.circuit_breaker, Rollback=service.release.circuit_breaker
        ),
    )
    return config


def _load_balancers(service: Service, color: str) -> list[LoadBalancer]:
    if native.two_target_groups(service):
        return native.load_balancers(service)
    return [LoadBalancer(ContainerName=service.name, ContainerPort=service.container_port,
                         TargetGroupArn=Ref(names.target_group(color)))]


def add_services(t: Template, service: Service) -> None:
    deployment = _deployment(service)
    for color in service.colors:
        # ECS rejects a target group no listener forwards to; under engine ecs the service Refs its
        # rules, which orders it after them already (an explicit DependsOn would repeat that).
        depends = {} if native.two_target_groups(service) else {"DependsOn": [alb.traffic_resource(service, color)]}
        extra = {}
        if service.placement is not None:
            extra["PlacementStrategies"] = [
                PlacementStrategy(Type=s.type, **({"Field": s.field} if s.field else {}))
                for s in service.placement.strategies
            ]
            extra["PlacementConstraints"] = [
                PlacementConstraint(Type=c.type, **({"Expression": c.expression} if c.expression else {}))
                for c in service.placement.constraints
            ]
        t.add_resource(
            EcsService(
                names.ecs_service(color),
                ServiceName=service.ecs_service_name(color),
                Cluster=service.cluster,
                LaunchType=service.launch_type,
                TaskDefinition=If(
                    names.condition_live_task_definition(color),
                    Ref(names.param_task_definition(color)),
                    Ref(names.TASK_DEFINITION),
                ),
                DesiredCount=Ref(names.param_desired_count(color)),
                HealthCheckGracePeriodSeconds=service.health_check.grace_period,
                DeploymentController=DeploymentController(Type="ECS"),
                DeploymentConfiguration=deployment,
                LoadBalancers=_load_balancers(service, color),
                NetworkConfiguration=NetworkConfiguration(
                    AwsvpcConfiguration=AwsvpcConfiguration(
                        Subnets=list(service.network.subnets),
                        SecurityGroups=network.task_security_groups(service),
                        AssignPublicIp="ENABLED" if service.network.assign_public_ip else "DISABLED",
                    )
                ),
                PropagateTags="SERVICE",
                EnableECSManagedTags=True,
                **extra,
                **depends,
            )
        )
