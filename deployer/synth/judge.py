"""The judge function's stack (`deployer-judge`), once per account and region, after bootstrap. Pure.

- the function (deployer.judge.entry.handle), its code the zip `deployer judge install` put in the
  bootstrap stack's code bucket under `CodeKey`, on the runtime and architecture it was built for;
- its role: what `deployer.judge.permissions.JUDGE_POLICY` lists (written from it here, never by
  hand), with the records table's ARN imported from bootstrap, plus writing its own log group;
- its log group, kept LOG_RETENTION_DAYS (30 days): the judge's decisions and their numbers are in
  the release records; the logs are for debugging the function, and the guard writes some every minute;
- an EventBridge Scheduler schedule that invokes it every minute as the guard of releases whose
  runner is gone, with a role that may invoke this function and nothing else. Scheduler invokes
  Lambda asynchronously ("Invoke a Lambda function on a schedule", AWS Lambda developer guide), so
  Lambda's own retries of a failed event are off too: the next minute's run is the retry;
- an export of the function's ARN, which services judged by it (`release.ecs.judge: lambda`) import.
"""

from __future__ import annotations

import json

from troposphere import AccountId, Export, GetAtt, ImportValue, Output, Parameter, Ref, Sub, Template
from troposphere.awslambda import Code, Environment, EventInvokeConfig, Function
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup
from troposphere.scheduler import FlexibleTimeWindow, RetryPolicy, Schedule, Target

from deployer.judge.permissions import JUDGE_POLICY, iam_actions
from deployer.synth import names
from deployer.synth.checks import checked
from deployer.synth.notes import note

CODE_KEY_PATTERN = rf"^{names.JUDGE_CODE_PREFIX}[0-9a-f]{{64}}\.zip$"
LOG_RETENTION_DAYS = 30
# The guard may roll a release back (one weight write, read back; a Route53 change takes up to a
# minute to reach INSYNC) or resume one step of it; a hook answers one verdict per call (IN_PROGRESS
# has ECS call again). Seconds, normally: 300 leaves room for AWS's retries with backoff, and keeps a
# stuck run from overlapping more than a few of the once-a-minute guard runs (the lock keeps them apart).
TIMEOUT_SECONDS = 300
# Lambda gives CPU in proportion to memory, one vCPU at 1,769 MB ("Configure Lambda function memory",
# AWS Lambda developer guide). A cold start is CPU-bound, about one CPU-second (importing the judge and
# botocore from source, and making its clients; measured): about 3.5 s at 512 MB, 14 s at 128. The
# guard's run every minute keeps an environment warm; its 43,200 runs a month of well under a second
# at 0.5 GB stay within a few thousand GB-seconds. As memory it needs about 70 MB (max RSS, measured).
MEMORY_MB = 512
GUARD_EVENT = {"deployer": "guard"}
LOG_GROUP = "JudgeLogGroup"
ROLE = "JudgeRole"
SCHEDULE = "GuardSchedule"
SCHEDULE_ROLE = "GuardScheduleRole"

_PLACEHOLDERS = {"partition": "${AWS::Partition}", "region": "${AWS::Region}", "account": "${AWS::AccountId}",
                 "table": "${Table}"}


def judge_template() -> Template:
    t = Template(Description="deployer: the judge function (ECS lifecycle hooks, guard of orphaned releases)")
    code_key = t.add_parameter(Parameter(
        names.PARAM_CODE_KEY, Type="String", AllowedPattern=CODE_KEY_PATTERN,
        Description="The artifact in the bootstrap stack's code bucket: judge/<sha256>.zip (deployer judge install)."))
    runtime = t.add_parameter(Parameter(
        names.PARAM_RUNTIME, Type="String", AllowedValues=list(names.JUDGE_RUNTIMES),
        Description="The Python the artifact was built with: its compiled extensions work on that runtime only."))
    architecture = t.add_parameter(Parameter(
        names.PARAM_ARCHITECTURE, Type="String", AllowedValues=list(names.JUDGE_ARCHITECTURES),
        Description="The machine the artifact was built on (x86_64 or arm64)."))
    t.add_resource(_log_group())
    t.add_resource(_role())
    t.add_resource(_function(code_key, runtime, architecture))
    t.add_resource(EventInvokeConfig(
        "JudgeAsyncInvokeConfig", FunctionName=Ref(names.JUDGE_FUNCTION), Qualifier="$LATEST",
        MaximumRetryAttempts=0, MaximumEventAgeInSeconds=60))
    t.add_resource(_schedule_role())
    t.add_resource(_schedule())
    t.add_output(Output(names.JUDGE_FUNCTION_OUTPUT, Value=GetAtt(names.JUDGE_FUNCTION, "Arn"),
                        Export=Export(names.JUDGE_FUNCTION_EXPORT)))
    return checked(t)


def policy_statements(policy=JUDGE_POLICY) -> list[dict]:
    """One Allow statement per (actions, resource pattern) of the judge's policy: its calls as the IAM
    actions that allow them (IAM_ACTIONS), its placeholders resolved: `{table}` from the bootstrap
    stack's export, the rest from the stack's own pseudo parameters. A placeholder this does not know
    is a KeyError, at synth."""
    statements = []
    for actions, pattern in policy:
        resource = pattern
        if pattern == "{table}":
            resource = ImportValue(names.RECORDS_TABLE_ARN_EXPORT)
        elif "{" in pattern:
            text = pattern.format_map(_PLACEHOLDERS)
            table = {"Table": ImportValue(names.RECORDS_TABLE_ARN_EXPORT)} if "${Table}" in text else {}
            resource = Sub(text, **table)
        allowed = sorted({iam for action in actions for iam in iam_actions(action)})
        statements.append({"Effect": "Allow", "Action": allowed, "Resource": resource})
    return statements


def _log_group() -> LogGroup:
    group = LogGroup(LOG_GROUP, LogGroupName=f"/aws/lambda/{names.JUDGE_FUNCTION_NAME}",
                     RetentionInDays=LOG_RETENTION_DAYS, DeletionPolicy="Delete", UpdateReplacePolicy="Delete")
    return note(group, "log group is encrypted with CloudWatch Logs' own key, not a KMS key",
                "It holds the judge's log lines (service names, verdicts and their numbers), no secrets; the "
                "decisions themselves are kept in the release records, which use bootstrap's key.")


def _role() -> Role:
    logs = {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": GetAtt(LOG_GROUP, "Arn")}
    return Role(
        ROLE,
        AssumeRolePolicyDocument={"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        Policies=[Policy(PolicyName="judge", PolicyDocument={
            "Version": "2012-10-17", "Statement": [*policy_statements(), logs]})],
    )


def _function(code_key: Parameter, runtime: Parameter, architecture: Parameter) -> Function:
    function = Function(
        names.JUDGE_FUNCTION,
        FunctionName=names.JUDGE_FUNCTION_NAME,
        Description="deployer's judge: ECS lifecycle hooks of native deployments, guard of releases whose runner is gone",
        Handler=names.JUDGE_HANDLER,
        Runtime=Ref(runtime),
        Architectures=[Ref(architecture)],
        Code=Code(S3Bucket=ImportValue(names.CODE_BUCKET_EXPORT), S3Key=Ref(code_key)),
        Role=GetAtt(ROLE, "Arn"),
        Timeout=TIMEOUT_SECONDS,
        MemorySize=MEMORY_MB,
        Environment=Environment(Variables={"DEPLOYER_TABLE": ImportValue(names.RECORDS_TABLE_EXPORT)}),
    )
    note(function, "function has no concurrency limit",
         "ECS calls it for every judged stage of every service at once; a reservation would take from the "
         "account's pool (a new account's whole pool is 10). Runs of the guard are kept apart by the service locks.")
    note(function, "function has no dead-letter queue",
         "An ECS hook is a synchronous call (a failure rolls the deployment back); a failed guard run is "
         "logged and the next minute's run does the same work.")
    note(function, "function is not in a VPC",
         "It calls AWS APIs only (DynamoDB, ECS, ELB, CloudWatch, Route53, CloudFormation); in a VPC it would need "
         "a NAT gateway or an endpoint for each.")
    note(function, "environment variables are not encrypted with a customer-managed KMS key",
         "The only one is DEPLOYER_TABLE, the records table's name.")
    return note(function, "function has no code-signing configuration",
                "Its code is the zip `deployer judge install` built from the installed deployer, stored under its "
                "sha256 in bootstrap's private, versioned code bucket, which only the account's principals can write.")


def _schedule_role() -> Role:
    trust = {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
             "Condition": {"StringEquals": {"aws:SourceAccount": AccountId}}}
    invoke = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": GetAtt(names.JUDGE_FUNCTION, "Arn")}
    return Role(
        SCHEDULE_ROLE,
        AssumeRolePolicyDocument={"Version": "2012-10-17", "Statement": [trust]},
        Policies=[Policy(PolicyName="invoke-judge", PolicyDocument={"Version": "2012-10-17", "Statement": [invoke]})],
    )


def _schedule() -> Schedule:
    return Schedule(
        SCHEDULE,
        Description="deployer: the judge's guard of releases whose runner is gone",
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow=FlexibleTimeWindow(Mode="OFF"),
        State="ENABLED",
        Target=Target(
            Arn=GetAtt(names.JUDGE_FUNCTION, "Arn"),
            RoleArn=GetAtt(SCHEDULE_ROLE, "Arn"),
            Input=json.dumps(GUARD_EVENT),
            # a missed minute is not worth catching up: the next one runs within 60 s anyway
            RetryPolicy=RetryPolicy(MaximumRetryAttempts=0, MaximumEventAgeInSeconds=60),
        ),
    )
