"""Lambda functions in the sandbox through moto (in-process, as the daemon runs it), driven with boto3.

AWS: AWS::Lambda::Function takes its code from a zip in S3 (Code.S3Bucket/S3Key) and
AWS::Scheduler::Schedule makes a schedule (Ref: its name, GetAtt Arn); Invoke answers the
function's response, with FunctionError on a function error; EventBridge Scheduler invokes a rate
schedule's Lambda target with its Input every period; ECS invokes an AWS_LAMBDA lifecycle hook at its
stage, again while it answers IN_PROGRESS, and rolls back when it answers FAILED.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from deployer.sandbox.control import DEFAULT_APP
from deployer.sandbox.ecs_controller import EcsController
from deployer.sandbox.lambda_runner import LambdaRunner
from deployer.sandbox.moto_ext import awslambda
from deployer.sandbox.schedule_runner import ScheduleRunner
from deployer.sandbox.tasks import TaskRunner
from tests.fakes import SANDBOX_HEALTH
from tests.functional.conftest import REGION, client
from tests.functional.test_moto_ext import create_stack_by_change_set
from tests.functional.test_sandbox_lambda_runner import HOOK, zip_of
from tests.functional.test_sandbox_native import native_service
from tests.functional.test_sandbox_tasks import drive

ACCOUNT = "123456789012"
MINUTE = 0.2  # seconds per sandbox minute in these tests

JUDGE = '''
import os


def handle(event, context):
    if event.get("deployer") == "fail":
        raise RuntimeError("asked to fail")
    return {"ok": True, "event": event, "table": os.environ.get("DEPLOYER_TABLE")}
'''

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


@pytest.fixture
def lambdas(aws, tmp_path):
    """The sandbox's Lambda runner, in use by moto's Invoke (as the daemon sets it up)."""
    runner = LambdaRunner(tmp_path / "lambda", {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
                                                "AWS_REGION": REGION, "AWS_ENDPOINT_URL": aws},
                          resolve=lambda name: awslambda.resolve(name, ACCOUNT, REGION))
    awslambda.use(runner)
    yield runner
    awslambda.use(None)
    runner.stop()


def stack_template(code_key: str, state: str = "ENABLED") -> dict:
    return {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}},
            "Judge": {"Type": "AWS::Lambda::Function", "Properties": {
                "FunctionName": "deployer-judge", "Handler": "judge.handle", "Runtime": "python3.11", "Timeout": 10,
                "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"S3Bucket": "artifacts", "S3Key": code_key},
                "Environment": {"Variables": {"DEPLOYER_TABLE": "deployer-releases"}}}},
            "Guard": {"Type": "AWS::Scheduler::Schedule", "Properties": {
                "ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": {"Mode": "OFF"}, "State": state,
                "Target": {"Arn": {"Fn::GetAtt": ["Judge", "Arn"]}, "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                           "Input": '{"deployer": "guard"}'}}},
        },
        "Outputs": {"Schedule": {"Value": {"Ref": "Guard"}}, "ScheduleArn": {"Value": {"Fn::GetAtt": ["Guard", "Arn"]}}},
    }


def outputs() -> dict[str, str]:
    (stack,) = client("cloudformation").describe_stacks(StackName="deployer-judge")["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.fixture
def judge_stack(lambdas) -> dict[str, str]:
    s3 = client("s3")
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="judge-1.zip", Body=zip_of({"judge.py": JUDGE}))
    create_stack_by_change_set("deployer-judge", stack_template("judge-1.zip"))
    return outputs()


def test_cloudformation_makes_the_function_from_an_s3_zip_and_its_schedule(judge_stack):
    config = client("lambda").get_function(FunctionName="deployer-judge")["Configuration"]
    assert (config["Handler"], config["Runtime"], config["Timeout"]) == ("judge.handle", "python3.11", 10)
    assert config["Environment"]["Variables"] == {"DEPLOYER_TABLE": "deployer-releases"}
    scheduler = client("scheduler")
    name = judge_stack["Schedule"]
    found = scheduler.get_schedule(Name=name)
    assert found["Arn"] == judge_stack["ScheduleArn"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"
    assert (found["ScheduleExpression"], found["State"], found["FlexibleTimeWindow"]) == ("rate(1 minute)", "ENABLED", {"Mode": "OFF"})
    assert (found["Target"]["Arn"], found["Target"]["Input"]) == (config["FunctionArn"], '{"deployer": "guard"}')
    assert [s["Name"] for s in scheduler.list_schedules()["Schedules"]] == [name]

    client("s3").put_object(Bucket="artifacts", Key="judge-2.zip", Body=zip_of({"judge.py": JUDGE.replace('"ok": True', '"ok": 2')}))
    create_stack_by_change_set("deployer-judge", stack_template("judge-2.zip", state="DISABLED"), change_type="UPDATE")
    updated = scheduler.get_schedule(Name=name)
    assert updated["State"] == "DISABLED" and updated["Arn"] == found["Arn"]  # in place
    answer = client("lambda").invoke(FunctionName="deployer-judge", Payload=b"{}")
    assert json.loads(answer["Payload"].read())["ok"] == 2  # the new code
    client("cloudformation").delete_stack(StackName="deployer-judge")
    assert scheduler.list_schedules()["Schedules"] == []
    with pytest.raises(ClientError) as gone:
        scheduler.get_schedule(Name=name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_invoke_runs_the_function(judge_stack):
    lam = client("lambda")
    answer = lam.invoke(FunctionName="deployer-judge", Payload=json.dumps({"deployer": "ping"}), LogType="Tail")
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer and answer["ExecutedVersion"] == "$LATEST"
    assert json.loads(answer["Payload"].read()) == {"ok": True, "event": {"deployer": "ping"}, "table": "deployer-releases"}
    assert "REPORT RequestId: " in base64.b64decode(answer["LogResult"]).decode()

    failed = lam.invoke(FunctionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:deployer-judge", Payload=b'{"deployer": "fail"}')
    assert failed["StatusCode"] == 200 and failed["FunctionError"] == "Unhandled" and "LogResult" not in failed
    body = json.loads(failed["Payload"].read())
    assert (body["errorType"], body["errorMessage"]) == ("RuntimeError", "asked to fail")

    assert lam.invoke(FunctionName="deployer-judge", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    assert lam.invoke(FunctionName="deployer-judge", InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(ClientError) as bad:
        lam.invoke(FunctionName="deployer-judge", Payload=b"not json")
    assert bad.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as missing:
        lam.invoke(FunctionName="nope", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def schedules():
    from moto.scheduler.models import scheduler_backends

    return [s for g in scheduler_backends[ACCOUNT][REGION].schedule_groups.values() for s in g.schedules.values()]


def run_schedules(lambdas: LambdaRunner, seconds: float) -> list:
    """Tick a schedule runner for `seconds` (real time), then wait for the runs it started; their records."""
    started = []

    def submit(arn, payload, source):
        started.append(lambdas.submit(arn, payload, source))
        return started[-1]

    runner = ScheduleRunner(schedules, submit, MINUTE)
    begin = time.monotonic()
    while time.monotonic() - begin < seconds:
        runner.tick()
        time.sleep(0.02)
    return [future.result(timeout=10).record for future in started]


def test_the_schedule_invokes_its_function_every_period(judge_stack, lambdas):
    runs = run_schedules(lambdas, 1.5)  # rate(1 minute): every 0.2 s here, the first at 0.2 s
    assert 4 <= len(runs) <= 7, runs
    assert {(r.function, r.source, r.error_type) for r in runs} == {("deployer-judge", f"schedule {judge_stack['Schedule']}", None)}


def test_a_schedule_whose_run_outlasts_its_period_is_not_run_twice_at_once(lambdas, caplog):
    client("iam").create_role(RoleName="slow", AssumeRolePolicyDocument=json.dumps(TRUST))
    made = client("lambda").create_function(
        FunctionName="slow", Runtime="python3.11", Handler="slow.handle", Role=f"arn:aws:iam::{ACCOUNT}:role/slow", Timeout=5,
        Code={"ZipFile": zip_of({"slow.py": "import time\ndef handle(event, context):\n    time.sleep(0.5)\n"})})
    client("scheduler").create_schedule(Name="slow", ScheduleExpression="rate(1 minute)", FlexibleTimeWindow={"Mode": "OFF"},
                                        Target={"Arn": made["FunctionArn"], "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/slow"})
    with caplog.at_level(logging.INFO, logger="deployer.sandbox.schedules"):
        runs = run_schedules(lambdas, 1.5)
    assert 1 <= len(runs) <= 3 and all(r.error_type is None for r in runs)
    for before, after in zip(runs, runs[1:]):
        assert before.started_at + before.total_ms / 1000 <= after.started_at
    assert "schedule slow: its previous invocation still runs; skipping runs until it ends" in caplog.messages


# ------------------------------------------------------------ ECS lifecycle hooks
@pytest.fixture
def hook_function(lambdas) -> str:
    client("iam").create_role(RoleName="judge", AssumeRolePolicyDocument=json.dumps(TRUST))
    return client("lambda").create_function(
        FunctionName="hook", Runtime="python3.11", Handler="hook.handle", Role=f"arn:aws:iam::{ACCOUNT}:role/judge",
        Code={"ZipFile": zip_of({"hook.py": HOOK})})["FunctionArn"]


@pytest.fixture
def controller(aws, tmp_path, lambdas):
    from moto.ecs.models import ecs_backends
    from moto.elbv2.models import elbv2_backends

    made = EcsController(ecs_backends[ACCOUNT][REGION], elbv2_backends[ACCOUNT][REGION], TaskRunner(DEFAULT_APP, tmp_path / "tasks"),
                         {}, SANDBOX_HEALTH, minute=MINUTE, lambdas=lambdas)
    yield made
    made.stop_all()


def deployment(arn: str) -> dict:
    return client("ecs").describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def hooked_service(controller, name: str, function_arn: str, details: dict) -> dict:
    aws = SimpleNamespace(ec2=client("ec2"), elbv2=client("elbv2"), ecs=client("ecs"))
    config = {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0, "lifecycleHooks": [{
        "targetType": "AWS_LAMBDA", "hookTargetArn": function_arn, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/judge",
        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"], "hookDetails": details}]}
    made = native_service(aws, name, config)
    drive(controller, lambda: deployment(made["first"])["status"] == "SUCCESSFUL")
    aws.ecs.update_service(cluster=name, service="web", taskDefinition=made["td"][1])
    made["arn"] = aws.ecs.describe_services(cluster=name, services=["web"])["services"][0]["currentServiceDeployment"]
    return made


def test_a_lambda_hook_in_progress_then_succeeded_lets_the_deployment_complete(controller, hook_function, lambdas, caplog):
    made = hooked_service(controller, "hooked", hook_function, {"service": "web", "stage": "POST_TEST_TRAFFIC_SHIFT"})
    arn = made["arn"]
    with caplog.at_level(logging.INFO, logger="deployer.sandbox.lambda"):
        drive(controller, lambda: deployment(arn).get("lifecycleHookDetails"))
        (running,) = deployment(arn)["lifecycleHookDetails"]
        assert (running["targetType"], running["targetArn"], running["status"]) == ("AWS_LAMBDA", hook_function, "IN_PROGRESS")
        assert deployment(arn)["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
        drive(controller, lambda: deployment(arn)["status"] == "SUCCESSFUL")
    (hook,) = deployment(arn)["lifecycleHookDetails"]
    assert hook["status"] == "SUCCEEDED" and hook["hookId"] == running["hookId"]
    events = [json.loads(m.split("EVENT ", 1)[1]) for m in caplog.messages if m.startswith("hook: EVENT ")]
    assert [e["hookDetails"] for e in events] == [{"service": "web", "stage": "POST_TEST_TRAFFIC_SHIFT"},
                                                 {"service": "web", "stage": "POST_TEST_TRAFFIC_SHIFT", "count": 1},
                                                 {"service": "web", "stage": "POST_TEST_TRAFFIC_SHIFT", "count": 2}]
    first = events[0]
    assert first["serviceArn"].endswith(":service/hooked/web") and first["resourceArn"] == arn
    assert first["targetServiceRevisionArn"] == deployment(arn)["targetServiceRevision"]["arn"]
    assert first["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT" and first["executionDetails"]["serviceArn"] == first["serviceArn"]
    assert [r.source for r in lambdas.records()].count(f"ECS {hook['hookId']}") == 3


def test_a_lambda_hook_that_fails_rolls_the_deployment_back(controller, hook_function):
    made = hooked_service(controller, "failing", hook_function, {"mode": "fail"})
    arn = made["arn"]
    drive(controller, lambda: deployment(arn)["status"] == "ROLLBACK_SUCCESSFUL")
    done = deployment(arn)
    (hook,) = done["lifecycleHookDetails"]
    assert hook["status"] == "FAILED" and "returned hookStatus FAILED" in done["rollback"]["reason"]
    assert done["rollback"]["serviceRevisionArn"] == done["sourceServiceRevisions"][0]["arn"]
    service = client("ecs").describe_services(cluster="failing", services=["web"])["services"][0]
    assert service["taskDefinition"] == made["td"][0]
