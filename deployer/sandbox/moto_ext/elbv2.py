"""ELBv2 in CloudFormation: the Fn::GetAtt attributes our templates read.

AWS documents for AWS::ElasticLoadBalancingV2::LoadBalancer the attributes LoadBalancerFullName
(`app/<name>/<id>`, the CloudWatch dimension), CanonicalHostedZoneID and SecurityGroups; for
AWS::ElasticLoadBalancingV2::TargetGroup, TargetGroupFullName (`targetgroup/<name>/<id>`) and
TargetGroupName. moto 5.2.5 raises NotImplementedError for them, which drops stack outputs.
It also ignores a target group's TargetGroupAttributes in CloudFormation, so every group drained
for the default 300 s whatever the template said, and a load balancer's LoadBalancerAttributes
(access logs, header dropping, desync mode, idle timeout read back as the defaults).
"""

from __future__ import annotations

from moto.elbv2.models import FakeLoadBalancer, FakeTargetGroup

# ALB hosted zone IDs per region, as listed in the AWS general reference (Elastic Load Balancing endpoints).
ALB_HOSTED_ZONES = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-1": "Z368ELLRRE2KJ0",
    "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-central-1": "Z215JYRZR1TBD5",
}


def full_name(arn: str, marker: str) -> str:
    """`arn:...:loadbalancer/app/web/0a1b` -> `app/web/0a1b` (marker `loadbalancer/`)."""
    return arn.split(marker, 1)[1] if marker in arn else arn


def install() -> None:
    lb_original = FakeLoadBalancer.get_cfn_attribute

    def lb_attribute(self, attribute_name: str):
        if attribute_name == "LoadBalancerFullName":
            return full_name(self.arn, ":loadbalancer/")
        if attribute_name == "CanonicalHostedZoneID":
            region = self.arn.split(":")[3]
            return ALB_HOSTED_ZONES.get(region, ALB_HOSTED_ZONES["us-east-1"])
        if attribute_name == "SecurityGroups":
            return list(self.security_groups)
        return lb_original(self, attribute_name)

    def tg_attribute(self, attribute_name: str):
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "TargetGroupFullName":
            return self.arn.rsplit(":", 1)[1]
        if attribute_name == "TargetGroupName":
            return self.name
        if attribute_name == "LoadBalancerArns":
            return list(self.load_balancer_arns)
        raise UnformattedGetAttTemplateException()

    _keep_attributes(FakeTargetGroup, "TargetGroupAttributes", lambda group: group.attributes)
    _keep_attributes(FakeLoadBalancer, "LoadBalancerAttributes", lambda balancer: balancer.attrs)
    FakeLoadBalancer.get_cfn_attribute = lb_attribute
    FakeTargetGroup.get_cfn_attribute = tg_attribute
    FakeTargetGroup.has_cfn_attr = classmethod(lambda cls, attr: attr in ("TargetGroupFullName", "TargetGroupName", "LoadBalancerArns"))


def _keep_attributes(model, property_name: str, attributes_of) -> None:
    """After moto creates `model` from CloudFormation, apply its `property_name` key/value list."""
    create = model.create_from_cloudformation_json.__func__

    def create_with_attributes(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        made = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        for attribute in cloudformation_json["Properties"].get(property_name) or []:
            attributes_of(made)[attribute["Key"]] = str(attribute["Value"])
        return made

    model.create_from_cloudformation_json = classmethod(create_with_attributes)


# Target health the sandbox measured with real HTTP checks: (target group ARN, target id) -> (state, reason).
# Targets the health checker has not judged yet are "initial", as on AWS right after registration.


def install_forward_config() -> None:
    """AWS::ElasticLoadBalancingV2::Listener accepts a forward action with a weighted ForwardConfig
    (AWS documents ForwardConfig.TargetGroups[].Weight 0..999). moto 5.2.5 reads only TargetGroupArn
    and fails with HTTP 500."""
    from moto.elbv2.models import ELBv2Backend

    original = ELBv2Backend.convert_and_validate_properties

    def convert_and_validate_properties(self, properties):
        actions = properties["DefaultActions"]
        if not any(a.get("Type") == "forward" and "ForwardConfig" in a for a in actions):
            return original(self, properties)
        converted = []
        for action in actions:
            if action.get("Type") == "forward" and "ForwardConfig" in action:
                groups = [{"TargetGroupArn": g["TargetGroupArn"], "Weight": int(g.get("Weight", 1))}
                          for g in action["ForwardConfig"]["TargetGroups"]]
                converted.append({"Type": "forward", "ForwardConfig": {"TargetGroups": groups}})
            else:
                converted.extend(original(self, {"DefaultActions": [action]}))
        return converted

    ELBv2Backend.convert_and_validate_properties = convert_and_validate_properties


def install_health(target_health) -> None:
    """DescribeTargetHealth reports what the sandbox's health checker saw (`target_health`, the
    sandbox process's one TargetHealth), not `healthy` at once."""
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    original = FakeTargetGroup.health_for

    def health_for(self, target, ec2_backend):
        registered = self.targets.get(target["Id"])
        if registered is None or target["Id"].startswith("i-"):
            return original(self, target, ec2_backend)
        state, reason = target_health.describe(self.arn, target["Id"])
        description = {"initial": "Target registration is in progress", "unhealthy": "Health checks failed",
                       "draining": "Target deregistration is in progress"}.get(state)
        return FakeHealthStatus(target["Id"], registered["Port"], self.health_check_port, state,
                                None if state == "healthy" else reason, description)

    FakeTargetGroup.health_for = health_for
