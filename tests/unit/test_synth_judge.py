"""The judge function's stack, the bootstrap pieces it imports, and services whose stages it judges
(`release.ecs.judge: lambda`): one AWS_LAMBDA hook per stage, ECS allowed to call this function only."""

import copy

import pytest

from deployer.judge.permissions import JUDGE_POLICY
from deployer.spec import parse_config
from deployer.synth import bootstrap_template, judge_template, names, service_template
from deployer.synth.checks import check_template
from deployer.judge.permissions import iam_actions
from deployer.synth.judge import MEMORY_MB, TIMEOUT_SECONDS, policy_statements

NATIVE = """
services:
  shop:
    cluster: demo
    image: example/shop:1
    network: {{vpc: vpc-0a1, subnets: [subnet-0a1, subnet-0a2]}}
    load_balancer:
      listener: {{port: 80}}
      test_listener: {{port: 8080}}
    release:
      engine: ecs
      strategy: {strategy}
      ecs: {{judge: {judge}, hook_timeout: 20m}}
"""


def shop(strategy: str = "canary", judge: str = "lambda") -> dict:
    service = parse_config(NATIVE.format(strategy=strategy, judge=judge), "deployer.yaml").services["shop"]
    return service_template(service).to_dict()


@pytest.fixture(scope="module")
def judge() -> dict:
    return judge_template().to_dict()


def of_type(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


# -- the judge's stack ---------------------------------------------------------------------------

def test_function_runs_the_installed_artifact_with_the_records_table(judge):
    function = judge["Resources"][names.JUDGE_FUNCTION]["Properties"]
    assert function["Handler"] == "deployer.judge.entry.handle" == names.JUDGE_HANDLER
    assert function["Code"] == {"S3Bucket": {"Fn::ImportValue": names.CODE_BUCKET_EXPORT}, "S3Key": {"Ref": "CodeKey"}}
    assert function["Runtime"] == {"Ref": "Runtime"} and function["Architectures"] == [{"Ref": "Architecture"}]
    assert function["Environment"] == {"Variables": {"DEPLOYER_TABLE": {"Fn::ImportValue": names.RECORDS_TABLE_EXPORT}}}
    assert function["Timeout"] == TIMEOUT_SECONDS <= 900 and 128 <= function["MemorySize"] == MEMORY_MB
    params = judge["Parameters"]
    assert params["Runtime"]["AllowedValues"] == ["python3.11", "python3.12", "python3.13"]
    assert params["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    assert params["CodeKey"]["AllowedPattern"] == r"^judge/[0-9a-f]{64}\.zip$"
    assert judge["Outputs"][names.JUDGE_FUNCTION_OUTPUT]["Export"] == {"Name": names.JUDGE_FUNCTION_EXPORT}


def test_log_group_is_the_functions_own_with_a_retention(judge):
    (group,) = of_type(judge, "AWS::Logs::LogGroup").values()
    assert group["Properties"]["LogGroupName"] == "/aws/lambda/deployer-judge"
    assert group["Properties"]["RetentionInDays"] == 30


def test_role_is_written_from_judge_policy_plus_its_own_logs(judge):
    role = judge["Resources"]["JudgeRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    *from_policy, logs = statements
    assert from_policy == policy_statements(JUDGE_POLICY)
    assert len(from_policy) == len(JUDGE_POLICY)
    assert logs == {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": {"Fn::GetAtt": ["JudgeLogGroup", "Arn"]}}
    granted = {a for s in statements for a in s["Action"]}
    for group, _ in JUDGE_POLICY:
        for action in group:
            assert set(iam_actions(action)) <= granted, action
    assert "dynamodb:TransactWriteItems" not in granted  # not an IAM action: its parts are PutItem, DeleteItem...


def test_policy_placeholders_resolve_to_the_stack_and_the_bootstrap_table():
    policy = ((("dynamodb:GetItem",), "{table}"),
              (("ecs:UpdateService",), "arn:{partition}:ecs:{region}:{account}:service/*"),
              (("cloudwatch:GetMetricData",), "*"),
              (("dynamodb:Query",), "{table}/index/*"))
    table = {"Fn::ImportValue": names.RECORDS_TABLE_ARN_EXPORT}
    resources = [s["Resource"] for s in policy_statements(policy)]
    resources = [r.to_dict() if hasattr(r, "to_dict") else r for r in resources]
    assert resources == [
        table,
        {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/*"},
        "*",
        {"Fn::Sub": ["${Table}/index/*", {"Table": table}]},
    ]
    with pytest.raises(KeyError):
        policy_statements(((("s3:GetObject",), "arn:{partition}:s3:::{bucket}/*"),))


def test_schedule_runs_the_guard_every_minute_with_a_role_for_this_function_only(judge):
    schedule = judge["Resources"]["GuardSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == "rate(1 minute)" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Input"] == '{"deployer": "guard"}'
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0}
    role = judge["Resources"]["GuardScheduleRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (invoke,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert invoke == {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": target["Arn"]}
    retries = of_type(judge, "AWS::Lambda::EventInvokeConfig")["JudgeAsyncInvokeConfig"]["Properties"]
    assert retries["MaximumRetryAttempts"] == 0  # Scheduler invokes asynchronously: no late replays


def test_judge_template_passes_our_checks_and_the_checks_catch_a_schedule_that_cannot_invoke(judge):
    assert check_template(judge) == []
    broken = copy.deepcopy(judge)
    broken["Resources"]["GuardScheduleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"] = "*x"
    assert check_template(broken) == [
        'GuardScheduleRole: needs lambda:InvokeFunction on {"Fn::GetAtt": ["JudgeFunction", "Arn"]} (GuardSchedule: its target)']
    broken = copy.deepcopy(judge)
    broken["Resources"]["JudgeLogGroup"]["Properties"]["LogGroupName"] = "/deployer/judge"
    assert check_template(broken) == ["JudgeFunction: no log group /aws/lambda/deployer-judge in this template (with a retention)"]


# -- bootstrap: what the judge's stack imports -----------------------------------------------------

def test_bootstrap_exports_the_table_and_a_private_code_bucket():
    t = bootstrap_template().to_dict()
    outputs = t["Outputs"]
    assert outputs[names.RECORDS_TABLE_OUTPUT]["Export"] == {"Name": names.RECORDS_TABLE_EXPORT}
    assert outputs[names.RECORDS_TABLE_ARN_OUTPUT] == {"Value": {"Fn::GetAtt": ["Records", "Arn"]},
                                                       "Export": {"Name": names.RECORDS_TABLE_ARN_EXPORT}}
    assert outputs[names.CODE_BUCKET_OUTPUT]["Export"] == {"Name": names.CODE_BUCKET_EXPORT}
    bucket = t["Resources"][names.CODE_BUCKET]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["Fn::If"][0] == "HasKmsKey"
    (tls,) = t["Resources"]["CodeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# -- services judged by the function ---------------------------------------------------------------

def test_lambda_judge_is_one_aws_lambda_hook_per_stage_with_the_stage_in_its_details():
    t = shop()
    hooks = t["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]["LifecycleHooks"]
    function = {"Fn::ImportValue": names.JUDGE_FUNCTION_EXPORT}
    assert hooks == [{
        "TargetType": "AWS_LAMBDA",
        "HookTargetArn": function,
        "RoleArn": {"Fn::GetAtt": [names.INFRASTRUCTURE_ROLE, "Arn"]},
        "LifecycleStages": [stage],
        "HookDetails": {"service": "shop", "stage": stage},
        "TimeoutConfiguration": {"TimeoutInMinutes": 20, "Action": "ROLLBACK"},
    } for stage in ("PRE_PRODUCTION_TRAFFIC_SHIFT",)]  # not POST_TEST: the function cannot reach the test listener
    role = t["Resources"][names.INFRASTRUCTURE_ROLE]["Properties"]
    assert role["Policies"] == [{"PolicyName": "invoke-judge", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function}]}}]
    assert check_template(t) == []


def test_runner_judge_keeps_one_pause_hook_and_no_invoke_permission():
    t = shop(judge="runner")
    (hook,) = t["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]["LifecycleHooks"]
    assert hook["TargetType"] == "PAUSE" and "HookTargetArn" not in hook
    assert "Policies" not in t["Resources"][names.INFRASTRUCTURE_ROLE]["Properties"]


def test_bluegreen_judged_by_lambda_after_the_production_shift():
    hooks = shop("bluegreen")["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]["LifecycleHooks"]
    assert [h["HookDetails"]["stage"] for h in hooks] == ["POST_PRODUCTION_TRAFFIC_SHIFT"]


@pytest.mark.parametrize("break_it,expected", [
    (lambda r: r[names.INFRASTRUCTURE_ROLE]["Properties"].pop("Policies"),
     'EcsInfrastructureRole: needs lambda:InvokeFunction on {"Fn::ImportValue": "deployer-judge-function-arn"} '
     "(Service: the AWS_LAMBDA hook at PRE_PRODUCTION_TRAFFIC_SHIFT)"),
    (lambda r: r["Service"]["Properties"]["DeploymentConfiguration"]["LifecycleHooks"][0].pop("RoleArn"),
     "Service: the AWS_LAMBDA hook at PRE_PRODUCTION_TRAFFIC_SHIFT needs a RoleArn from this template "
     "(a role ecs.amazonaws.com may assume)"),
    (lambda r: r["Service"]["Properties"]["DeploymentConfiguration"]["LifecycleHooks"][0].pop("HookTargetArn"),
     "Service: the AWS_LAMBDA hook at PRE_PRODUCTION_TRAFFIC_SHIFT has no function to invoke"),
])
def test_our_checks_catch_a_lambda_hook_ecs_could_not_call(break_it, expected):
    t = shop()
    break_it(t["Resources"])
    assert expected in check_template(t)
