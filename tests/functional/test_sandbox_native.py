"""ECS-native canary and blue/green deployments in a real sandbox (moto server, task processes,
listener proxies, metrics), driven with boto3 alone; one ECS minute lasts 0.2 s here.

AWS: a native service (deployment controller ECS, strategy BLUE_GREEN/LINEAR/CANARY, a load balancer
with an alternate target group and a production listener rule) deploys a new revision into the
group that takes no production traffic, moves the production rule's weights, pauses at its PAUSE
hooks until ContinueServiceDeployment, and rolls back (traffic first) on ROLLBACK, on
StopServiceDeployment or when a deployment alarm goes to ALARM, with nobody calling anything.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from deployer.sandbox import control
from tests.functional.conftest import sandbox_daemon

MINUTE = 0.2  # seconds per ECS minute in this sandbox
FINISHED = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    directory = tmp_path_factory.mktemp("native-sandbox")
    images = directory / "images.yaml"
    images.write_text('images:\n  example/web:bad: {ERROR_RATE: "1.0"}\n')
    try:
        yield sandbox_daemon(directory, str(MINUTE), 900, images)
    finally:
        control.down(directory)


def wait(predicate, timeout: float = 45.0, every: float = 0.2):
    """Poll until `predicate()` is truthy (bounded: the timeouts are far above the usual 5-20 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(every)
    return None


class Aws:
    def __init__(self, box: control.Sandbox):
        self.box = box
        self.clients = {name: boto3.client(name, endpoint_url=box.endpoint, region_name=box.region, aws_access_key_id="x",
                                           aws_secret_access_key="x") for name in ("ec2", "elbv2", "ecs", "cloudwatch")}

    def __getattr__(self, name: str):
        return self.clients[name]

    def deployment(self, arn: str) -> dict:
        return self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]

    def weights(self, rule: str) -> dict[str, int]:
        (found,) = self.elbv2.describe_rules(RuleArns=[rule])["Rules"]
        groups = found["Actions"][0]["ForwardConfig"]["TargetGroups"]
        return {g["TargetGroupArn"].split("/")[-2]: g["Weight"] for g in groups}

    def get(self, listener: str, path: str = "/") -> tuple[int, str | None]:
        port = control.find(self.box.directory).state["proxies"][listener]["port"]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return answer.status, answer.headers["X-App-Version"]
        except urllib.error.HTTPError as error:
            return error.code, error.headers["X-App-Version"]


def native_service(aws: Aws, name: str, config: dict, image: str = "example/web:2") -> dict:
    """An ALB whose production rule (and test rule, on a second listener) forwards 100/0 to two target
    groups, and a native service on it, created through the API (its first deployment under way)."""
    vpc = aws.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [aws.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    group = aws.ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    lb = aws.elbv2.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    groups = {}
    for color in ("blue", "green"):
        groups[color] = aws.elbv2.create_target_group(
            Name=f"{name}-{color}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip", HealthCheckPath="/health",
            HealthCheckIntervalSeconds=5, HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        aws.elbv2.modify_target_group_attributes(TargetGroupArn=groups[color], Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "1"}])
    forward = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": groups["blue"], "Weight": 100}, {"TargetGroupArn": groups["green"], "Weight": 0}]}}]
    made = {"groups": groups}
    for role, port in (("production", 80), ("test", 8081)):
        listener = aws.elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=port, DefaultActions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"}}])["Listeners"][0]["ListenerArn"]
        made[f"{role}_listener"] = listener
        made[role] = aws.elbv2.create_rule(ListenerArn=listener, Priority=1, Actions=forward, Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}])["Rules"][0]["RuleArn"]
    aws.ecs.create_cluster(clusterName=name)
    made["td"] = [aws.ecs.register_task_definition(
        family=name, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": i, "portMappings": [{"containerPort": 8080}]}])["taskDefinition"]["taskDefinitionArn"]
        for i in ("example/web:1", image)]
    aws.ecs.create_service(
        cluster=name, serviceName="web", taskDefinition=made["td"][0], desiredCount=1, launchType="FARGATE",
        deploymentController={"type": "ECS"}, deploymentConfiguration=config,
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group], "assignPublicIp": "DISABLED"}},
        loadBalancers=[{"targetGroupArn": groups["blue"], "containerName": "app", "containerPort": 8080, "advancedConfiguration": {
            "alternateTargetGroupArn": groups["green"], "productionListenerRule": made["production"],
            "testListenerRule": made["test"], "roleArn": "arn:aws:iam::123456789012:role/ecsInfrastructureRoleForLoadBalancers"}}])
    made["first"] = aws.ecs.describe_services(cluster=name, services=["web"])["services"][0]["currentServiceDeployment"]
    return made


CANARY = {"strategy": "CANARY", "bakeTimeInMinutes": 1, "canaryConfiguration": {"canaryPercent": 10, "canaryBakeTimeInMinutes": 1},
          "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
                              "timeoutConfiguration": {"timeoutInMinutes": 300, "action": "ROLLBACK"}}]}
SERVICES = {  # name: (deploymentConfiguration, the image of the release)
    "canary": (CANARY, "example/web:2"),
    "back": (CANARY, "example/web:2"),
    "alarm": ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 300,
               "alarms": {"alarmNames": ["alarm-5xx"], "enable": True, "rollback": True}}, "example/web:bad"),
    "stop": ({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 300}, "example/web:2"),
}


@pytest.fixture(scope="module")
def services(box) -> dict[str, dict]:
    """Every test's service, made at once (their first deployments overlap), each serving version 1."""
    aws = Aws(box)
    made = {name: native_service(aws, name, config, image) for name, (config, image) in SERVICES.items()}
    for name, found in made.items():
        assert wait(lambda: aws.deployment(found["first"])["status"] == "SUCCESSFUL", timeout=60), aws.deployment(found["first"])
        assert aws.get(found["production_listener"]) == (200, "1")
    return made


def awaiting(aws: Aws, arn: str, count: int) -> dict | None:
    """The deployment once its `count`th hook awaits action."""
    found = aws.deployment(arn)
    hooks = found.get("lifecycleHookDetails", [])
    return found if len(hooks) >= count and hooks[count - 1]["status"] == "AWAITING_ACTION" else None


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_a_canary_pauses_before_each_production_step_and_completes_when_continued(box, services):
    aws = Aws(box)
    made = services["canary"]
    service = aws.ecs.describe_services(cluster="canary", services=["web"])["services"][0]
    assert service["deploymentConfiguration"]["strategy"] == "CANARY"  # CreateService kept it
    aws.ecs.update_service(cluster="canary", service="web", taskDefinition=made["td"][1])
    arn = aws.ecs.describe_services(cluster="canary", services=["web"])["services"][0]["currentServiceDeployment"]
    assert arn.startswith(f"arn:aws:ecs:{box.region}:123456789012:service-deployment/canary/web/")

    paused = wait(lambda: awaiting(aws, arn, 1))
    assert paused, aws.deployment(arn)
    assert (paused["status"], paused["lifecycleStage"]) == ("IN_PROGRESS", "PRE_PRODUCTION_TRAFFIC_SHIFT")
    (hook,) = paused["lifecycleHookDetails"]
    assert hook["hookId"].startswith("ecs-pause-") and (hook["targetType"], hook["timeoutAction"]) == ("PAUSE", "ROLLBACK")
    assert paused["targetServiceRevision"]["runningTaskCount"] == 1
    assert paused["targetServiceRevision"]["requestedTestTrafficWeight"] == 100.0
    assert paused["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
    assert aws.weights(made["production"]) == {"canary-blue": 100, "canary-green": 0}
    assert aws.weights(made["test"]) == {"canary-blue": 0, "canary-green": 100}
    assert aws.get(made["test_listener"]) == (200, "2") and aws.get(made["production_listener"]) == (200, "1")
    deployments = aws.ecs.describe_services(cluster="canary", services=["web"])["services"][0]["deployments"]
    assert [(d["status"], d["rolloutState"], d["taskDefinition"], d["runningCount"]) for d in deployments] == [
        ("PRIMARY", "IN_PROGRESS", made["td"][1], 1), ("ACTIVE", "COMPLETED", made["td"][0], 1)]

    aws.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
    second = wait(lambda: awaiting(aws, arn, 2))
    assert second, aws.deployment(arn)
    assert second["lifecycleStage"] == "PRE_PRODUCTION_TRAFFIC_SHIFT" and second["lifecycleHookDetails"][0]["status"] == "SUCCEEDED"
    assert aws.weights(made["production"]) == {"canary-blue": 90, "canary-green": 10}
    assert second["targetServiceRevision"]["requestedProductionTrafficWeight"] == 10.0
    assert second["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 90.0

    aws.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=second["lifecycleHookDetails"][1]["hookId"])
    done = wait(lambda: aws.deployment(arn)["status"] in FINISHED and aws.deployment(arn))
    assert done["status"] == "SUCCESSFUL" and done["lifecycleStage"] == "CLEAN_UP", done
    assert done["finishedAt"] >= done["startedAt"] >= done["createdAt"]
    assert aws.weights(made["production"]) == {"canary-blue": 0, "canary-green": 100}
    assert aws.get(made["production_listener"]) == (200, "2")
    assert aws.elbv2.describe_target_health(TargetGroupArn=made["groups"]["blue"])["TargetHealthDescriptions"] == []
    (deployment,) = aws.ecs.describe_services(cluster="canary", services=["web"])["services"][0]["deployments"]
    assert (deployment["status"], deployment["rolloutState"], deployment["taskDefinition"]) == ("PRIMARY", "COMPLETED", made["td"][1])

    # what AWS refuses or reports
    assert error(aws.ecs.continue_service_deployment, serviceDeploymentArn=arn, hookId=hook["hookId"]) == (
        "ClientException", f"The service deployment {arn} is SUCCESSFUL, not IN_PROGRESS.")
    assert error(aws.ecs.stop_service_deployment, serviceDeploymentArn=arn, stopType="ROLLBACK")[0] == "ConflictException"
    unknown = arn.rsplit("/", 1)[0] + "/nope"
    assert error(aws.ecs.continue_service_deployment, serviceDeploymentArn=unknown, hookId="x") == (
        "ServiceDeploymentNotFoundException", f"The service deployment {unknown} does not exist.")
    described = aws.ecs.describe_service_deployments(serviceDeploymentArns=[arn, unknown])
    assert [d["serviceDeploymentArn"] for d in described["serviceDeployments"]] == [arn]
    assert described["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    listed = aws.ecs.list_service_deployments(cluster="canary", service="web", maxResults=1)
    assert [d["serviceDeploymentArn"] for d in listed["serviceDeployments"]] == [arn]  # newest first
    rest = aws.ecs.list_service_deployments(cluster="canary", service="web", nextToken=listed["nextToken"])
    assert len(rest["serviceDeployments"]) == 1 and "nextToken" not in rest
    assert aws.ecs.list_service_deployments(cluster="canary", service="web", status=["ROLLBACK_SUCCESSFUL"])["serviceDeployments"] == []
    after = aws.ecs.list_service_deployments(cluster="canary", service="web", createdAt={"after": paused["createdAt"]})
    assert [d["serviceDeploymentArn"] for d in after["serviceDeployments"]] == [arn]
    assert error(aws.ecs.list_service_deployments, cluster="canary", service="nope")[0] == "ServiceNotFoundException"


def test_continue_with_rollback_puts_production_back_on_the_old_revision(box, services):
    aws = Aws(box)
    made = services["back"]
    aws.ecs.update_service(cluster="back", service="web", taskDefinition=made["td"][1])
    arn = aws.ecs.list_service_deployments(cluster="back", service="web", status=["IN_PROGRESS", "PENDING"])["serviceDeployments"][0]["serviceDeploymentArn"]
    first = wait(lambda: awaiting(aws, arn, 1))
    assert first, aws.deployment(arn)
    aws.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=first["lifecycleHookDetails"][0]["hookId"])
    second = wait(lambda: awaiting(aws, arn, 2))
    assert second and aws.weights(made["production"]) == {"back-blue": 90, "back-green": 10}

    aws.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=second["lifecycleHookDetails"][1]["hookId"], action="ROLLBACK")
    done = wait(lambda: aws.deployment(arn)["status"] in FINISHED and aws.deployment(arn))
    assert done["status"] == "ROLLBACK_SUCCESSFUL", done
    assert aws.weights(made["production"]) == {"back-blue": 100, "back-green": 0}
    assert aws.weights(made["test"]) == {"back-blue": 100, "back-green": 0}
    assert done["rollback"]["serviceRevisionArn"] == done["sourceServiceRevisions"][0]["arn"]
    assert "ContinueServiceDeployment" in done["rollback"]["reason"] and done["lifecycleHookDetails"][1]["status"] == "FAILED"
    service = aws.ecs.describe_services(cluster="back", services=["web"])["services"][0]
    assert service["taskDefinition"] == made["td"][0]
    assert [(d["status"], d["taskDefinition"]) for d in service["deployments"]] == [("PRIMARY", made["td"][0])]
    assert aws.get(made["production_listener"]) == (200, "1")


def test_a_deployment_alarm_rolls_back_with_nobody_calling(box, services):
    """The new revision answers 500: its target group's 5xx alarm goes to ALARM during the bake and ECS
    (here the sandbox) rolls back by itself; DescribeAlarms shows why."""
    aws = Aws(box)
    made = services["alarm"]
    balancer = aws.elbv2.describe_load_balancers(Names=["alarm"])["LoadBalancers"][0]["LoadBalancerArn"]
    aws.cloudwatch.put_metric_alarm(
        AlarmName="alarm-5xx", Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count", Statistic="Sum",
        Dimensions=[{"Name": "LoadBalancer", "Value": balancer.split(":loadbalancer/")[1]},
                    {"Name": "TargetGroup", "Value": made["groups"]["green"].split(":")[-1]}],
        Period=10, EvaluationPeriods=1, Threshold=3, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    aws.ecs.update_service(cluster="alarm", service="web", taskDefinition=made["td"][1])
    arn = aws.ecs.describe_services(cluster="alarm", services=["web"])["services"][0]["currentServiceDeployment"]
    assert wait(lambda: aws.deployment(arn).get("lifecycleStage") == "BAKE_TIME", timeout=45), aws.deployment(arn)
    assert aws.deployment(arn)["alarms"]["status"] == "MONITORING"

    def rolled_back():
        for _ in range(5):
            aws.get(made["production_listener"])  # production traffic, 100 % on the new revision: 500s
        found = aws.deployment(arn)
        return found if found["status"] in FINISHED else None

    done = wait(rolled_back, timeout=30, every=0.1)
    assert done and done["status"] == "ROLLBACK_SUCCESSFUL", aws.deployment(arn)
    assert done["alarms"] == {"status": "TRIGGERED", "alarmNames": ["alarm-5xx"], "triggeredAlarmNames": ["alarm-5xx"]}
    assert "alarm-5xx" in done["statusReason"] and done["rollback"]["serviceRevisionArn"] == done["sourceServiceRevisions"][0]["arn"]
    assert aws.weights(made["production"]) == {"alarm-blue": 100, "alarm-green": 0}
    (alarm,) = aws.cloudwatch.describe_alarms(AlarmNames=["alarm-5xx"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM" and alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints")
    assert aws.get(made["production_listener"]) == (200, "1")


def test_stop_service_deployment_and_refused_configurations(box, services):
    aws = Aws(box)
    made = services["stop"]
    aws.ecs.update_service(cluster="stop", service="web", taskDefinition=made["td"][1])
    arn = aws.ecs.describe_services(cluster="stop", services=["web"])["services"][0]["currentServiceDeployment"]
    assert wait(lambda: aws.deployment(arn).get("lifecycleStage") == "BAKE_TIME", timeout=45), aws.deployment(arn)
    assert aws.weights(made["production"]) == {"stop-blue": 0, "stop-green": 100}
    aws.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert aws.deployment(arn)["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL")
    done = wait(lambda: aws.deployment(arn)["status"] in FINISHED and aws.deployment(arn))
    assert done["status"] == "ROLLBACK_SUCCESSFUL" and "stoppedAt" in done and "StopServiceDeployment" in done["rollback"]["reason"]
    assert aws.weights(made["production"]) == {"stop-blue": 100, "stop-green": 0}

    paused_at_test = {"strategy": "BLUE_GREEN", "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["TEST_TRAFFIC_SHIFT"]}]}
    assert error(aws.ecs.update_service, cluster="stop", service="web", deploymentConfiguration=paused_at_test) == (
        "InvalidParameterException", "PAUSE lifecycle hooks cannot be configured at the TEST_TRAFFIC_SHIFT stage")
