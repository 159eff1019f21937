"""Templates: golden files for the examples, shape of each strategy, and our own checks."""

import copy
import json
import os

import pytest

from deployer.errors import SynthError
from deployer.spec import load_config, parse_config
from deployer.synth import checked, service_template
from deployer.synth.checks import check_template
from deployer.synth.render import render, templates_for
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("DEPLOYER_UPDATE_GOLDEN") == "1"


def resources_of(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _compare_golden(rendered: str, stem: str) -> None:
    """Set DEPLOYER_UPDATE_GOLDEN=1 to rewrite them after an intended change (then review the diff)."""
    path = GOLDEN / f"{stem}.template.json"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered)
    assert rendered == path.read_text(), f"{path.name} differs; rerun with DEPLOYER_UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize("stem", ["bootstrap", "judge", "cluster-demo", "web", "api", "worker-web", "checkout", "orders"])
def test_examples_match_golden_files(examples_config, stem):
    _compare_golden(render(templates_for(examples_config, [])[stem], "json"), stem)


def test_canary_service_has_two_colors_behind_weighted_listener(examples_config):
    t = service_template(examples_config.services["web"]).to_dict()
    services = resources_of(t, "AWS::ECS::Service")
    assert set(services) == {"BlueService", "GreenService"}
    assert set(resources_of(t, "AWS::ElasticLoadBalancingV2::TargetGroup")) == {"BlueTargetGroup", "GreenTargetGroup"}
    forward = t["Resources"]["Listener"]["Properties"]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert forward == [
        {"TargetGroupArn": {"Ref": "BlueTargetGroup"}, "Weight": {"Ref": "BlueWeight"}},
        {"TargetGroupArn": {"Ref": "GreenTargetGroup"}, "Weight": {"Ref": "GreenWeight"}},
    ]
    assert t["Parameters"]["BlueWeight"]["MaxValue"] == 999
    assert t["Parameters"]["GreenDesiredCount"]["Default"] == 0
    test_action = t["Resources"]["TestListener"]["Properties"]["DefaultActions"][0]
    assert test_action["TargetGroupArn"] == {"Fn::If": ["TestListenerOnBlue", {"Ref": "BlueTargetGroup"}, {"Ref": "GreenTargetGroup"}]}
    assert t["Resources"]["Record"]["Properties"]["Type"] == "A"
    blue = services["BlueService"]
    assert blue["DependsOn"] == ["Listener"]
    assert blue["Properties"]["TaskDefinition"] == {
        "Fn::If": ["BlueHasLiveTaskDefinition", {"Ref": "BlueTaskDefinitionArn"}, {"Ref": "TaskDefinition"}]
    }
    breaker = blue["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker == {"Enable": True, "Rollback": True}


def test_dns_bluegreen_has_an_alb_and_weighted_cname_per_color(examples_config):
    t = service_template(examples_config.services["api"]).to_dict()
    assert set(resources_of(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")) == {"BlueLoadBalancer", "GreenLoadBalancer"}
    records = resources_of(t, "AWS::Route53::RecordSet")
    assert {r["Properties"]["SetIdentifier"] for r in records.values()} == {"blue", "green"}
    for color, record in (("Blue", records["BlueRecord"]), ("Green", records["GreenRecord"])):
        assert record["Properties"]["Type"] == "CNAME"
        assert record["Properties"]["TTL"] == "30"
        assert record["Properties"]["Weight"] == {"Ref": f"{color}Weight"}
    assert t["Parameters"]["BlueWeight"]["MaxValue"] == 255
    listener = t["Resources"]["GreenListener"]["Properties"]["DefaultActions"][0]
    assert listener == {"TargetGroupArn": {"Ref": "GreenTargetGroup"}, "Type": "forward"}


def test_rolling_service_is_one_service_with_its_percents(examples_config):
    t = service_template(examples_config.services["worker-web"]).to_dict()
    services = resources_of(t, "AWS::ECS::Service")
    assert list(services) == ["Service"]
    config = services["Service"]["Properties"]["DeploymentConfiguration"]
    assert (config["MinimumHealthyPercent"], config["MaximumPercent"]) == (50, 100)
    assert "Weight" not in json.dumps(t["Resources"]["Listener"])


def test_security_groups_open_the_container_port_to_the_alb_only(examples_config):
    t = service_template(examples_config.services["web"]).to_dict()
    ingress = t["Resources"]["TaskSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert ingress == [
        {"FromPort": 8080, "ToPort": 8080, "IpProtocol": "tcp", "SourceSecurityGroupId": {"Fn::GetAtt": ["AlbSecurityGroup", "GroupId"]},
         "Description": "from the load balancer to the container port"}
    ]
    alb_ports = {r["FromPort"] for r in t["Resources"]["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]}
    assert alb_ports == {443, 80, 8080}  # HTTPS, its redirect, the test listener (from the VPC only)


def test_alarms_watch_5xx_and_p99_per_color(examples_config):
    t = service_template(examples_config.services["web"]).to_dict()
    alarms = resources_of(t, "AWS::CloudWatch::Alarm")
    assert set(alarms) == {"BlueTarget5xxAlarm", "BlueTargetP99Alarm", "GreenTarget5xxAlarm", "GreenTargetP99Alarm"}
    p99 = alarms["GreenTargetP99Alarm"]["Properties"]
    assert p99["ExtendedStatistic"] == "p99" and p99["Threshold"] == 1.0
    assert p99["TreatMissingData"] == "notBreaching"


def test_secrets_are_granted_by_arn_only():
    spec = parse_config(
        """
services:
  web:
    cluster: demo
    image: example/web:1
    secrets:
      DB_PASSWORD: arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf
      API_KEY: arn:aws:ssm:us-east-1:123456789012:parameter/api-key
    network: {vpc: vpc-0a1, subnets: [subnet-0a1, subnet-0a2]}
    load_balancer: {listener: {port: 443, protocol: HTTPS, certificate: 'arn:aws:acm:us-east-1:123456789012:certificate/abc'}}
"""
    ).services["web"]
    t = service_template(spec).to_dict()
    statements = t["Resources"]["ExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements == [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"]},
        {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": ["arn:aws:ssm:us-east-1:123456789012:parameter/api-key"]},
    ]
    assert "Policies" not in t["Resources"]["TaskRole"]["Properties"]
    listener = t["Resources"]["Listener"]["Properties"]
    assert listener["Protocol"] == "HTTPS" and listener["Certificates"][0]["CertificateArn"].startswith("arn:aws:acm")


SHARED_RULE = """
services:
  web:
    cluster: demo
    launch_type: EC2
    cpu: 256
    memory: 300
    image: example/web:1
    network: {vpc: vpc-0a1, subnets: [subnet-0a1, subnet-0a2]}
    load_balancer:
      rule:
        listener_arn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/0a1b/0c2d
        load_balancer_full_name: app/shared/0a1b
        alb_security_group: sg-0a1
        priority: 10
        hosts: [web.example.com]
    placement:
      strategies: [{type: spread, field: "attribute:ecs.availability-zone"}, {type: binpack, field: memory}]
      constraints: [{type: distinctInstance}]
    release: {strategy: canary}
"""


def test_shared_listener_rule_and_ec2_placement():
    t = service_template(parse_config(SHARED_RULE).services["web"]).to_dict()
    assert not resources_of(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    rule = t["Resources"]["ListenerRule"]["Properties"]
    assert rule["Conditions"] == [{"Field": "host-header", "HostHeaderConfig": {"Values": ["web.example.com"]}}]
    assert len(rule["Actions"][0]["ForwardConfig"]["TargetGroups"]) == 2
    blue = t["Resources"]["BlueService"]
    assert blue["DependsOn"] == ["ListenerRule"]
    assert [s["Type"] for s in blue["Properties"]["PlacementStrategies"]] == ["spread", "binpack"]
    assert blue["Properties"]["PlacementConstraints"] == [{"Type": "distinctInstance"}]
    dims = t["Resources"]["BlueTarget5xxAlarm"]["Properties"]["Dimensions"]
    assert dims[0] == {"Name": "LoadBalancer", "Value": "app/shared/0a1b"}


# --- our own checks, each on a template broken the way cfn-lint does not notice ---


@pytest.fixture
def canary_dict(examples_config):
    return service_template(examples_config.services["web"]).to_dict()


def _break(template: dict, how) -> list[str]:
    broken = copy.deepcopy(template)
    how(broken)
    return check_template(broken)


def test_checks_pass_on_every_example(examples_config):
    for stem, template in templates_for(examples_config, []).items():
        assert check_template(template.to_dict()) == [], stem


def test_check_alb_weight_parameter_bounds(canary_dict):
    def widen(t):
        t["Parameters"]["GreenWeight"]["MaxValue"] = 1000

    assert _break(canary_dict, widen) == ["Listener: ALB target group weight can be 0..1000; AWS accepts 0..999"]


def test_check_alb_literal_weight(canary_dict):
    def literal(t):
        t["Resources"]["Listener"]["Properties"]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"][0]["Weight"] = 1200

    assert _break(canary_dict, literal) == ["Listener: ALB target group weight can be 1200; AWS accepts 0..999"]


def test_check_route53_weight(examples_config):
    t = service_template(examples_config.services["api"]).to_dict()

    def literal(t):
        t["Resources"]["BlueRecord"]["Properties"]["Weight"] = 256

    assert _break(t, literal) == ["BlueRecord: Route53 record weight can be 256; AWS accepts 0..255"]


def test_check_container_name(canary_dict):
    def rename(t):
        t["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Name"] = "app"

    found = _break(canary_dict, rename)
    assert found == [
        "BlueService: LoadBalancers ContainerName 'web' is not a container of TaskDefinition (app)",
        "GreenService: LoadBalancers ContainerName 'web' is not a container of TaskDefinition (app)",
    ]


def test_check_service_depends_on_listener(canary_dict):
    def drop(t):
        del t["Resources"]["GreenService"]["DependsOn"]

    assert _break(canary_dict, drop) == [
        "GreenService: must DependsOn the listener or rule that forwards to its target group (ECS rejects a target group with no load balancer)"
    ]


def test_check_awsvpc_needs_ip_targets(canary_dict):
    def instance(t):
        t["Resources"]["BlueTargetGroup"]["Properties"]["TargetType"] = "instance"

    assert _break(canary_dict, instance) == ["BlueTargetGroup: TargetType must be ip for awsvpc tasks of BlueService (is instance)"]


def test_check_maximum_percent(canary_dict):
    def low(t):
        t["Resources"]["BlueService"]["Properties"]["DeploymentConfiguration"]["MaximumPercent"] = 90

    found = _break(canary_dict, low)
    assert "BlueService: DeploymentConfiguration MaximumPercent is 90; it must be at least 100" in found


def test_checked_raises_with_every_problem(canary_dict, examples_config):
    from troposphere import Template

    template = service_template(examples_config.services["web"])
    template.parameters["GreenWeight"].properties["MaxValue"] = 5000
    with pytest.raises(SynthError) as info:
        checked(template)
    assert info.value.problems == ["Listener: ALB target group weight can be 0..5000; AWS accepts 0..999"]
    assert isinstance(template, Template)


def test_yaml_format_renders(examples_config):
    text = render(templates_for(examples_config, ["web"])["web"], "yaml")
    assert "AWS::ECS::Service" in text and "Fn::If" in text or "!If" in text
