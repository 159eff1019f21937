"""The pieces of a service whose deployments ECS runs itself (`release.engine: ecs`). Pure.

One ECS service, two target groups: ECS registers the new revision's tasks in the one that
serves no production traffic and moves the weights of two listener rules that forward to both
(the production rule, and the test rule on the test listener). The service names those rules and
an infrastructure role ECS assumes to change them, the role AWS documents with its managed policy
AmazonECSInfrastructureRolePolicyForLoadBalancers (AmazonECS developer guide, "Amazon ECS
infrastructure IAM role for load balancers"). Rules forward only: ECS refuses a rule that mixes a
forward with other actions ("Application Load Balancer resources for blue/green deployments").
The rules' weights are stack parameters read back from the live production rule, so a
CloudFormation update never moves traffic that ECS moved.

The deployment configuration sets the strategy, ECS's bake times, the service's alarms as
deployment alarms (ECS rolls back on them by itself, whether or not a runner is watching) and a
lifecycle hook at the stages the judge decides, with the spec's timeout and action:
- `release.ecs.judge: runner`: one PAUSE hook; deployer's process answers it;
- `release.ecs.judge: lambda`: one AWS_LAMBDA hook per stage, calling the judge function (the
  `deployer-judge` stack's export) with the infrastructure role, which may invoke that function and no
  other. ECS's payload does not say which stage called (AWS: "Lifecycle hooks for Amazon ECS service
  deployments", the lifecycle payloads), so each hook's details carry the service and the stage.
  ECS calls the function with the hook's RoleArn: a role ECS (ecs.amazonaws.com) may assume, holding
  lambda:InvokeFunction ("Permissions required for Lambda functions in Amazon ECS blue/green
  deployments", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-permissions.html).
  The timeout applies to Lambda hooks as to PAUSE ones: the API reference documents
  TimeoutConfiguration on DeploymentLifecycleHook for either target type (default 1440 minutes,
  ROLLBACK; https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHook.html)
  and reports a Lambda hook's `expiresAt` and `timeoutAction` too (API_DeploymentLifecycleHookDetail),
  so a judge that keeps answering IN_PROGRESS (ECS calls it again, every 30 s by default:
  https://docs.aws.amazon.com/AmazonECS/latest/developerguide/lambda-lifecycle-hooks.html) is
  stopped by it as well.
"""

from __future__ import annotations

from troposphere import GetAtt, ImportValue, Ref, Sub, Template
from troposphere.ecs import (
    AdvancedConfiguration,
    CanaryConfiguration,
    DeploymentAlarms,
    DeploymentCircuitBreaker,
    DeploymentConfiguration,
    DeploymentLifecycleHook,
    HookTimeoutConfig,
    LinearConfiguration,
    LoadBalancer,
)
from troposphere.elasticloadbalancingv2 import Condition, ListenerRule, PathPatternConfig
from troposphere.iam import Policy, Role

from deployer.spec import Service
from deployer.spec.native import ECS_STRATEGY, judge_at
from deployer.synth import names

PRIMARY, ALTERNATE = "blue", "green"  # the target groups' names; which one serves production changes with each release
INFRASTRUCTURE_POLICY = "arn:${AWS::Partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
_ECS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "AllowAccessToECSForInfrastructureManagement", "Effect": "Allow",
                   "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def two_target_groups(service: Service) -> bool:
    """ECS shifts traffic between two target groups (every native strategy but rolling)."""
    return service.release.native and service.target_colors == (PRIMARY, ALTERNATE)


def add_rules(t: Template, service: Service, weighted_forward) -> None:
    """The production rule on the main listener, and the test rule on the test listener (if any)."""
    rules = [(names.PRODUCTION_RULE, names.LISTENER)]
    if service.load_balancer.test_listener is not None:
        rules.append((names.TEST_RULE, names.TEST_LISTENER))
    for logical_id, listener in rules:
        t.add_resource(ListenerRule(
            logical_id,
            ListenerArn=Ref(listener),
            Priority=1,
            Conditions=[Condition(Field="path-pattern", PathPatternConfig=PathPatternConfig(Values=["/*"]))],
            Actions=[weighted_forward],
        ))


def production_rule(service: Service) -> str:
    """The rule whose weights ECS moves: ours, or the one on the shared listener."""
    return names.LISTENER_RULE if service.load_balancer.rule is not None else names.PRODUCTION_RULE


def judged_by_lambda(service: Service) -> bool:
    """ECS calls the judge function at the judged stages (there are some, and the spec says lambda)."""
    return bool(service.release.native and service.release.ecs_options.judge == "lambda" and judge_at(service))


def judge_function_arn():
    """The judge function's ARN, exported by the `deployer-judge` stack (deployer.synth.judge)."""
    return ImportValue(names.JUDGE_FUNCTION_EXPORT)


def add_infrastructure_role(t: Template, service: Service) -> None:
    extra = {}
    if judged_by_lambda(service):  # the role ECS calls the hooks with: this one function only
        invoke = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": judge_function_arn()}
        extra["Policies"] = [Policy(PolicyName="invoke-judge",
                                    PolicyDocument={"Version": "2012-10-17", "Statement": [invoke]})]
    t.add_resource(Role(names.INFRASTRUCTURE_ROLE, AssumeRolePolicyDocument=_ECS_TRUST,
                        ManagedPolicyArns=[Sub(INFRASTRUCTURE_POLICY)], **extra))


def load_balancers(service: Service) -> list[LoadBalancer]:
    advanced = {"AlternateTargetGroupArn": Ref(names.target_group(ALTERNATE)),
                "ProductionListenerRule": Ref(production_rule(service)),
                "RoleArn": GetAtt(names.INFRASTRUCTURE_ROLE, "Arn")}
    if service.load_balancer.test_listener is not None:
        advanced["TestListenerRule"] = Ref(names.TEST_RULE)
    return [LoadBalancer(
        ContainerName=service.name,
        ContainerPort=service.container_port,
        TargetGroupArn=Ref(names.target_group(PRIMARY)),
        AdvancedConfiguration=AdvancedConfiguration(**advanced),
    )]


def percent(value: float) -> float | int:
    """Whole percents as integers: the template reads 10, not 10.0."""
    return int(value) if float(value).is_integer() else round(float(value), 1)


def deployment_configuration(service: Service, alarm_names: list) -> DeploymentConfiguration:
    release, options = service.release, service.release.ecs_options
    config: dict = {
        "Strategy": ECS_STRATEGY[release.strategy],
        "BakeTimeInMinutes": release.bake // 60,
        "DeploymentCircuitBreaker": DeploymentCircuitBreaker(Enable=release.circuit_breaker, Rollback=release.circuit_breaker),
    }
    if release.strategy == "rolling":
        low, high = release.rolling.percents
        config.update(MinimumHealthyPercent=low, MaximumPercent=high)
    if release.strategy == "canary":
        config["CanaryConfiguration"] = CanaryConfiguration(
            CanaryPercent=percent(options.canary_percent), CanaryBakeTimeInMinutes=options.canary_bake // 60)
    if release.strategy == "linear":
        step_bake = release.linear.step_bake if release.linear.step_bake is not None else release.bake
        config["LinearConfiguration"] = LinearConfiguration(
            StepPercent=percent(release.linear.step_percent), StepBakeTimeInMinutes=step_bake // 60)
    if options.deployment_alarms and alarm_names:
        config["Alarms"] = DeploymentAlarms(AlarmNames=alarm_names, Enable=True, Rollback=True)
    if judge_at(service):
        config["LifecycleHooks"] = lifecycle_hooks(service)
    return DeploymentConfiguration(**config)


def lifecycle_hooks(service: Service) -> list[DeploymentLifecycleHook]:
    """A PAUSE hook at the judged stages, or under `judge: lambda` an AWS_LAMBDA hook at each."""
    options, stages = service.release.ecs_options, judge_at(service)
    timeout = {"TimeoutConfiguration": HookTimeoutConfig(
        TimeoutInMinutes=options.hook_timeout // 60, Action=options.on_hook_timeout.upper())}
    if not judged_by_lambda(service):
        return [DeploymentLifecycleHook(TargetType="PAUSE", LifecycleStages=list(stages), **timeout)]
    return [DeploymentLifecycleHook(
        TargetType="AWS_LAMBDA",
        HookTargetArn=judge_function_arn(),
        RoleArn=GetAtt(names.INFRASTRUCTURE_ROLE, "Arn"),
        LifecycleStages=[stage],
        HookDetails={"service": service.name, "stage": stage},
        **timeout,
    ) for stage in stages]
