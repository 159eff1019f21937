"""Names shared by the templates, provisioning and the release engine.

Logical IDs, parameter and output names live here once, so the code that reads a live stack
and the code that writes its template cannot drift apart. Pure: no I/O.
"""

from __future__ import annotations

BOOTSTRAP_STACK = "deployer-bootstrap"
RECORDS_TABLE_OUTPUT = "RecordsTable"
ACCESS_LOGS_BUCKET = "AccessLogsBucket"
ACCESS_LOGS_OUTPUT = "AccessLogsBucketName"
ACCESS_LOGS_EXPORT = "deployer-access-logs-bucket"  # imported by services with access_logs.bucket: bootstrap
RECORDS_TABLE_EXPORT = "deployer-records-table"  # the table's name: the judge function's DEPLOYER_TABLE
RECORDS_TABLE_ARN_OUTPUT = "RecordsTableArn"
RECORDS_TABLE_ARN_EXPORT = "deployer-records-table-arn"  # what the judge's role may read and write
CODE_BUCKET = "CodeBucket"
CODE_BUCKET_OUTPUT = "CodeBucketName"
CODE_BUCKET_EXPORT = "deployer-code-bucket"  # the judge function's artifact: judge/<sha256>.zip

# The judge function (deployer.judge), one per account and region, in a stack of its own.
JUDGE_STACK = "deployer-judge"
JUDGE_FUNCTION_NAME = "deployer-judge"
JUDGE_HANDLER = "deployer.judge.entry.handle"
JUDGE_CODE_PREFIX = "judge/"
JUDGE_FUNCTION = "JudgeFunction"
JUDGE_FUNCTION_OUTPUT = "JudgeFunctionArn"
JUDGE_FUNCTION_EXPORT = "deployer-judge-function-arn"  # imported by services whose release.ecs.judge is lambda
PARAM_CODE_KEY = "CodeKey"
PARAM_RUNTIME = "Runtime"
PARAM_ARCHITECTURE = "Architecture"
JUDGE_RUNTIMES = ("python3.11", "python3.12", "python3.13")  # Lambda's Pythons the artifact may be built with
JUDGE_ARCHITECTURES = ("x86_64", "arm64")

PARAM_IMAGE = "ImageUri"
PARAM_TEST_COLOR = "TestListenerColor"

CLUSTER = "Cluster"
TASK_DEFINITION = "TaskDefinition"
EXECUTION_ROLE = "ExecutionRole"
TASK_ROLE = "TaskRole"
LOG_GROUP = "LogGroup"
ALB_SECURITY_GROUP = "AlbSecurityGroup"
TASK_SECURITY_GROUP = "TaskSecurityGroup"
LISTENER = "Listener"
TEST_LISTENER = "TestListener"
LISTENER_RULE = "ListenerRule"
PRODUCTION_RULE = "ProductionListenerRule"  # engine ecs: the rule whose weights ECS moves
TEST_RULE = "TestListenerRule"  # engine ecs: the test listener's rule, moved to the new revision first
INFRASTRUCTURE_ROLE = "EcsInfrastructureRole"  # engine ecs: the role ECS assumes to change the rules
RECORD = "Record"


def stack_name(service_name: str) -> str:
    return f"deployer-{service_name}"


def cluster_stack_name(cluster: str) -> str:
    return f"deployer-cluster-{cluster}"


def title(color: str) -> str:
    """`blue` -> `Blue`; the rolling service's only color `main` adds nothing to IDs."""
    return "" if color == "main" else color.capitalize()


def param_task_definition(color: str) -> str:
    return f"{title(color)}TaskDefinitionArn"


def param_desired_count(color: str) -> str:
    return f"{title(color)}DesiredCount"


def param_weight(color: str) -> str:
    return f"{title(color)}Weight"


def condition_live_task_definition(color: str) -> str:
    return f"{title(color)}HasLiveTaskDefinition"


def target_group(color: str) -> str:
    return f"{title(color)}TargetGroup"


def ecs_service(color: str) -> str:
    return f"{title(color)}Service"


def load_balancer(color: str | None = None) -> str:
    """One ALB per service, or one per color when DNS switches the traffic."""
    return f"{title(color)}LoadBalancer" if color else "LoadBalancer"


def color_listener(color: str) -> str:
    return f"{title(color)}Listener"


def redirect_listener(color: str | None = None) -> str:
    """The HTTP listener that redirects to an HTTPS one (one per ALB)."""
    return f"{title(color) if color else ''}HttpRedirectListener"


def weighted_record(color: str) -> str:
    return f"{title(color)}Record"


def alarm_5xx(color: str) -> str:
    return f"{title(color)}Target5xxAlarm"


def alarm_p99(color: str) -> str:
    return f"{title(color)}TargetP99Alarm"


def output_service(color: str) -> str:
    return f"{title(color)}ServiceName"


def output_target_group(color: str) -> str:
    return f"{title(color)}TargetGroupArn"


def output_target_group_full_name(color: str) -> str:
    return f"{title(color)}TargetGroupFullName"


def output_load_balancer_full_name(color: str | None = None) -> str:
    return f"{title(color) if color else ''}LoadBalancerFullName"


OUTPUT_CLUSTER = "ClusterName"
OUTPUT_LISTENER = "ListenerArn"  # the listener or rule that carries the weights
OUTPUT_TEST_LISTENER = "TestListenerArn"
OUTPUT_TEST_RULE = "TestListenerRuleArn"  # engine ecs
OUTPUT_TASK_DEFINITION = "TaskDefinitionArn"
OUTPUT_RECORD = "RecordName"
OUTPUT_ZONE = "HostedZoneName"
