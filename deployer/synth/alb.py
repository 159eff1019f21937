"""Load balancing: target groups (one per color), the ALB(s), listeners and weighted forwards. Pure.

Three shapes, chosen by the spec:
- one ALB whose listener (and optional test listener) forwards to the colors by weight;
- a rule on an existing shared listener, forwarding by weight (no ALB of our own);
- DNS blue/green: one ALB per color, each listener forwarding to its own color only.
"""

from __future__ import annotations

from troposphere import GetAtt, If, Ref, Template
from troposphere.elasticloadbalancingv2 import (
    Action,
    Certificate,
    Condition,
    ForwardConfig,
    HostHeaderConfig,
    Listener,
    ListenerRule,
    ListenerRuleAction,
    LoadBalancer,
    LoadBalancerAttributes,
    Matcher,
    PathPatternConfig,
    TargetGroup,
    TargetGroupAttribute,
    TargetGroupTuple,
)

from deployer.spec import Service
from deployer.spec.models import Listener as ListenerSpec
from deployer.synth import names, network


def add_load_balancing(t: Template, service: Service) -> None:
    for color in service.colors:
        t.add_resource(_target_group(service, color))
    lb = service.load_balancer
    if lb.rule is not None:
        t.add_resource(_shared_listener_rule(service))
    elif service.dns_switched:
        for color in service.colors:
            t.add_resource(_load_balancer(service, names.load_balancer(color)))
            t.add_resource(
                _listener(names.color_listener(color), names.load_balancer(color), lb.listener, _forward_only(color))
            )
    else:
        t.add_resource(_load_balancer(service, names.load_balancer()))
        t.add_resource(_listener(names.LISTENER, names.load_balancer(), lb.listener, _weighted_forward(service)))
        if lb.test_listener is not None:
            test_target = If("TestListenerOnBlue", Ref(names.target_group("blue")), Ref(names.target_group("green")))
            t.add_resource(
                _listener(
                    names.TEST_LISTENER,
                    names.load_balancer(),
                    lb.test_listener,
                    Action(Type="forward", TargetGroupArn=test_target),
                )
            )


def traffic_resource(service: Service, color: str) -> str:
    """Logical ID of the listener or rule that must exist before `color`'s service is created."""
    if service.load_balancer.rule is not None:
        return names.LISTENER_RULE
    if service.dns_switched:
        return names.color_listener(color)
    return names.LISTENER


def _target_group(service: Service, color: str) -> TargetGroup:
    hc = service.health_check
    return TargetGroup(
        names.target_group(color),
        TargetType="ip",  # awsvpc tasks register by IP
        Protocol="HTTP",
        Port=service.container_port,
        VpcId=service.network.vpc,
        HealthCheckEnabled=True,
        HealthCheckPath=hc.path,
        HealthCheckIntervalSeconds=hc.interval,
        HealthCheckTimeoutSeconds=hc.timeout,
        HealthyThresholdCount=hc.healthy_threshold,
        UnhealthyThresholdCount=hc.unhealthy_threshold,
        Matcher=Matcher(HttpCode=hc.matcher),
        TargetGroupAttributes=[
            TargetGroupAttribute(Key="deregistration_delay.timeout_seconds", Value=str(service.deregistration_delay))
        ],
    )


def _load_balancer(service: Service, logical_id: str) -> LoadBalancer:
    lb = service.load_balancer
    return LoadBalancer(
        logical_id,
        Type="application",
        Scheme=lb.scheme,
        Subnets=list(lb.subnets or service.network.subnets),
        SecurityGroups=network.alb_security_groups(),
        LoadBalancerAttributes=[LoadBalancerAttributes(Key="idle_timeout.timeout_seconds", Value=str(lb.idle_timeout))],
    )


def _listener(logical_id: str, alb: str, spec: ListenerSpec, action: Action) -> Listener:
    extra = {}
    if spec.protocol == "HTTPS":
        extra = {"Certificates": [Certificate(CertificateArn=spec.certificate)], "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}
    return Listener(
        logical_id, LoadBalancerArn=Ref(alb), Port=spec.port, Protocol=spec.protocol, DefaultActions=[action], **extra
    )


def _forward_only(color: str) -> Action:
    return Action(Type="forward", TargetGroupArn=Ref(names.target_group(color)))


def _weighted_forward(service: Service, action_class: type = Action):
    """Forward to the colors by weight (listener actions and rule actions are distinct types)."""
    if service.colors == ("main",):
        return action_class(Type="forward", TargetGroupArn=Ref(names.target_group("main")))
    return action_class(
        Type="forward",
        ForwardConfig=ForwardConfig(
            TargetGroups=[
                TargetGroupTuple(TargetGroupArn=Ref(names.target_group(color)), Weight=Ref(names.param_weight(color)))
                for color in service.colors
            ]
        ),
    )


def _shared_listener_rule(service: Service) -> ListenerRule:
    rule = service.load_balancer.rule
    conditions = []
    if rule.hosts:
        conditions.append(Condition(Field="host-header", HostHeaderConfig=HostHeaderConfig(Values=list(rule.hosts))))
    if rule.paths:
        conditions.append(Condition(Field="path-pattern", PathPatternConfig=PathPatternConfig(Values=list(rule.paths))))
    return ListenerRule(
        names.LISTENER_RULE,
        ListenerArn=rule.listener_arn,
        Priority=rule.priority,
        Conditions=conditions,
        Actions=[_weighted_forward(service, ListenerRuleAction)],
    )


def load_balancer_full_name(service: Service, color: str | None = None):
    """Value of the `LoadBalancer` metric dimension for `color`'s target group."""
    if service.load_balancer.rule is not None:
        return service.load_balancer.rule.load_balancer_full_name
    logical_id = names.load_balancer(color if service.dns_switched else None)
    return GetAtt(logical_id, "LoadBalancerFullName")
