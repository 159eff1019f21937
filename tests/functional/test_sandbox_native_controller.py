"""Native blue/green services with the ECS controller ticked by the test (moto in-process, as
tests/functional/test_sandbox_tasks.py).

AWS: AWS::ECS::Service takes DeploymentController, DeploymentConfiguration (Strategy, LifecycleHooks
with their HookDetails as given) and LoadBalancers[].AdvancedConfiguration; creating it is its first
service deployment, and a stack update with a new task definition starts the next one, which ECS
runs stage by stage (here a PAUSE hook at POST_SCALE_UP) and moves the production rule's weights.
StopServiceDeployment on a deployment still PENDING rolls it back before any task starts.
"""

from __future__ import annotations

import pytest

from deployer.sandbox.control import DEFAULT_APP
from deployer.sandbox.ecs_controller import EcsController
from deployer.sandbox.tasks import TaskRunner
from tests.fakes import SANDBOX_HEALTH
from tests.functional.conftest import REGION, client
from tests.functional.test_moto_ext import create_stack_by_change_set
from tests.functional.test_sandbox_tasks import drive

ACCOUNT = "123456789012"


@pytest.fixture
def controller(aws, tmp_path):
    from moto.ecs.models import ecs_backends
    from moto.elbv2.models import elbv2_backends

    made = EcsController(ecs_backends[ACCOUNT][REGION], elbv2_backends[ACCOUNT][REGION], TaskRunner(DEFAULT_APP, tmp_path), {},
                         SANDBOX_HEALTH, minute=0.2)
    yield made
    made.stop_all()


def template(subnets: list[str], vpc: str, group: str) -> dict:
    tg = {"VpcId": vpc, "Port": 8080, "Protocol": "HTTP", "TargetType": "ip", "HealthCheckPath": "/health",
          "HealthCheckIntervalSeconds": 5, "HealthyThresholdCount": 2,
          "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]}
    return {
        "Parameters": {"Image": {"Type": "String"}},
        "Resources": {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "cfn"}},
            "Alb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Name": "cfn", "Subnets": subnets}},
            "Blue": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Name": "cfn-blue", **tg}},
            "Green": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {"Name": "cfn-green", **tg}},
            "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
                "LoadBalancerArn": {"Ref": "Alb"}, "Port": 80, "Protocol": "HTTP",
                "DefaultActions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]}},
            "Rule": {"Type": "AWS::ElasticLoadBalancingV2::ListenerRule", "Properties": {
                "ListenerArn": {"Ref": "Listener"}, "Priority": 1,
                "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
                "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                    {"TargetGroupArn": {"Ref": "Blue"}, "Weight": 100}, {"TargetGroupArn": {"Ref": "Green"}, "Weight": 0}]}}]}},
            "Td": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
                "Family": "cfn", "NetworkMode": "awsvpc", "RequiresCompatibilities": ["FARGATE"], "Cpu": "256", "Memory": "512",
                "ContainerDefinitions": [{"Name": "app", "Image": {"Ref": "Image"}, "PortMappings": [{"ContainerPort": 8080}]}]}},
            "Service": {"Type": "AWS::ECS::Service", "Properties": {
                "Cluster": {"Ref": "Cluster"}, "ServiceName": "web", "TaskDefinition": {"Ref": "Td"}, "DesiredCount": 1,
                "LaunchType": "FARGATE", "DeploymentController": {"Type": "ECS"},
                # moto 5.2.5 updates a resource only when its own JSON or a parameter it names changed,
                # not when a resource it refers to got a new physical ID (the task definition) as AWS does
                "Tags": [{"Key": "image", "Value": {"Ref": "Image"}}],
                "DeploymentConfiguration": {"Strategy": "BLUE_GREEN", "BakeTimeInMinutes": 0, "LifecycleHooks": [{
                    "TargetType": "PAUSE", "LifecycleStages": ["POST_SCALE_UP"], "HookDetails": {"S3_BUCKET": "kept"},
                    "TimeoutConfiguration": {"TimeoutInMinutes": 500, "Action": "ROLLBACK"}}]},
                "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": subnets, "SecurityGroups": [group]}},
                "LoadBalancers": [{"ContainerName": "app", "ContainerPort": 8080, "TargetGroupArn": {"Ref": "Blue"},
                                   "AdvancedConfiguration": {"AlternateTargetGroupArn": {"Ref": "Green"},
                                                             "ProductionListenerRule": {"Ref": "Rule"},
                                                             "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecs-infrastructure"}}]}},
        },
    }


def service() -> dict:
    return client("ecs").describe_services(cluster="cfn", services=["web"])["services"][0]


def deployment(arn: str) -> dict:
    return client("ecs").describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def weights() -> list[int]:
    """The production rule's weights, blue then green."""
    elbv2 = client("elbv2")
    listener = elbv2.describe_listeners(LoadBalancerArn=elbv2.describe_load_balancers(Names=["cfn"])["LoadBalancers"][0]["LoadBalancerArn"])
    (rule,) = [r for r in elbv2.describe_rules(ListenerArn=listener["Listeners"][0]["ListenerArn"])["Rules"] if r["Priority"] == "1"]
    return [g["Weight"] for g in rule["Actions"][0]["ForwardConfig"]["TargetGroups"]]


@pytest.fixture
def stack(controller) -> dict:
    """The stack made with example/web:1, its first service deployment done."""
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    body = template(subnets, vpc, group)
    create_stack_by_change_set("cfn", body, {"Image": "example/web:1"})
    first = service()["currentServiceDeployment"]
    drive(controller, lambda: deployment(first)["status"] == "SUCCESSFUL")
    return {"body": body, "first": first}


def test_a_stack_update_is_a_native_deployment(controller, stack):
    body, first = stack["body"], stack["first"]
    (hook,) = service()["deploymentConfiguration"]["lifecycleHooks"]
    assert hook["hookDetails"] == {"S3_BUCKET": "kept"} and hook["lifecycleStages"] == ["POST_SCALE_UP"]
    assert deployment(first)["sourceServiceRevisions"] == [] and "lifecycleHookDetails" not in deployment(first)

    create_stack_by_change_set("cfn", body, {"Image": "example/web:2"}, change_type="UPDATE")
    second = service()["currentServiceDeployment"]
    assert second != first
    drive(controller, lambda: any(h["status"] == "AWAITING_ACTION" for h in deployment(second).get("lifecycleHookDetails", [])))
    paused = deployment(second)
    assert paused["lifecycleStage"] == "POST_SCALE_UP" and weights() == [100, 0]
    assert [r["arn"] for r in paused["sourceServiceRevisions"]] == [deployment(first)["targetServiceRevision"]["arn"]]
    assert [d["status"] for d in service()["deployments"]] == ["PRIMARY", "ACTIVE"]
    client("ecs").continue_service_deployment(serviceDeploymentArn=second, hookId=paused["lifecycleHookDetails"][0]["hookId"])
    drive(controller, lambda: deployment(second)["status"] == "SUCCESSFUL")
    assert weights() == [0, 100]
    (only,) = service()["deployments"]
    assert only["taskDefinition"].endswith("task-definition/cfn:2") and only["rolloutState"] == "COMPLETED"


def test_stopping_a_pending_deployment_rolls_it_back_before_any_task_starts(controller, stack):
    ecs = client("ecs")
    old = service()["taskDefinition"]
    new = ecs.register_task_definition(
        family="cfn", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "example/web:2", "portMappings": [{"containerPort": 8080}]}])
    ecs.update_service(cluster="cfn", service="web", taskDefinition=new["taskDefinition"]["taskDefinitionArn"])
    arn = service()["currentServiceDeployment"]
    assert deployment(arn)["status"] == "PENDING"  # the controller has not ticked since
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert deployment(arn)["status"] == "ROLLBACK_REQUESTED"
    drive(controller, lambda: deployment(arn)["status"] == "ROLLBACK_SUCCESSFUL", timeout=5)
    found = deployment(arn)
    assert "lifecycleStage" not in found and found["targetServiceRevision"]["runningTaskCount"] == 0
    assert weights() == [100, 0] and service()["taskDefinition"] == old
    assert [d["taskDefinition"] for d in service()["deployments"]] == [old]
    assert all(t.deployment_id == service()["deployments"][0]["id"] for t in controller.tasks["cfn:web"])
