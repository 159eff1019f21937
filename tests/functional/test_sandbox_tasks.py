"""The sandbox's task processes are ECS tasks: ListTasks and DescribeTasks over HTTP show them.

AWS: ListTasks(cluster, serviceName, desiredStatus) lists the tasks the service scheduler
started (desiredStatus defaults to RUNNING); DescribeTasks gives each task's definition ARN,
startedBy (the deployment ID), group `service:<name>`, launch type, the ENI attachment whose
privateIPv4Address is the target registered in the target group, and containers with their
network interfaces. A task the scheduler stops has desiredStatus STOPPED at once and lastStatus
DEACTIVATING while its target drains, then STOPPED with its reason; it leaves the RUNNING list
but stays describable. StopTask does the same, and the service starts a replacement.
"""

from __future__ import annotations

import time

import pytest

from deployer.sandbox.control import DEFAULT_APP
from deployer.sandbox.ecs_controller import EcsController
from deployer.sandbox.health import HealthChecker
from deployer.sandbox.tasks import TaskRunner
from tests.fakes import SANDBOX_HEALTH
from tests.functional.conftest import REGION, client

ACCOUNT = "123456789012"


def _service(port: int = 8080) -> dict:
    ec2, elbv2, ecs = client("ec2"), client("elbv2"), client("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    group = elbv2.create_target_group(Name="web-blue", Protocol="HTTP", Port=port, VpcId=vpc, TargetType="ip",
                                      HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthyThresholdCount=2)
    tg = group["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
    ecs.create_cluster(clusterName="demo")
    td = ecs.register_task_definition(
        family="web", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "example/web:2", "essential": True,
                               "portMappings": [{"containerPort": port}],
                               "environment": [{"name": "APP_NAME", "value": "web"}]}])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="demo", serviceName="web-blue", taskDefinition=td, desiredCount=2, launchType="FARGATE",
                       loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": port}],
                       networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg], "assignPublicIp": "DISABLED"}})
    return {"tg": tg, "td": td, "subnet": subnet}


@pytest.fixture
def controller(aws, tmp_path):
    from moto.ecs.models import ecs_backends
    from moto.elbv2.models import elbv2_backends

    made = EcsController(ecs_backends[ACCOUNT][REGION], elbv2_backends[ACCOUNT][REGION], TaskRunner(DEFAULT_APP, tmp_path), {}, SANDBOX_HEALTH)
    yield made
    made.stop_all()


def drive(controller: EcsController, done, timeout: float = 20.0, skew: float = 0.0) -> None:
    """Tick the controller, and the health checker once every task answers (its 5 s interval
    skipped over: one check a call), until `done()`."""
    health = HealthChecker(controller.elbv2_backend, controller.target_health)
    deadline = time.monotonic() + timeout
    checks = 0
    while time.monotonic() < deadline:
        controller.tick(time.time() + skew)
        if all(t.record.last_status == "RUNNING" for tasks in controller.tasks.values() for t in tasks):
            checks += 1
            health.tick(time.time() + 5 * checks)
        if done():
            return
        time.sleep(0.1)
    raise AssertionError("the sandbox did not get there in time")


def running(ecs) -> list[dict]:
    arns = ecs.list_tasks(cluster="demo", serviceName="web-blue", desiredStatus="RUNNING")["taskArns"]
    return ecs.describe_tasks(cluster="demo", tasks=arns)["tasks"] if arns else []


def test_service_tasks_are_listed_and_described_with_their_target_addresses(controller):
    """AWS: ListTasks/DescribeTasks show the service's tasks; their ENI IP + container port are the targets."""
    made = _service()
    ecs, elbv2 = client("ecs"), client("elbv2")

    def all_healthy() -> bool:
        health = elbv2.describe_target_health(TargetGroupArn=made["tg"])["TargetHealthDescriptions"]
        return len(health) == 2 and all(h["TargetHealth"]["State"] == "healthy" for h in health)

    controller.tick()
    assert [t["lastStatus"] for t in running(ecs)] == ["PENDING"] * 2  # until their port answers
    drive(controller, lambda: all_healthy() and [t["lastStatus"] for t in running(ecs)] == ["RUNNING"] * 2)
    tasks = running(ecs)
    deployment = ecs.describe_services(cluster="demo", services=["web-blue"])["services"][0]["deployments"][0]["id"]
    targets = {(h["Target"]["Id"], h["Target"]["Port"]) for h in
               elbv2.describe_target_health(TargetGroupArn=made["tg"])["TargetHealthDescriptions"]}
    addresses = set()
    for task in tasks:
        assert task["taskArn"].startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/demo/")
        assert task["taskDefinitionArn"] == made["td"]
        assert (task["desiredStatus"], task["lastStatus"], task["launchType"]) == ("RUNNING", "RUNNING", "FARGATE")
        assert task["startedBy"] == deployment and task["group"] == "service:web-blue"
        assert task["availabilityZone"] == "us-east-1b" and "startedAt" in task
        eni = next(a for a in task["attachments"] if a["type"] == "ElasticNetworkInterface")
        details = {d["name"]: d["value"] for d in eni["details"]}
        assert details["subnetId"] == made["subnet"]
        (container,) = task["containers"]
        assert (container["name"], container["image"], container["lastStatus"]) == ("app", "example/web:2", "RUNNING")
        assert container["networkInterfaces"][0]["privateIpv4Address"] == details["privateIPv4Address"]
        addresses.add((details["privateIPv4Address"], 8080))
    assert addresses == targets and all(ip.startswith("127.") for ip, _ in addresses)
    # no other service's tasks
    assert ecs.list_tasks(cluster="demo", serviceName="api")["taskArns"] == []

    # scaled in: desiredStatus STOPPED at once, DEACTIVATING while draining, STOPPED after the delay
    def stopped_arns() -> set[str]:
        return set(ecs.list_tasks(cluster="demo", serviceName="web-blue", desiredStatus="STOPPED")["taskArns"])

    before = stopped_arns()  # on a busy machine a task may have been replaced on its way up
    ecs.update_service(cluster="demo", service="web-blue", desiredCount=1)
    controller.tick()
    stopping = sorted(stopped_arns() - before)
    assert len(stopping) == 1, stopping
    assert len(ecs.list_tasks(cluster="demo", serviceName="web-blue")["taskArns"]) == 1
    (gone,) = ecs.describe_tasks(cluster="demo", tasks=stopping)["tasks"]
    assert (gone["desiredStatus"], gone["lastStatus"]) == ("STOPPED", "DEACTIVATING")
    assert gone["stoppedReason"] == f"Scaling activity initiated by (deployment {deployment})"
    controller.tick(time.time() + 2)  # past the 1 s deregistration delay
    (gone,) = ecs.describe_tasks(cluster="demo", tasks=stopping)["tasks"]
    assert gone["lastStatus"] == "STOPPED" and gone["stopCode"] == "ServiceSchedulerInitiated" and "stoppedAt" in gone
    assert gone["containers"][0]["lastStatus"] == "STOPPED"
    assert [t["taskArn"] for t in running(ecs)] == [t["taskArn"] for t in tasks if t["taskArn"] != gone["taskArn"]]


def test_stop_task_is_honoured_and_replaced(controller):
    """AWS: StopTask sets desiredStatus STOPPED (stopCode UserInitiated); the service starts a replacement."""
    _service()
    ecs = client("ecs")
    ecs.update_service(cluster="demo", service="web-blue", desiredCount=1)
    drive(controller, lambda: [t["lastStatus"] for t in running(ecs)] == ["RUNNING"])
    (first,) = running(ecs)
    stopped = ecs.stop_task(cluster="demo", task=first["taskArn"], reason="operator")["task"]
    assert (stopped["desiredStatus"], stopped["stopCode"], stopped["stoppedReason"]) == ("STOPPED", "UserInitiated", "operator")
    drive(controller, lambda: [t["lastStatus"] for t in running(ecs)] == ["RUNNING"], skew=2)
    (second,) = running(ecs)
    assert second["taskArn"] != first["taskArn"]
    (old,) = ecs.describe_tasks(cluster="demo", tasks=[first["taskArn"]])["tasks"]
    assert old["lastStatus"] in ("DEACTIVATING", "STOPPED") and old["stoppedReason"] == "operator"
    controller.tick(time.time() + 5)  # past the deregistration delay
    assert ecs.describe_tasks(cluster="demo", tasks=[first["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED"
