"""Our own checks on a rendered template, for rules cfn-lint does not catch (found by hand).

Each rule mirrors a deploy-time rejection by AWS, so a bad template fails at synth instead
of twenty minutes into a stack update. Works on the template's dict form. Pure.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

from deployer.errors import SynthError

ALB_WEIGHT_RANGE = (0, 999)
ROUTE53_WEIGHT_RANGE = (0, 255)

Problem = str
Rule = Callable[[dict], Iterator[Problem]]


def check_template(template: dict) -> list[Problem]:
    """Every problem found, in rule order; empty means the template passes."""
    return [problem for rule in RULES for problem in rule(template)]


def checked(t):
    """The troposphere Template `t`, if it passes every rule; else SynthError with every problem."""
    problems = check_template(t.to_dict())
    if problems:
        raise SynthError(problems)
    return t


def _resources(template: dict, kind: str) -> Iterator[tuple[str, dict]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == kind:
            yield logical_id, resource.get("Properties", {})


def _weight_bounds(template: dict, value: Any) -> tuple[float, float] | None:
    """(min, max) a weight can take: a literal, or a parameter's MinValue/MaxValue."""
    if isinstance(value, (int, float, str)) and str(value).lstrip("-").isdigit():
        return (int(value), int(value))
    if isinstance(value, dict) and "Ref" in value:
        param = template.get("Parameters", {}).get(value["Ref"])
        if param is None:
            return None
        low = param.get("MinValue", float("-inf"))
        high = param.get("MaxValue", float("inf"))
        return (float(low), float(high))
    return None


def _check_range(where: str, bounds, allowed: tuple[int, int], what: str) -> Iterator[Problem]:
    if bounds is None:
        return
    low, high = bounds
    if low < allowed[0] or high > allowed[1]:
        shown = f"{low:g}" if low == high else f"{low:g}..{high:g}"
        yield f"{where}: {what} weight can be {shown}; AWS accepts {allowed[0]}..{allowed[1]}"


def alb_weights(template: dict) -> Iterator[Problem]:
    for kind, key in (("AWS::ElasticLoadBalancingV2::Listener", "DefaultActions"), ("AWS::ElasticLoadBalancingV2::ListenerRule", "Actions")):
        for logical_id, props in _resources(template, kind):
            for action in props.get(key, []):
                for tg in (action.get("ForwardConfig") or {}).get("TargetGroups", []):
                    if "Weight" in tg:
                        yield from _check_range(logical_id, _weight_bounds(template, tg["Weight"]), ALB_WEIGHT_RANGE, "ALB target group")


def route53_weights(template: dict) -> Iterator[Problem]:
    for logical_id, props in _resources(template, "AWS::Route53::RecordSet"):
        if "Weight" in props:
            yield from _check_range(logical_id, _weight_bounds(template, props["Weight"]), ROUTE53_WEIGHT_RANGE, "Route53 record")


def _refs(value: Any) -> Iterator[str]:
    """Logical IDs a value may point at through Ref (any branch of Fn::If)."""
    if isinstance(value, dict):
        if "Ref" in value:
            yield value["Ref"]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def container_names(template: dict) -> Iterator[Problem]:
    resources = template.get("Resources", {})
    for logical_id, props in _resources(template, "AWS::ECS::Service"):
        task_defs = [r for r in _refs(props.get("TaskDefinition")) if resources.get(r, {}).get("Type") == "AWS::ECS::TaskDefinition"]
        for task_def in task_defs:
            defined = {c.get("Name") for c in resources[task_def].get("Properties", {}).get("ContainerDefinitions", [])}
            for mapping in props.get("LoadBalancers", []):
                name = mapping.get("ContainerName")
                if name not in defined:
                    yield f"{logical_id}: LoadBalancers ContainerName {name!r} is not a container of {task_def} ({', '.join(sorted(map(str, defined)))})"


def depends_on_listener(template: dict) -> Iterator[Problem]:
    resources = template.get("Resources", {})
    traffic = {"AWS::ElasticLoadBalancingV2::Listener", "AWS::ElasticLoadBalancingV2::ListenerRule"}
    for logical_id, props in _resources(template, "AWS::ECS::Service"):
        if not props.get("LoadBalancers"):
            continue
        depends = resources[logical_id].get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        rules = [r for m in props["LoadBalancers"] for r in _refs(m.get("AdvancedConfiguration", {}))]  # engine ecs
        if not any(resources.get(d, {}).get("Type") in traffic for d in [*depends, *rules]):
            yield f"{logical_id}: must DependsOn the listener or rule that forwards to its target group (ECS rejects a target group with no load balancer)"


def awsvpc_ip_targets(template: dict) -> Iterator[Problem]:
    resources = template.get("Resources", {})
    for logical_id, props in _resources(template, "AWS::ECS::Service"):
        modes = {
            resources[r].get("Properties", {}).get("NetworkMode")
            for r in _refs(props.get("TaskDefinition"))
            if resources.get(r, {}).get("Type") == "AWS::ECS::TaskDefinition"
        }
        if "awsvpc" not in modes:
            continue
        for mapping in props.get("LoadBalancers", []):
            for tg in _refs(mapping.get("TargetGroupArn")):
                target_type = resources.get(tg, {}).get("Properties", {}).get("TargetType", "instance")
                if target_type != "ip":
                    yield f"{tg}: TargetType must be ip for awsvpc tasks of {logical_id} (is {target_type})"


def deployment_percents(template: dict) -> Iterator[Problem]:
    for logical_id, props in _resources(template, "AWS::ECS::Service"):
        config = props.get("DeploymentConfiguration") or {}
        high = config.get("MaximumPercent")
        low = config.get("MinimumHealthyPercent")
        if isinstance(high, int) and high < 100:
            yield f"{logical_id}: DeploymentConfiguration MaximumPercent is {high}; it must be at least 100"
        if isinstance(low, int) and isinstance(high, int) and low >= high:
            yield f"{logical_id}: MinimumHealthyPercent {low} must be below MaximumPercent {high}, or no task can be replaced"


NATIVE_STRATEGIES = ("BLUE_GREEN", "LINEAR", "CANARY")
INFRASTRUCTURE_POLICY = "AmazonECSInfrastructureRolePolicyForLoadBalancers"
PAUSE_REFUSED_AT = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")


def native_traffic(template: dict) -> Iterator[Problem]:
    """ECS's blue/green, linear and canary: an alternate target group, listener rules that forward
    (only) to both target groups, and a role ECS can assume, holding the managed policy."""
    resources = template.get("Resources", {})
    for logical_id, props in _resources(template, "AWS::ECS::Service"):
        config = props.get("DeploymentConfiguration") or {}
        if config.get("Strategy") not in NATIVE_STRATEGIES:
            continue
        for hook in config.get("LifecycleHooks", []):
            refused = sorted(set(hook.get("LifecycleStages", [])) & set(PAUSE_REFUSED_AT))
            if hook.get("TargetType") == "PAUSE" and refused:
                yield f"{logical_id}: a PAUSE hook at {', '.join(refused)}; ECS allows only Lambda hooks there"
        for mapping in props.get("LoadBalancers", []):
            advanced = mapping.get("AdvancedConfiguration")
            if not advanced or not advanced.get("AlternateTargetGroupArn"):
                yield f"{logical_id}: strategy {config['Strategy']} needs LoadBalancers AdvancedConfiguration with an AlternateTargetGroupArn"
                continue
            pair = {*_refs(mapping.get("TargetGroupArn")), *_refs(advanced["AlternateTargetGroupArn"])}
            for key in ("ProductionListenerRule", "TestListenerRule"):
                yield from _native_rule(resources, logical_id, key, advanced.get(key), pair)
            yield from _native_role(resources, logical_id, advanced.get("RoleArn"))


def _native_rule(resources: dict, service: str, key: str, value: Any, pair: set) -> Iterator[Problem]:
    if value is None:
        if key == "ProductionListenerRule":
            yield f"{service}: AdvancedConfiguration has no ProductionListenerRule; ECS would not know which weights to move"
        return
    for rule in _refs(value):
        found = resources.get(rule, {})
        if found.get("Type") != "AWS::ElasticLoadBalancingV2::ListenerRule":
            yield f"{service}: {key} refers to {rule}, which is not a listener rule of this template"
            continue
        actions = found.get("Properties", {}).get("Actions", [])
        if any(a.get("Type") != "forward" for a in actions):
            yield f"{rule}: ECS refuses a rule that mixes forward with other actions"
        forwarded = {r for a in actions for tg in (a.get("ForwardConfig") or {}).get("TargetGroups", []) for r in _refs(tg.get("TargetGroupArn"))}
        if not pair <= forwarded:
            yield f"{rule}: must forward to both target groups ({', '.join(sorted(pair))}) for ECS to move their weights"


def _native_role(resources: dict, service: str, value: Any) -> Iterator[Problem]:
    role_ids = [value["Fn::GetAtt"][0]] if isinstance(value, dict) and "Fn::GetAtt" in value else []
    if not role_ids:
        yield f"{service}: AdvancedConfiguration needs a RoleArn (the role ECS assumes to change the listener rules)"
        return
    role = resources.get(role_ids[0], {}).get("Properties", {})
    trusted = [s for s in (role.get("AssumeRolePolicyDocument") or {}).get("Statement", [])
               if s.get("Effect") == "Allow" and s.get("Action") in ("sts:AssumeRole", ["sts:AssumeRole"])
               and "ecs.amazonaws.com" in str((s.get("Principal") or {}).get("Service"))]
    if not trusted:
        yield f"{role_ids[0]}: ECS (ecs.amazonaws.com) cannot assume this role"
    if INFRASTRUCTURE_POLICY not in str(role.get("ManagedPolicyArns", [])):
        yield f"{role_ids[0]}: needs the managed policy {INFRASTRUCTURE_POLICY} to change the listener rules"


def _role_id(value: Any) -> str | None:
    return value["Fn::GetAtt"][0] if isinstance(value, dict) and "Fn::GetAtt" in value else None


def _may_invoke(role: dict, target: Any) -> bool:
    """The role's inline policies allow lambda:InvokeFunction on exactly `target`."""
    for policy in role.get("Policies", []):
        for statement in (policy.get("PolicyDocument") or {}).get("Statement", []):
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            resources = statement.get("Resource")
            resources = resources if isinstance(resources, list) else [resources]
            if statement.get("Effect") == "Allow" and "lambda:InvokeFunction" in actions and target in resources:
                return True
    return False


def _trusts(role: dict, principal: str) -> bool:
    return any(s.get("Effect") == "Allow" and principal in str((s.get("Principal") or {}).get("Service"))
               for s in (role.get("AssumeRolePolicyDocument") or {}).get("Statement", []))


def _invokers(template: dict) -> Iterator[tuple[str, str, Any, Any]]:
    """(where, the service that assumes the role, role value, function) for every Lambda that AWS
    invokes for us: ECS's AWS_LAMBDA lifecycle hooks and EventBridge Scheduler's targets."""
    for logical_id, props in _resources(template, "AWS::ECS::Service"):
        for hook in (props.get("DeploymentConfiguration") or {}).get("LifecycleHooks", []):
            if hook.get("TargetType", "AWS_LAMBDA") == "AWS_LAMBDA":
                where = f"{logical_id}: the AWS_LAMBDA hook at {', '.join(hook.get('LifecycleStages', []))}"
                yield where, "ecs.amazonaws.com", hook.get("RoleArn"), hook.get("HookTargetArn")
    for logical_id, props in _resources(template, "AWS::Scheduler::Schedule"):
        target = props.get("Target") or {}
        yield f"{logical_id}: its target", "scheduler.amazonaws.com", target.get("RoleArn"), target.get("Arn")


def lambda_invokers(template: dict) -> Iterator[Problem]:
    """ECS and EventBridge Scheduler call a Lambda function with the role they are given: without
    lambda:InvokeFunction on that function, the deployment rolls back (ECS) or nothing runs."""
    resources = template.get("Resources", {})
    for where, principal, role_value, function in _invokers(template):
        if not function:
            yield f"{where} has no function to invoke"
            continue
        role_id = _role_id(role_value)
        if role_id is None:
            yield f"{where} needs a RoleArn from this template (a role {principal} may assume)"
            continue
        role = resources.get(role_id, {}).get("Properties", {})
        if not _trusts(role, principal):
            yield f"{role_id}: {principal} cannot assume this role ({where})"
        if not _may_invoke(role, function):
            yield f"{role_id}: needs lambda:InvokeFunction on {json.dumps(function, sort_keys=True)} ({where})"


def lambda_log_groups(template: dict) -> Iterator[Problem]:
    """A function writes to /aws/lambda/<name>: without that group (and no permission to create one)
    its logs are lost, and a group Lambda creates itself keeps them forever."""
    groups = {props.get("LogGroupName") for _, props in _resources(template, "AWS::Logs::LogGroup")}
    for logical_id, props in _resources(template, "AWS::Lambda::Function"):
        name = props.get("FunctionName")
        custom = (props.get("LoggingConfig") or {}).get("LogGroup")
        if isinstance(name, str) and custom is None and f"/aws/lambda/{name}" not in groups:
            yield f"{logical_id}: no log group /aws/lambda/{name} in this template (with a retention)"


RULES: tuple[Rule, ...] = (
    alb_weights,
    route53_weights,
    container_names,
    depends_on_listener,
    awsvpc_ip_targets,
    deployment_percents,
    native_traffic,
    lambda_invokers,
    lambda_log_groups,
)
