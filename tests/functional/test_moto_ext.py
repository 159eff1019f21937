"""Each sandbox extension of moto, checked against the AWS behaviour it imitates."""

from __future__ import annotations

import json

from tests.functional.conftest import client


def create_stack_by_change_set(name: str, template: dict, parameters: dict | None = None, change_type: str = "CREATE") -> None:
    cfn = client("cloudformation")
    cs = cfn.create_change_set(
        StackName=name,
        ChangeSetName=f"cs-{change_type.lower()}",
        ChangeSetType=change_type,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
    )
    cfn.execute_change_set(ChangeSetName=cs["Id"])


def test_stack_from_change_set_has_outputs_and_parameters(aws):
    """AWS: DescribeStacks shows Outputs and the change set's Parameters once it is executed."""
    template = {
        "Parameters": {"Size": {"Type": "String"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "Size"}}}},
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}, "Size": {"Value": {"Ref": "Size"}}},
    }
    create_stack_by_change_set("s", template, {"Size": "small"})
    stack = client("cloudformation").describe_stacks(StackName="s")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["Size"] == "small" and outputs["TopicArn"].startswith("arn:aws:sns:")
    create_stack_by_change_set("s", template, {"Size": "large"}, change_type="UPDATE")
    stack = client("cloudformation").describe_stacks(StackName="s")["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {"Size": "large"}
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Size"] == "large"


def test_alb_and_target_group_full_names(spec_path):
    """AWS: LoadBalancerFullName is `app/<name>/<id>`, TargetGroupFullName is `targetgroup/<name>/<id>`;
    TargetGroupAttributes from the template apply (the deregistration delay)."""
    ec2 = client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    template = {
        "Resources": {
            "Alb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Subnets": subnets}},
            "Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
                "VpcId": vpc, "Port": 80, "Protocol": "HTTP",
                "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "7"}]}},
        },
        "Outputs": {
            "Lb": {"Value": {"Fn::GetAtt": ["Alb", "LoadBalancerFullName"]}},
            "Zone": {"Value": {"Fn::GetAtt": ["Alb", "CanonicalHostedZoneID"]}},
            "Tg": {"Value": {"Fn::GetAtt": ["Tg", "TargetGroupFullName"]}},
        },
    }
    create_stack_by_change_set("lb", template)
    stack = client("cloudformation").describe_stacks(StackName="lb")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    lb_arn = client("elbv2").describe_load_balancers()["LoadBalancers"][0]["LoadBalancerArn"]
    tg_arn = client("elbv2").describe_target_groups()["TargetGroups"][0]["TargetGroupArn"]
    assert outputs["Lb"] == lb_arn.split(":loadbalancer/")[1] and outputs["Lb"].startswith("app/")
    assert outputs["Tg"] == tg_arn.split(":")[-1] and outputs["Tg"].startswith("targetgroup/")
    assert outputs["Zone"] == "Z35SXDOTRQ7X7K"
    attributes = client("elbv2").describe_target_group_attributes(TargetGroupArn=tg_arn)["Attributes"]
    assert {a["Key"]: a["Value"] for a in attributes}["deregistration_delay.timeout_seconds"] == "7"


def test_updating_one_weighted_record_keeps_the_other(aws):
    """AWS: a weighted record set is keyed by name, type and SetIdentifier."""
    client("route53").create_hosted_zone(Name="example.com", CallerReference="r")

    def record(color: str, weight: int, ttl: str) -> dict:
        return {
            "Type": "AWS::Route53::RecordSet",
            "Properties": {"HostedZoneName": "example.com.", "Name": "api.example.com.", "Type": "CNAME", "TTL": ttl,
                           "SetIdentifier": color, "Weight": weight, "ResourceRecords": [f"{color}.example.net"]},
        }

    create_stack_by_change_set("dns", {"Resources": {"Blue": record("blue", 100, "60"), "Green": record("green", 0, "60")}})
    create_stack_by_change_set("dns", {"Resources": {"Blue": record("blue", 100, "60"), "Green": record("green", 5, "30")}}, change_type="UPDATE")
    zone = client("route53").list_hosted_zones_by_name(DNSName="example.com.")["HostedZones"][0]["Id"]
    sets = client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    weighted = {r["SetIdentifier"]: (r["Weight"], r["TTL"]) for r in sets if "SetIdentifier" in r}
    assert weighted == {"blue": (100, 60), "green": (5, 30)}


def test_task_definition_from_cloudformation_keeps_its_properties(aws):
    """AWS: AWS::ECS::TaskDefinition keeps NetworkMode, RequiresCompatibilities, Cpu, Memory and the roles;
    containers read back in camelCase; a changed one is a new revision."""
    def template(image: str, family: str = "web") -> dict:
        return {"Resources": {"Td": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            "Family": family, "NetworkMode": "awsvpc", "RequiresCompatibilities": ["FARGATE"], "Cpu": "256", "Memory": "512",
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/exec", "TaskRoleArn": "arn:aws:iam::123456789012:role/task",
            "ContainerDefinitions": [{"Name": "app", "Image": image, "PortMappings": [{"ContainerPort": 8080}],
                                      "Environment": [{"Name": "APP_NAME", "Value": "web"}]}]}}}}

    create_stack_by_change_set("td", template("example/web:1"))
    td = client("ecs").describe_task_definition(taskDefinition="web")["taskDefinition"]
    assert (td["networkMode"], td["requiresCompatibilities"], td["cpu"], td["memory"]) == ("awsvpc", ["FARGATE"], "256", "512")
    assert td["executionRoleArn"].endswith("role/exec") and td["taskRoleArn"].endswith("role/task")
    (container,) = td["containerDefinitions"]
    assert container["portMappings"][0]["containerPort"] == 8080 and container["environment"] == [{"name": "APP_NAME", "value": "web"}]
    create_stack_by_change_set("td", template("example/web:2"), change_type="UPDATE")
    td = client("ecs").describe_task_definition(taskDefinition="web")["taskDefinition"]
    assert (td["revision"], td["networkMode"], td["containerDefinitions"][0]["image"]) == (2, "awsvpc", "example/web:2")
