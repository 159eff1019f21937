"""Provisioning the canary service, whose weighted listener moto's CloudFormation cannot create
(HTTP 500 in moto 5.2.5): CloudFormation answers come from botocore's Stubber, while ECS and
ELBv2 are a real moto server holding the state a release left behind.
"""

from __future__ import annotations

import datetime as dt

import botocore.session
import pytest
from botocore.stub import ANY, Stubber

from deployer.aws.cloudformation import CloudFormation
from deployer.errors import ProvisionFailed
from deployer.provision.service import provision
from deployer.spec import load_config
from deployer.synth import cluster_template
from tests.functional.conftest import REGION, client, no_sleep

NOW = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def released_web(spec_path):
    """web after a promoted release: green on web:2 with 100%, blue warm on web:1 with 0%; test listener on blue."""
    elbv2, ecs, ec2 = client("elbv2"), client("ecs"), client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    lb = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = {
        color: elbv2.create_target_group(Name=f"web-{color}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        for color in ("blue", "green")
    }
    listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tgs["blue"], "Weight": 0}, {"TargetGroupArn": tgs["green"], "Weight": 100}]}}],
    )["Listeners"][0]["ListenerArn"]
    test_listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=8080, DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs["blue"]}]
    )["Listeners"][0]["ListenerArn"]
    ecs.create_cluster(clusterName="demo")
    revisions = [
        ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": f"example/web:{n}", "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
        for n in (1, 2)
    ]
    ecs.create_service(cluster="demo", serviceName="web-blue", taskDefinition=revisions[0], desiredCount=2)
    ecs.create_service(cluster="demo", serviceName="web-green", taskDefinition=revisions[1], desiredCount=2)
    outputs = {
        "ClusterName": "demo",
        "TaskDefinitionArn": revisions[0],
        "BlueTargetGroupArn": tgs["blue"],
        "GreenTargetGroupArn": tgs["green"],
        "ListenerArn": listener,
        "TestListenerArn": test_listener,
    }
    return load_config(spec_path).services["web"], outputs, revisions


def stubbed_cloudformation():
    cfn_client = botocore.session.get_session().create_client(
        "cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    return cfn_client, Stubber(cfn_client)


def stack(name: str, status: str, outputs: dict | None = None) -> dict:
    return {
        "Stacks": [{
            "StackName": name, "StackId": f"arn:aws:cloudformation:{REGION}:123456789012:stack/{name}/1",
            "CreationTime": NOW, "StackStatus": status,
            "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in (outputs or {}).items()],
        }]
    }


def event(n: int, status: str, logical_id: str, reason: str = "") -> dict:
    return {
        "StackId": "s", "EventId": f"e{n}", "StackName": "deployer-web", "LogicalResourceId": logical_id,
        "ResourceType": "AWS::ECS::Service", "Timestamp": NOW, "ResourceStatus": status, "ResourceStatusReason": reason,
    }


def script_up_to_execute(stub: Stubber, outputs: dict) -> None:
    cluster_stack = "deployer-cluster-demo"
    bootstrap_outputs = {"RecordsTable": "records", "AccessLogsBucketName": "logs"}  # web logs to the bootstrap bucket
    stub.add_response("describe_stacks", stack("deployer-bootstrap", "UPDATE_COMPLETE", bootstrap_outputs), {"StackName": "deployer-bootstrap"})
    stub.add_response("describe_stacks", stack(cluster_stack, "CREATE_COMPLETE"), {"StackName": cluster_stack})
    stub.add_response("get_template", {"TemplateBody": cluster_template("demo").to_json()}, {"StackName": cluster_stack, "TemplateStage": "Original"})
    stub.add_response("create_change_set", {"Id": "cs-cluster"}, {
        "StackName": cluster_stack, "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
        "Parameters": [], "Capabilities": ["CAPABILITY_IAM"], "Tags": ANY})
    stub.add_response("describe_change_set", {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."},
                      {"ChangeSetName": "cs-cluster"})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": "cs-cluster"})
    stub.add_response("describe_stacks", stack("deployer-web", "UPDATE_COMPLETE", outputs), {"StackName": "deployer-web"})
    stub.add_response("describe_stacks", stack("deployer-web", "UPDATE_COMPLETE", outputs), {"StackName": "deployer-web"})
    stub.add_response("get_template", {"TemplateBody": "{\"Resources\": {}}"}, {"StackName": "deployer-web", "TemplateStage": "Original"})


def expected_parameters(revisions: list[str]) -> list[dict]:
    live = {
        "BlueDesiredCount": "2", "BlueTaskDefinitionArn": "", "BlueWeight": "0",
        "GreenDesiredCount": "2", "GreenTaskDefinitionArn": revisions[1], "GreenWeight": "100",
        "ImageUri": "example/web:1", "TestListenerColor": "blue",
    }
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(live.items())]


def test_update_passes_live_weights_revision_and_test_listener_color(observer, progress, released_web):
    service, outputs, revisions = released_web
    cfn_client, stub = stubbed_cloudformation()
    script_up_to_execute(stub, outputs)
    stub.add_response("create_change_set", {"Id": "cs-web"}, {
        "StackName": "deployer-web", "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
        "Parameters": expected_parameters(revisions), "Capabilities": ["CAPABILITY_IAM"], "Tags": ANY})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": [{"Type": "Resource", "ResourceChange": {
        "Action": "Modify", "LogicalResourceId": "LogGroup", "ResourceType": "AWS::Logs::LogGroup", "Replacement": "False",
        "Details": [{"Target": {"Attribute": "Properties", "Name": "RetentionInDays"}}]}}]}, {"ChangeSetName": "cs-web"})
    stub.add_response("describe_stack_events", {"StackEvents": [event(1, "UPDATE_COMPLETE", "deployer-web")]}, {"StackName": "deployer-web"})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": "cs-web"})
    stub.add_response("describe_stack_events", {"StackEvents": [event(2, "UPDATE_COMPLETE", "LogGroup"), event(1, "UPDATE_COMPLETE", "deployer-web")]},
                      {"StackName": "deployer-web"})
    stub.add_response("describe_stacks", stack("deployer-web", "UPDATE_COMPLETE", outputs), {"StackName": "deployer-web"})
    observer.cloudformation = CloudFormation(cfn_client, sleep=no_sleep)
    with stub:
        report = provision(service, observer, progress)
        stub.assert_no_pending_responses()
    assert [(r.stack, r.action) for r in report.results] == [("deployer-cluster-demo", "noop"), ("deployer-web", "updated")]
    assert [r.line() for r in report.results[1].changes] == ["~ Modify  LogGroup (AWS::Logs::LogGroup) [RetentionInDays]"]
    assert [e.event_id for e in progress.events] == ["e2"]  # the old event is not shown again


def test_failed_update_is_explained_by_the_failed_events(observer, progress, released_web):
    service, outputs, revisions = released_web
    cfn_client, stub = stubbed_cloudformation()
    script_up_to_execute(stub, outputs)
    stub.add_response("create_change_set", {"Id": "cs-web"}, {
        "StackName": "deployer-web", "ChangeSetName": ANY, "ChangeSetType": "UPDATE", "TemplateBody": ANY,
        "Parameters": expected_parameters(revisions), "Capabilities": ["CAPABILITY_IAM"], "Tags": ANY})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": []}, {"ChangeSetName": "cs-web"})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": "deployer-web"})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": "cs-web"})
    stub.add_response("describe_stack_events", {"StackEvents": [
        event(4, "UPDATE_ROLLBACK_COMPLETE", "deployer-web"),
        event(3, "UPDATE_FAILED", "GreenService", "Invalid request provided: containerName web does not exist"),
        event(2, "UPDATE_IN_PROGRESS", "GreenService")]}, {"StackName": "deployer-web"})
    stub.add_response("describe_stacks", stack("deployer-web", "UPDATE_ROLLBACK_COMPLETE", outputs), {"StackName": "deployer-web"})
    observer.cloudformation = CloudFormation(cfn_client, sleep=no_sleep)
    with stub, pytest.raises(ProvisionFailed) as info:
        provision(service, observer, progress)
    lines = info.value.lines()
    assert lines[0] == "stack deployer-web ended UPDATE_ROLLBACK_COMPLETE; the events that failed:"
    assert lines[1].endswith("UPDATE_FAILED                GreenService (AWS::ECS::Service): Invalid request provided: containerName web does not exist")
    assert len(lines) == 2
