"""Security groups: clients -> ALB on the listener ports, ALB -> tasks on the container port only. Pure.

Who reaches which listener is the spec's: the main listener (and its HTTP redirect) takes
`load_balancer.allowed_cidrs`; the test listener, which serves the unreleased color, takes only
its own `allowed_cidrs` / `allowed_security_groups` and is closed to everyone else by default.
Every rule carries a description saying what it is for.
"""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template
from troposphere.ec2 import SecurityGroup, SecurityGroupRule

from deployer.spec import Service
from deployer.synth import names
from deployer.synth.notes import note

PUBLIC = "0.0.0.0/0"


def add_security_groups(t: Template, service: Service) -> None:
    lb = service.load_balancer
    if lb.rule is None:
        t.add_resource(_alb_security_group(service))
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
                    Description="from the load balancer to the container port",
                )
            ],
        )
    )


def _alb_security_group(service: Service) -> SecurityGroup:
    lb = service.load_balancer
    rules: list[SecurityGroupRule] = []

    def allow(port: int, what: str, cidrs, groups) -> None:
        for cidr in cidrs:
            rules.append(_rule(port, f"{what} from {cidr}", CidrIp=cidr))
        for group in groups:
            rules.append(_rule(port, f"{what} from {group}", SourceSecurityGroupId=group))

    main = lb.listener
    allow(main.port, f"{main.protocol} listener", lb.allowed_cidrs, main.allowed_security_groups)
    if lb.redirects_http:
        allow(lb.http_redirect_port, "HTTP redirect to HTTPS", lb.allowed_cidrs, main.allowed_security_groups)
    test = lb.test_listener
    if test is not None:
        allow(test.port, "test listener (unreleased color)", test.allowed_cidrs or [], test.allowed_security_groups)
    group = SecurityGroup(
        names.ALB_SECURITY_GROUP,
        GroupDescription=f"{service.name} load balancer",
        VpcId=service.network.vpc,
        SecurityGroupIngress=rules,
    )
    if PUBLIC in lb.allowed_cidrs:
        open_ports = [main.port] + ([lb.http_redirect_port] if lb.redirects_http else [])
        note(group, f"ingress from {PUBLIC} to port(s) {', '.join(map(str, open_ports))}",
             "A public (internet-facing) service: its clients are anyone. "
             + ("Port 80 only redirects to HTTPS. " if lb.redirects_http else "")
             + "Narrow load_balancer.allowed_cidrs for an internal service; "
             "the test listener is never opened to the internet by default.")
    return group


def _rule(port: int, description: str, **source) -> SecurityGroupRule:
    return SecurityGroupRule(IpProtocol="tcp", FromPort=port, ToPort=port, Description=description[:255], **source)


def task_security_groups(service: Service) -> list:
    return [GetAtt(names.TASK_SECURITY_GROUP, "GroupId"), *service.network.security_groups]


def alb_security_groups() -> list:
    return [Ref(names.ALB_SECURITY_GROUP)]
