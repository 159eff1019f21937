"""`release.engine: ecs`: ECS's bounds and the native mode's refusals, one clear line each; and the
template of a native service (one ECS service, two target groups, rules ECS moves, PAUSE hooks)."""

import copy

import pytest

from deployer.errors import ConfigError
from deployer.spec import parse_config
from deployer.spec.native import judge_at, linear_steps, tenths
from deployer.synth import service_template
from deployer.synth.checks import check_template

BASE = """
services:
  shop:
    cluster: demo
    image: example/shop:1
    network: {vpc: vpc-0a1, subnets: [subnet-0a1, subnet-0a2]}
    load_balancer:
      listener: {port: 80}
      test_listener: {port: 8080}
    release:
      engine: ecs
      strategy: canary
      bake: 2m
"""


def spec(extra: str = "", base: str = BASE):
    return parse_config(base + extra, "deployer.yaml").services["shop"]


def problem(extra: str, base: str = BASE) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(base + extra, "deployer.yaml")
    assert info.value.exit_code == 2 and len(info.value.problems) == 1
    return info.value.problems[0]


def test_native_service_is_one_ecs_service_on_two_target_groups():
    shop = spec()
    assert shop.release.native and shop.colors == ("main",) and shop.target_colors == ("blue", "green")
    assert judge_at(shop) == ("POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT")
    without_test = spec(base=BASE.replace("      test_listener: {port: 8080}\n", ""))
    assert judge_at(without_test) == ("PRE_PRODUCTION_TRAFFIC_SHIFT",)  # nothing to probe through


@pytest.mark.parametrize("extra,expected", [
    ("      ecs: {canary_percent: 10.05}\n",
     "deployer.yaml:14: services.shop.release.ecs.canary_percent: ECS takes steps of 0.1 percent (got 10.05)"),
    ("      ecs: {canary_percent: 0.05}\n",
     "services.shop.release.ecs.canary_percent: expected greater than or equal to 0.1 (got 0.05)"),
    ("      ecs: {canary_bake: 90s}\n",
     "services.shop.release.ecs.canary_bake: ECS counts this in whole minutes (got 90s; e.g. 1m)"),
    ("      ecs: {canary_bake: 1441m}\n",
     "services.shop.release.ecs.canary_bake: expected less than or equal to 86400 (got '1441m')"),
    ("      ecs: {hook_timeout: 20161m}\n",
     "services.shop.release.ecs.hook_timeout: expected less than or equal to 1209600 (got '20161m')"),
    ("      ecs: {judge_at: [PRODUCTION_TRAFFIC_SHIFT]}\n",
     "services.shop.release.ecs.judge_at[0]: the judge cannot decide at PRODUCTION_TRAFFIC_SHIFT: ECS allows only Lambda hooks there"),
    ("      ecs: {judge_at: [POST_SCALE_UP]}\n",
     "services.shop.release.ecs.judge_at[0]: the judge cannot decide at POST_SCALE_UP: the new revision serves no traffic yet"),
    ("      ecs: {judge_at: [SOMETIME]}\n",
     "services.shop.release.ecs.judge_at[0]: unknown stage 'SOMETIME': expected one of POST_TEST_TRAFFIC_SHIFT"),
    ("      ecs: {judge_at: [PRE_PRODUCTION_TRAFFIC_SHIFT, PRE_PRODUCTION_TRAFFIC_SHIFT]}\n",
     "services.shop.release.ecs.judge_at: a stage is listed twice"),
    ("      ecs: {on_hook_timeout: wait}\n",
     "services.shop.release.ecs.on_hook_timeout: expected 'rollback' or 'continue' (got 'wait')"),
])
def test_ecs_bounds_are_one_line_at_the_field(extra, expected):
    assert expected in problem(extra)


def test_bake_is_ecs_bake_time_in_whole_minutes():
    assert "services.shop.release.bake: with engine ecs this is ECS's bake time after the last shift: " \
           "ECS counts this in whole minutes (got 90s; e.g. 1m)" in problem("", BASE.replace("bake: 2m", "bake: 90s"))


def test_cloudformation_refuses_a_deployment_longer_than_33_hours():
    long = BASE.replace("bake: 2m", "bake: 1440m")
    assert "services.shop.release.ecs.canary_bake: bake + canary_bake is 2040 minutes; CloudFormation allows a " \
           "deployment 33 hours (1980)" in problem("      ecs: {canary_bake: 600m}\n", long)
    spec("      ecs: {canary_bake: 540m}\n", long)  # 1980 minutes: allowed
    linear = BASE.replace("strategy: canary", "strategy: linear").replace("bake: 2m", "bake: 60m")
    assert "services.shop.release.linear: bake + step_bake x 4 steps is 2020 minutes" in \
        problem("      linear: {step_percent: 20, step_bake: 490m}\n", linear)
    assert linear_steps(20) == 4 and linear_steps(30) == 3 and linear_steps(3) == 33


def test_linear_steps_follow_ecs_bounds():
    linear = BASE.replace("strategy: canary", "strategy: linear")
    assert "services.shop.release.linear.step_percent: ECS's linear steps are 3..100 percent (got 2)" in \
        problem("      linear: {step_percent: 2}\n", linear)
    assert "services.shop.release.linear.step_bake: ECS counts this in whole minutes" in \
        problem("      linear: {step_percent: 20, step_bake: 45s}\n", linear)


def test_what_the_native_mode_cannot_do_names_the_alternative():
    weighted = BASE + "    dns: {zone: example.com, record: shop.example.com, mode: weighted}\n"
    weighted = weighted.replace("      test_listener: {port: 8080}\n", "")
    assert "services.shop.dns.mode: ECS shifts traffic on one ALB's listener rules, not between Route53 records; " \
           "DNS blue/green needs release.engine: deployer" in problem("", weighted)
    no_test = BASE.replace("      test_listener: {port: 8080}\n", "")
    assert "services.shop.release.ecs.judge_at: POST_TEST_TRAFFIC_SHIFT probes the new revision through the test " \
           "listener: set load_balancer.test_listener" in problem("      ecs: {judge_at: [POST_TEST_TRAFFIC_SHIFT]}\n", no_test)
    rolling = no_test.replace("strategy: canary", "strategy: rolling")
    assert "services.shop.release.ecs.judge_at: ECS runs lifecycle hooks in bluegreen, linear and canary deployments, " \
           "not rolling ones" in problem("      ecs: {judge_at: [PRE_PRODUCTION_TRAFFIC_SHIFT]}\n", rolling)
    deployer_engine = BASE.replace("engine: ecs", "engine: deployer").replace("bake: 2m", "bake: 10s")
    assert "services.shop.release.ecs: these are options of ECS's own deployments; set release.engine: ecs" in \
        problem("      ecs: {canary_percent: 5}\n", deployer_engine)


def test_tenths_ignores_float_noise():
    assert tenths(33.3) and tenths(0.1) and tenths(100) and not tenths(10.05)


# ------------------------------------------------------------------ the template


def template(extra: str = "", base: str = BASE) -> dict:
    return service_template(spec(extra, base)).to_dict()


def test_native_template_has_one_service_that_ecs_moves_between_two_target_groups():
    t = template("      ecs: {canary_percent: 12.5, canary_bake: 3m, hook_timeout: 20m, on_hook_timeout: continue}\n"
                 "      gates: {alarms: [shop-orders-failing]}\n")
    kinds = {k: v["Type"] for k, v in t["Resources"].items()}
    assert [k for k, v in kinds.items() if v == "AWS::ECS::Service"] == ["Service"]
    service = t["Resources"]["Service"]["Properties"]
    config = service["DeploymentConfiguration"]
    assert config["Strategy"] == "CANARY" and config["BakeTimeInMinutes"] == 2
    assert config["CanaryConfiguration"] == {"CanaryPercent": 12.5, "CanaryBakeTimeInMinutes": 3}
    assert config["LifecycleHooks"] == [{
        "TargetType": "PAUSE", "LifecycleStages": ["POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT"],
        "TimeoutConfiguration": {"TimeoutInMinutes": 20, "Action": "CONTINUE"}}]
    assert config["Alarms"]["Rollback"] is True and config["Alarms"]["AlarmNames"][-1] == "shop-orders-failing"
    assert {"Ref": "GreenTarget5xxAlarm"} in config["Alarms"]["AlarmNames"]
    assert "MinimumHealthyPercent" not in config  # ECS sizes the new revision at 100% itself
    (mapping,) = service["LoadBalancers"]
    assert mapping["TargetGroupArn"] == {"Ref": "BlueTargetGroup"}
    assert mapping["AdvancedConfiguration"] == {
        "AlternateTargetGroupArn": {"Ref": "GreenTargetGroup"}, "ProductionListenerRule": {"Ref": "ProductionListenerRule"},
        "TestListenerRule": {"Ref": "TestListenerRule"}, "RoleArn": {"Fn::GetAtt": ["EcsInfrastructureRole", "Arn"]}}
    # Every request matches a rule ECS moves; the listener's default keeps deployer's weighted forward,
    # so a change of engine is served throughout
    assert t["Resources"]["ProductionListenerRule"]["Properties"]["Conditions"][0]["PathPatternConfig"] == {"Values": ["/*"]}
    assert t["Resources"]["Listener"]["Properties"]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"][0]["Weight"] == {"Ref": "BlueWeight"}
    for rule in ("ProductionListenerRule", "TestListenerRule"):
        groups = t["Resources"][rule]["Properties"]["Actions"][0]["ForwardConfig"]["TargetGroups"]
        assert [g["Weight"] for g in groups] == [{"Ref": "BlueWeight"}, {"Ref": "GreenWeight"}]
    role = t["Resources"]["EcsInfrastructureRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs.amazonaws.com"}
    assert t["Parameters"]["BlueWeight"]["Default"] == 100 and t["Parameters"]["GreenWeight"]["Default"] == 0
    assert "TestListenerColor" not in t["Parameters"]


def test_native_linear_and_bluegreen_configurations():
    linear = template("      linear: {step_percent: 25, step_bake: 4m}\n", BASE.replace("strategy: canary", "strategy: linear"))
    config = linear["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]
    assert config["Strategy"] == "LINEAR" and config["LinearConfiguration"] == {"StepPercent": 25, "StepBakeTimeInMinutes": 4}
    assert config["LifecycleHooks"][0]["LifecycleStages"] == ["PRE_PRODUCTION_TRAFFIC_SHIFT"]
    bluegreen = template("", BASE.replace("strategy: canary", "strategy: bluegreen"))
    config = bluegreen["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]
    assert config["Strategy"] == "BLUE_GREEN" and "CanaryConfiguration" not in config
    assert config["LifecycleHooks"][0]["LifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"]


def test_native_rolling_is_one_target_group_with_ecs_bake_time():
    rolling = BASE.replace("strategy: canary", "strategy: rolling").replace("      test_listener: {port: 8080}\n", "")
    t = template("", rolling)
    config = t["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]
    assert config["Strategy"] == "ROLLING" and config["BakeTimeInMinutes"] == 2
    assert (config["MinimumHealthyPercent"], config["MaximumPercent"]) == (100, 200)
    assert "LifecycleHooks" not in config and "AdvancedConfiguration" not in t["Resources"]["Service"]["Properties"]["LoadBalancers"][0]
    assert "EcsInfrastructureRole" not in t["Resources"]


def test_shared_listener_rule_is_the_production_rule():
    shared = BASE.replace("      listener: {port: 80}\n      test_listener: {port: 8080}\n",
                          "      rule: {listener_arn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/0a1/0b2',"
                          " load_balancer_full_name: app/shared/0a1, alb_security_group: sg-0a1, priority: 10, hosts: [shop.example.com]}\n")
    t = template("", shared)
    advanced = t["Resources"]["Service"]["Properties"]["LoadBalancers"][0]["AdvancedConfiguration"]
    assert advanced["ProductionListenerRule"] == {"Ref": "ListenerRule"} and "TestListenerRule" not in advanced
    groups = t["Resources"]["ListenerRule"]["Properties"]["Actions"][0]["ForwardConfig"]["TargetGroups"]
    assert len(groups) == 2


@pytest.mark.parametrize("break_it,expected", [
    (lambda t: t["Resources"]["Service"]["Properties"]["DeploymentConfiguration"]["LifecycleHooks"][0]
     .__setitem__("LifecycleStages", ["PRODUCTION_TRAFFIC_SHIFT"]),
     "Service: a PAUSE hook at PRODUCTION_TRAFFIC_SHIFT; ECS allows only Lambda hooks there"),
    (lambda t: t["Resources"]["Service"]["Properties"]["LoadBalancers"][0]["AdvancedConfiguration"]
     .__setitem__("ProductionListenerRule", {"Ref": "Listener"}),
     "Service: ProductionListenerRule refers to Listener, which is not a listener rule of this template"),
    (lambda t: t["Resources"]["TestListenerRule"]["Properties"]["Actions"][0]["ForwardConfig"]["TargetGroups"].pop(),
     "TestListenerRule: must forward to both target groups (BlueTargetGroup, GreenTargetGroup)"),
    (lambda t: t["Resources"]["EcsInfrastructureRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
     .__setitem__("Principal", {"Service": "ecs-tasks.amazonaws.com"}),
     "EcsInfrastructureRole: ECS (ecs.amazonaws.com) cannot assume this role"),
    (lambda t: t["Resources"]["EcsInfrastructureRole"]["Properties"].__setitem__("ManagedPolicyArns", []),
     "EcsInfrastructureRole: needs the managed policy AmazonECSInfrastructureRolePolicyForLoadBalancers"),
    (lambda t: t["Resources"]["Service"]["Properties"]["LoadBalancers"][0].pop("AdvancedConfiguration"),
     "Service: strategy CANARY needs LoadBalancers AdvancedConfiguration with an AlternateTargetGroupArn"),
])
def test_our_checks_catch_a_broken_native_template(break_it, expected):
    good = template()
    assert check_template(good) == []
    broken = copy.deepcopy(good)
    break_it(broken)
    assert any(p.startswith(expected) for p in check_template(broken)), check_template(broken)


def test_changing_engine_is_refused_while_green_serves():
    """Both ways: the new ECS services start in the blue target group, so green must not be serving."""
    from deployer.errors import InconsistentState
    from deployer.provision.live import ColorState, LiveState, stack_parameters

    native = spec()
    two_services = spec(base=BASE.replace("engine: ecs", "engine: deployer").replace("bake: 2m", "bake: 10s"))
    for service, old in ((native, ("blue", "green")), (two_services, ("main",))):
        green = LiveState(stack_exists=True, colors={"blue": ColorState(weight=0), "green": ColorState(weight=100)})
        with pytest.raises(InconsistentState, match="traffic is on the green target group") as info:
            stack_parameters(service, green)
        assert "`deployer release shop` once more" in info.value.hint
        blue = LiveState(stack_exists=True, colors={"blue": ColorState(weight=100), "green": ColorState(weight=0)})
        assert stack_parameters(service, blue)["BlueWeight"] == "100"
    running = LiveState(stack_exists=True, colors={"main": ColorState("arn:td/shop:3", 2), "blue": ColorState(weight=0),
                                                   "green": ColorState(weight=100)})
    assert stack_parameters(native, running)["GreenWeight"] == "100"  # ECS released to green: kept


def test_the_judge_function_does_not_judge_through_the_test_listener():
    """It runs outside the service's VPC: a test listener open to the VPC only is out of its reach.
    By default it judges before each production shift; asked for POST_TEST_TRAFFIC_SHIFT, one line."""
    assert judge_at(spec("      ecs: {judge: lambda}\n")) == ("PRE_PRODUCTION_TRAFFIC_SHIFT",)
    assert "services.shop.release.ecs.judge_at: the judge function runs outside the service's VPC and cannot reach its " \
           "test listener" in problem("      ecs: {judge: lambda, judge_at: [POST_TEST_TRAFFIC_SHIFT]}\n")
