"""Security groups: clients -> ALB on the listener ports, ALB -> tasks on the container port only. Pure."""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template
from troposphere.ec2 import SecurityGroup, SecurityGroupRule

from deployer.spec import Service
from deployer.synth import names


def add_security_groups(t: Template, service: Service) -> None:
    lb = service.load_balancer
    if lb.rule is None:
        ports = [lb.listener.port] + ([lb.test_listener.port] if lb.test_listener else [])
        t.add_resource(
            SecurityGroup(
                names.ALB_SECURITY_GROUP,
                GroupDescription=f"{service.name} load balancer",
                VpcId=service.network.vpc,
                SecurityGroupIngress=[
                    SecurityGroupRule(IpProtocol="tcp", FromPort=port, ToPort=port, CidrIp=cidr)
                    for port in ports
                    for cidr in lb.allowed_cidrs
                ],
            )
        )
        alb_group = GetAtt(names.ALB_SECURITY_GROUP, "GroupId")
    else:
        alb_group = lb.rule.alb_security_group
    t.add_resource(
        SecurityGroup(
            names.TASK_SECURITY_GROUP,
            GroupDescription=f"{service.name} tasks, reachable from its load balancer only",
            VpcId=service.network.vpc,
            SecurityGroupIngress=[
                SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=service.container_port,
                    ToPort=service.container_port,
                    SourceSecurityGroupId=alb_group,
                )
            ],
        )
    )


def task_security_groups(service: Service) -> list:
    return [GetAtt(names.TASK_SECURITY_GROUP, "GroupId"), *service.network.security_groups]


def alb_security_groups() -> list:
    return [Ref(names.ALB_SECURITY_GROUP)]
