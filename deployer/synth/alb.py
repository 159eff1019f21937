"""Load balancing: target groups (one per color), the ALB(s), listeners and weighted forwards. Pure.

Three shapes, chosen by the spec:
- one ALB whose listener (and optional test listener) forwards to the colors by weight;
- a rule on an existing shared listener, forwarding by weight (no ALB of our own);
- DNS blue/green: one ALB per color, each listener forwarding to its own color only.

Every ALB drops invalid header fields and names its desync mitigation mode; an HTTPS listener
gets a neighbour on `http_redirect_port` that answers only with a redirect to it; access logs
go to the bucket the spec names (the bootstrap stack's by default, imported so it is ours).
"""

from __future__ import annotations

from troposphere import GetAtt, If, ImportValue, Ref, Template
from troposphere.elasticloadbalancingv2 import (
    Action,
    RedirectConfig,
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
from deployer.synth import names, native, network
from deployer.synth.notes import note


def add_load_balancing(t: Template, service: Service) -> None:
    for color in service.target_colors:
        t.add_resource(_target_group(service, color))
    lb = service.load_balancer
    if native.two_target_groups(service) and lb.rule is None:
        _add_native_listeners(t, service)
    elif lb.rule is not None:
        t.add_resource(_shared_listener_rule(service))
    elif service.dns_switched:
        for color in service.colors:
            t.add_resource(_load_balancer(service, names.load_balancer(color)))
            t.add_resource(
                _listener(names.color_listener(color), names.load_balancer(color), lb.listener, _forward_only(color))
            )
            if lb.redirects_http:
                t.add_resource(_redirect_listener(service, names.redirect_listener(color), names.load_balancer(color)))
    else:
        t.add_resource(_load_balancer(service, names.load_balancer()))
        t.add_resource(_listener(names.LISTENER, names.load_balancer(), lb.listener, _weighted_forward(service)))
        if lb.redirects_http:
            t.add_resource(_redirect_listener(service, names.redirect_listener(), names.load_balancer()))
        if lb.test_listener is not None:
            test_target = If("TestListenerOnBlue", Ref(names.target_group("blue")), Ref(names.target_group("green")))
            t.add_resource(
                _listener(
                    names.TEST_LISTENER,
                    names.load_balancer(),
                    lb.test_listener,
                    Action(Type="forward", TargetGroupArn=test_target),
                    test=True,
                )
            )


def _add_native_listeners(t: Template, service: Service) -> None:
    """ECS moves rule weights, never a listener's default action, and every request matches a rule.
    The listeners keep the same weighted forward as deployer's own engine, so a service that changes
    engine keeps being served while CloudFormation swaps its ECS services (README: engines)."""
    lb = service.load_balancer
    t.add_resource(_load_balancer(service, names.load_balancer()))
    t.add_resource(_listener(names.LISTENER, names.load_balancer(), lb.listener, _weighted_forward(service)))
    if lb.redirects_http:
        t.add_resource(_redirect_listener(service, names.redirect_listener(), names.load_balancer()))
    if lb.test_listener is not None:
        t.add_resource(_listener(names.TEST_LISTENER, names.load_balancer(), lb.test_listener, _weighted_forward(service), test=True))
    native.add_rules(t, service, _weighted_forward(service, ListenerRuleAction))


def traffic_resource(service: Service, color: str) -> str:
    """Logical ID of the listener or rule that must exist before `color`'s service is created."""
    if native.two_target_groups(service):
        return native.production_rule(service)
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
    attributes = {
        "idle_timeout.timeout_seconds": str(lb.idle_timeout),
        "routing.http.drop_invalid_header_fields.enabled": str(lb.drop_invalid_header_fields).lower(),
        "routing.http.desync_mitigation_mode": lb.desync_mitigation_mode,
        "access_logs.s3.enabled": str(lb.access_logs is not None).lower(),
    }
    if lb.access_logs is not None:
        attributes["access_logs.s3.bucket"] = access_logs_bucket(service)
        attributes["access_logs.s3.prefix"] = lb.access_logs.prefix or service.name
    resource = LoadBalancer(
        logical_id,
        Type="application",
        Scheme=lb.scheme,
        Subnets=list(lb.subnets or service.network.subnets),
        SecurityGroups=network.alb_security_groups(),
        LoadBalancerAttributes=[LoadBalancerAttributes(Key=k, Value=v) for k, v in attributes.items()],
    )
    if lb.access_logs is None:
        note(resource, "ALB access logging is disabled",
             "Access logs cost S3 storage, so they are a choice: set load_balancer.access_logs "
             "(bucket: bootstrap uses the encrypted, lifecycle-managed bucket of `deployer bootstrap`).")
    return resource


def access_logs_bucket(service: Service):
    bucket = service.load_balancer.access_logs.bucket
    return ImportValue(names.ACCESS_LOGS_EXPORT) if bucket == "bootstrap" else bucket


def _listener(logical_id: str, alb: str, spec: ListenerSpec, action: Action, *, test: bool = False) -> Listener:
    extra = {}
    if spec.protocol == "HTTPS":
        extra = {"Certificates": [Certificate(CertificateArn=spec.certificate)], "SslPolicy": spec.ssl_policy}
    resource = Listener(
        logical_id, LoadBalancerArn=Ref(alb), Port=spec.port, Protocol=spec.protocol, DefaultActions=[action], **extra
    )
    if spec.protocol == "HTTP":
        if test:
            note(resource, "listener protocol is HTTP, not HTTPS",
                 "The test listener serves the unreleased color to pre-traffic checks from inside the VPC "
                 "(test_listener.allowed_cidrs / allowed_security_groups; nobody else by default). "
                 "Set test_listener.protocol HTTPS with a certificate to encrypt that hop too.")
        else:
            note(resource, "listener protocol is HTTP, not HTTPS",
                 "Set load_balancer.listener.protocol HTTPS with an ACM certificate; "
                 "port 80 then only redirects to it (load_balancer.http_redirect_port).")
    return resource


def _redirect_listener(service: Service, logical_id: str, alb: str) -> Listener:
    """Plain HTTP that answers every request with a permanent redirect to the HTTPS listener."""
    lb = service.load_balancer
    redirect = RedirectConfig(Protocol="HTTPS", Port=str(lb.listener.port), StatusCode="HTTP_301")
    return Listener(
        logical_id,
        LoadBalancerArn=Ref(alb),
        Port=lb.http_redirect_port,
        Protocol="HTTP",
        DefaultActions=[Action(Type="redirect", RedirectConfig=redirect)],
    )


def _forward_only(color: str) -> Action:
    return Action(Type="forward", TargetGroupArn=Ref(names.target_group(color)))


def _weighted_forward(service: Service, action_class: type = Action):
    """Forward to the colors by weight (listener actions and rule actions are distinct types)."""
    if service.target_colors == ("main",):
        return action_class(Type="forward", TargetGroupArn=Ref(names.target_group("main")))
    return action_class(
        Type="forward",
        ForwardConfig=ForwardConfig(
            TargetGroups=[
                TargetGroupTuple(TargetGroupArn=Ref(names.target_group(color)), Weight=Ref(names.param_weight(color)))
                for color in service.target_colors
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
