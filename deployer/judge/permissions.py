"""What the judge function may call, in one place: the synth writes its role's policy from this,
and a test runs the judge against moto recording every call it makes, so the two cannot drift.

Each entry: (actions, resource pattern). `{table}` is the records table's ARN; `{partition}`,
`{region}` and `{account}` are the function's own. Actions that take no resource (CloudWatch's
reads, ELB's Describe*) have "*", as AWS requires.
"""

from __future__ import annotations

JUDGE_POLICY: tuple[tuple[tuple[str, ...], str], ...] = (
    # the release records, the in-flight items and the service locks
    (("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:TransactWriteItems"), "{table}"),
    # where each service's resources are: its stack's outputs
    (("cloudformation:DescribeStacks",), "arn:{partition}:cloudformation:{region}:{account}:stack/deployer-*/*"),
    # the gates' evidence; ELB's reads and the test listener's address
    (("cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"), "*"),
    (("elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeLoadBalancers"), "*"),
    # the guard's rollback (or resume) of a two-service release: the weights, on a listener or its rule
    (("elasticloadbalancing:ModifyListener",), "arn:{partition}:elasticloadbalancing:{region}:{account}:listener/app/*"),
    (("elasticloadbalancing:ModifyRule",), "arn:{partition}:elasticloadbalancing:{region}:{account}:listener-rule/app/*"),
    (("route53:ListHostedZonesByName",), "*"),
    (("route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets"), "arn:{partition}:route53:::hostedzone/*"),
    # ECS: the colors' services (scaled back, or on), their tasks, and ECS's own deployments (read)
    (("ecs:DescribeServices", "ecs:UpdateService", "ecs:ListServiceDeployments"), "arn:{partition}:ecs:{region}:{account}:service/*"),
    (("ecs:DescribeServiceDeployments", "ecs:StopServiceDeployment"), "arn:{partition}:ecs:{region}:{account}:service-deployment/*"),
    (("ecs:ListTasks", "ecs:DescribeTaskDefinition"), "*"),
    (("ecs:DescribeTasks",), "arn:{partition}:ecs:{region}:{account}:task/*"),
)


# A call IAM authorizes as other actions: a DynamoDB transaction's parts need the single-item actions
# ("Using IAM with DynamoDB transactions"); there is no IAM action dynamodb:TransactWriteItems.
# The journal's transactions put (the head, the plan, the log, the in-flight item) and delete (it).
IAM_ACTIONS = {"dynamodb:TransactWriteItems": ("dynamodb:PutItem", "dynamodb:DeleteItem")}


def actions() -> set[str]:
    """The API calls the judge may make, as `service:Operation`."""
    return {action for group, _ in JUDGE_POLICY for action in group}


def iam_actions(call: str) -> tuple[str, ...]:
    """The IAM actions that allow `call`."""
    return IAM_ACTIONS.get(call, (call,))
