"""ECS and ELBv2 adapters against a moto server over HTTP (botocore validates every parameter).

What moto 5.2.5 does here: RegisterTaskDefinition keeps `tags` and DescribeTaskDefinition returns
them with include=["TAGS"]; ListTaskDefinitions ignores `sort` and `maxResults` (all revisions,
oldest first), ListTasks ignores `serviceName` (every task of the cluster), awsvpc tasks get an
ENI attachment with privateIPv4Address but no containers[].networkInterfaces, and no task reports
networkBindings (the adapter falls back to the task definition's port mappings). Its awsvpc RunTask
needs container-level memory and a VPC with DNS hostnames, else HTTP 500.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ConnectionClosedError

from deployer.aws.ecs import RELEASE_TAG, EcsReleases, TaskInfo
from deployer.aws.elbv2 import Elbv2, TargetState
from deployer.errors import AwsError, NotFound
from tests.functional.conftest import client, no_sleep

TOKEN = "20250101T000000Z-abc123"


def register_base(ecs) -> str:
    return ecs.register_task_definition(
        family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        # container-level memory: moto's RunTask adds it up and fails (HTTP 500) without it
        containerDefinitions=[{"name": "web", "image": "example/web:1", "memory": 256,
                               "portMappings": [{"containerPort": 8080, "protocol": "tcp"}]},
                              {"name": "sidecar", "image": "envoy:1", "memory": 128, "essential": False}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_the_release_tag_round_trips_and_finds_the_revision(aws):
    raw = client("ecs")
    base = register_base(raw)
    ecs = EcsReleases(client("ecs"), sleep=no_sleep)
    arn = ecs.register_with_image(base, "web", "example/web:2", token=TOKEN)
    assert arn.endswith("task-definition/web:2") and ecs.calls == 2
    described = raw.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    assert described["tags"] == [{"key": RELEASE_TAG, "value": TOKEN}]
    assert [c["image"] for c in described["taskDefinition"]["containerDefinitions"]] == ["example/web:2", "envoy:1"]

    for n in range(3):  # later releases: moto lists oldest first whatever `sort` says; the adapter sorts
        ecs.register_with_image(base, "web", f"example/web:{3 + n}", token=f"other-{n}")
    ecs.calls = 0
    assert ecs.find_registered("web", TOKEN) == arn
    assert ecs.calls == 1 + 4  # ListTaskDefinitions, then web:5, web:4, web:3, web:2
    assert ecs.find_registered("web", "never-registered") is None
    assert ecs.find_registered("api", TOKEN) is None


class LosesOneRegisterAnswer:
    """The real client, except that the first RegisterTaskDefinition's answer is lost after moto registered it."""

    def __init__(self, real):
        self.real = real
        self.lost = False

    def register_task_definition(self, **params):
        response = self.real.register_task_definition(**params)
        if not self.lost:
            self.lost = True
            raise ConnectionClosedError(endpoint_url=self.real.meta.endpoint_url)
        return response

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_lost_register_answer_is_settled_by_the_token_without_an_orphan(aws):
    raw = client("ecs")
    base = register_base(raw)
    ecs = EcsReleases(LosesOneRegisterAnswer(client("ecs")), sleep=no_sleep)
    arn = ecs.register_with_image(base, "web", "example/web:2", token=TOKEN)
    assert arn.endswith("task-definition/web:2")
    assert [a.rsplit("/", 1)[-1] for a in raw.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]] == ["web:1", "web:2"]
    assert ecs.calls == 4  # Describe base, Register (answer lost), ListTaskDefinitions, DescribeTaskDefinition


def test_a_revision_that_does_not_exist_is_reported_with_aws_words(aws):
    ecs = EcsReleases(client("ecs"), sleep=no_sleep)
    with pytest.raises(AwsError) as info:
        ecs.register_with_image("arn:aws:ecs:us-east-1:123456789012:task-definition/web:9", "web", "example/web:2", token=TOKEN)
    assert (info.value.code, info.value.aws_message) == ("ClientException", "Unable to describe task definition.")


@pytest.fixture
def network(aws):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # as Fargate needs; moto's awsvpc RunTask also fails (HTTP 500, ENI has no private_dns_name) without it
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    return vpc, subnet, sg


def test_awsvpc_tasks_map_to_their_eni_ip_and_container_port(network):
    _, subnet, sg = network
    raw = client("ecs")
    raw.create_cluster(clusterName="demo")
    td = register_base(raw)
    started = raw.run_task(cluster="demo", taskDefinition=td, count=2, launchType="FARGATE", group="service:web-blue",
                           networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}})["tasks"]
    enis = client("ec2").describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"]
    ips = sorted(e["PrivateIpAddress"] for e in enis)
    assert len(ips) == 2

    ecs = EcsReleases(client("ecs"), sleep=no_sleep)
    found = ecs.service_tasks("demo", "web-blue")
    assert sorted(t.arn for t in found) == sorted(t["taskArn"] for t in started)
    assert all(t.task_definition == td and t.desired_status == "RUNNING" for t in found)
    assert sorted(a for t in found for a in t.addresses) == [(ip, 8080) for ip in ips]
    assert ecs.calls == 3  # ListTasks, DescribeTasks, DescribeTaskDefinition (moto reports no bindings)


def test_bridge_tasks_map_to_their_instance_and_host_port(aws):
    ec2, raw = client("ec2"), client("ecs")
    raw.create_cluster(clusterName="demo")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    raw.register_container_instance(cluster="demo", instanceIdentityDocument=json.dumps({"instanceId": instance}))
    td = raw.register_task_definition(
        family="worker", networkMode="bridge",
        containerDefinitions=[{"name": "worker", "image": "example/worker:1", "memory": 128,
                               "portMappings": [{"containerPort": 8080, "hostPort": 31000}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    task = raw.run_task(cluster="demo", taskDefinition=td, launchType="EC2", group="service:worker-blue")["tasks"][0]

    ecs = EcsReleases(client("ecs"), sleep=no_sleep)
    found = ecs.service_tasks("demo", "worker-blue")
    assert [(t.arn, t.task_definition, t.addresses) for t in found] == [(task["taskArn"], td, ((instance, 31000),))]
    assert isinstance(found[0], TaskInfo)
    assert ecs.calls == 4  # ListTasks, DescribeTasks, DescribeContainerInstances, DescribeTaskDefinition


def test_service_tasks_of_a_missing_cluster_is_not_found(aws):
    ecs = EcsReleases(client("ecs"), sleep=no_sleep)
    with pytest.raises(NotFound) as info:
        ecs.service_tasks("nowhere", "web-blue")
    assert (info.value.code, info.value.aws_message) == ("ClusterNotFoundException", "Cluster not found.")


@pytest.fixture
def health():
    from tests.fakes import SANDBOX_HEALTH

    yield SANDBOX_HEALTH


def test_target_states_read_every_target(network, health):
    vpc, _, _ = network
    elbv2 = client("elbv2")
    tg = elbv2.create_target_group(Name="web-blue", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": ip, "Port": 8080} for ip in ("10.0.1.10", "10.0.1.11", "10.0.1.12")])
    health.set(tg, "10.0.1.10", "healthy")
    health.set(tg, "10.0.1.11", "unhealthy", "Target.ResponseCodeMismatch")

    adapter = Elbv2(client("elbv2"), sleep=no_sleep)
    states = sorted(adapter.target_states(tg), key=lambda t: t.id)
    assert states == [
        TargetState("10.0.1.10", 8080, "healthy", ""),
        TargetState("10.0.1.11", 8080, "unhealthy", "Target.ResponseCodeMismatch"),
        TargetState("10.0.1.12", 8080, "initial", "Elb.RegistrationInProgress"),
    ]
    assert adapter.calls == 1
    assert adapter.healthy_targets(tg) == 1  # the existing count agrees


def test_target_states_of_a_missing_group_is_not_found(aws):
    adapter = Elbv2(client("elbv2"), sleep=no_sleep)
    with pytest.raises(NotFound) as info:
        adapter.target_states("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef")
    assert (info.value.code, info.value.aws_message) == ("TargetGroupNotFound", "One or more target groups not found")
