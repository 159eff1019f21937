"""Least-privilege roles: the execution role pulls images, writes logs and reads only the
secrets the spec names; the task role starts with no permissions at all. Pure."""

from __future__ import annotations

from troposphere import GetAtt, Template
from troposphere.iam import Policy, Role

from deployer.spec import Service
from deployer.synth import names, native

_ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
_EXECUTION_MANAGED_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


def add_roles(t: Template, service: Service) -> None:
    policies = []
    secret_arns = sorted(set(service.secrets.values()))
    if secret_arns:
        statements = []
        sm = [a for a in secret_arns if ":secretsmanager:" in a]
        ssm = [a for a in secret_arns if ":ssm:" in a]
        if sm:
            statements.append({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": sm})
        if ssm:
            statements.append({"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": ssm})
        policies.append(
            Policy(PolicyName="read-secrets", PolicyDocument={"Version": "2012-10-17", "Statement": statements})
        )
    t.add_resource(
        Role(
            names.EXECUTION_ROLE,
            AssumeRolePolicyDocument=_ECS_TASKS_TRUST,
            ManagedPolicyArns=[_EXECUTION_MANAGED_POLICY],
            Policies=policies,
        )
    )
    # The application's own permissions; deliberately empty until the spec grows a field for them.
    t.add_resource(Role(names.TASK_ROLE, AssumeRolePolicyDocument=_ECS_TASKS_TRUST))
    if native.two_target_groups(service):
        native.add_infrastructure_role(t, service)


def execution_role_arn():
    return GetAtt(names.EXECUTION_ROLE, "Arn")


def task_role_arn():
    return GetAtt(names.TASK_ROLE, "Arn")
