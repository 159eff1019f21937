"""Spec validation: every broken spec gives one clear line naming file, line, field path and expectation."""

import pytest

from deployer.errors import ConfigError, ExitCode
from deployer.spec import parse_config
from deployer.spec.units import format_duration, parse_duration

MINIMAL = """
services:
  web:
    cluster: demo
    image: example/web:1
    network: {vpc: vpc-0a1, subnets: [subnet-0a1, subnet-0a2]}
    load_balancer: {listener: {port: 80}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "deployer.yaml")
    assert info.value.exit_code == ExitCode.USAGE
    assert all("\n" not in p for p in info.value.problems)  # one line per problem
    return info.value.problems


def test_minimal_spec_gets_safe_defaults():
    service = parse_config(MINIMAL).services["web"]
    assert service.name == "web"
    assert service.release.strategy == "rolling"
    assert service.release.rolling.percents == (100, 200)
    assert service.colors == ("main",)
    assert service.health_check.path == "/health"


def test_examples_validate(examples_config):
    assert set(examples_config.services) == {"web", "api", "worker-web", "checkout", "orders"}
    assert examples_config.services["web"].release.strategy == "canary"
    assert examples_config.services["api"].dns_switched
    assert examples_config.services["worker-web"].release.rolling.percents == (50, 100)


def test_defaults_are_merged_and_service_values_win(examples_config):
    assert examples_config.services["worker-web"].desired_count == 4
    assert examples_config.services["web"].desired_count == 2
    assert examples_config.services["web"].health_check.interval == 5


BROKEN = [
    # (replace this, with that, expected line)
    ("steps: [10, 25, 50, 100]", "steps: [10, 150, 100]", "deployer.yaml:46: services.web.release.steps[1]: expected a weight 1..100 or 'pause' (got 150)"),
    ("steps: [10, 25, 50, 100]", "steps: [10, 50, 25, 100]", "deployer.yaml:46: services.web.release.steps: weights must strictly increase (got [10, 50, 25, 100])"),
    ("steps: [10, 25, 50, 100]", "steps: [10, 25]", "deployer.yaml:46: services.web.release.steps: the last weight must be 100 (got 25)"),
    ("bake: 10s\n      gates:\n", "bake: soon\n      gates:\n", "deployer.yaml:47: services.web.release.bake: expected a duration such as 30s, 2m or 1h30m (got 'soon')"),
    ("strategy: canary", "strategy: stepwise", "deployer.yaml:45: services.web.release.strategy: expected 'rolling', 'canary', 'bluegreen' or 'linear' (got 'stepwise')"),
    ("max_5xx_rate: 5", "max_5xx_rat: 5", "deployer.yaml:49: services.web.release.gates.max_5xx_rat: unknown field; did you mean 'max_5xx_rate'?"),
    ("listener: {port: 8080, allowed_cidrs", "listener: {port: 8080, protocol: HTTPS, allowed_cidrs", "deployer.yaml:38: services.web.load_balancer.test_listener: protocol HTTPS needs a certificate ARN"),
    ("record: web.example.com", "record: web.other.org", "deployer.yaml:40: services.web.dns: record web.other.org is not inside zone example.com"),
    ("image: example/web:1", "image: example/web:1\n    cpu: 512\n    memory: 512", "deployer.yaml:31: services.web: memory 512 does not fit cpu 512 on Fargate (expected 1024..4096 MiB in the steps of the ECS task size table)"),
    ("rolling: {preset: cheapest}", "rolling: {preset: cheapest, max_percent: 200}", "deployer.yaml:86: services.worker-web.release.rolling: set either preset or min_healthy_percent/max_percent, not both"),
    ("rolling: {preset: cheapest}", "rolling: {min_healthy_percent: 50, max_percent: 90}", "deployer.yaml:86: services.worker-web.release.rolling.max_percent: expected greater than or equal to 100 (got 90)"),
    ("strategy: bluegreen", "strategy: rolling", "deployer.yaml:57: services.api: dns.mode weighted switches between two colors; use strategy canary, bluegreen or linear"),
    ("desired_count: 4", "desired_count: 0", "deployer.yaml:78: services.worker-web.desired_count: expected greater than or equal to 1 (got 0)"),
    ("  worker-web:\n", "  Worker_Web:\n", "deployer.yaml:76: services.Worker_Web.name: expected lowercase letters, digits and '-', starting with a letter, at most 24 characters (target group names are limited to 32)"),
    ("ttl: 30s", "ttl: -5", "deployer.yaml:68: services.api.dns.ttl: expected a duration of 0 seconds or more"),
    ("timeout: 2s", "timeout: 9s", "deployer.yaml:14: services.web.health_check: timeout (9s) must be less than interval (5s), as ALB requires (set in defaults)"),
    ("deregistration_delay: 5s", "deregistration_delay: 2h", "deployer.yaml:13: services.web.deregistration_delay: expected less than or equal to 3600 (got '2h') (set in defaults)"),
]


@pytest.mark.parametrize("old,new,expected", BROKEN, ids=[b[2].split(": ")[1] for b in BROKEN])
def test_broken_spec_gives_one_clear_line(example_text, old, new, expected):
    assert old in example_text
    found = problems(example_text.replace(old, new, 1))
    assert expected in found
    # one line per problem: a problem in `defaults` repeats once per service, never more
    assert len(found) == len(set(found))


def test_missing_required_field_names_each_service(example_text):
    found = problems(example_text.replace("  cluster: demo\n", ""))
    assert "deployer.yaml:30: services.web.cluster: required field is missing" in found
    assert "deployer.yaml:75: services.worker-web.cluster: required field is missing" in found
    assert len(found) == 5


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a: [", "deployer.yaml:1:5: not valid YAML: expected the node content, but found '<stream end>'"),
        ("", "deployer.yaml:1: expected a mapping with `services:` at the top"),
        ("- 1\n- 2\n", "deployer.yaml:1: expected a mapping with `services:` at the top"),
        ("services: [1]", "deployer.yaml:1: services: expected a mapping"),
        ("services: {}", "deployer.yaml:1: services: expected at least 1 item"),
        ("services:\n  web:\n    name: api\n", "deployer.yaml:3: services.web.name: must match its key 'web' (got 'api')"),
    ],
)
def test_malformed_files(text, expected):
    assert any(line.startswith(expected) for line in problems(text)), problems(text)


def test_shared_rule_and_placement_are_checked():
    rule = ("load_balancer: {rule: {listener_arn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/abc/def',"
            " load_balancer_full_name: app/shared/abc, alb_security_group: sg-0a1, priority: 10%s}}")
    text = MINIMAL.replace("load_balancer: {listener: {port: 80}}", "launch_type: EC2\n    " + rule % "")
    assert any("services.web.load_balancer.rule: a listener rule needs at least one of hosts or paths" in p for p in problems(text))
    text = MINIMAL.replace("load_balancer: {listener: {port: 80}}", "launch_type: EC2\n    " + rule % ", hosts: [web.example.com]"
                           + "\n    placement: {strategies: [{type: binpack, field: instanceId}]}")
    assert any("services.web.placement.strategies[0]: binpack field must be cpu or memory" in p for p in problems(text))


@pytest.mark.parametrize(
    "value,seconds",
    [(90, 90), ("90", 90), ("90s", 90), ("2m", 120), ("1h30m", 5400), ("1m30s", 90), ("0s", 0)],
)
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "m", "2x", "1.5m", True, -1])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize("seconds,text", [(5, "5s"), (125, "2m05s"), (3700, "1h01m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_json_schema_lists_fields_for_editors():
    from deployer.spec.schema import json_schema

    schema = json_schema()
    service = schema["$defs"]["Service"]
    assert "name" not in service["required"]
    assert {"cluster", "image", "network", "load_balancer"} <= set(service["required"])
    assert "release" in service["properties"]


def test_each_service_with_a_problem_gets_its_own_line():
    """msgspec stops at a service's first problem; every service is checked, each named by its key."""
    base = "    cluster: demo\n    image: example/w:1\n    network: {vpc: vpc-0a1, subnets: [subnet-0a1]}\n"
    text = ("services:\n"
            "  web:\n" + base + "    cpu: lots\n    load_balancer: {listener: {port: 80}}\n"
            "  api:\n" + base + "    load_balancer: {listener: {port: 80, protocol: FTP}}\n"
            "  envs:\n" + base + "    environment: {bad-key: x}\n    load_balancer: {listener: {port: 80}}\n"
            "  lb:\n" + base + "    load_balancer: {listener: {port: 80, protocl: HTTP}}\n"
            "  ok:\n" + base + "    load_balancer: {listener: {port: 80}}\n")
    assert problems(text) == [
        "deployer.yaml:6: services.web.cpu: expected a whole number (got 'lots')",
        "deployer.yaml:12: services.api.load_balancer.listener.protocol: expected 'HTTP' or 'HTTPS' (got 'FTP')",
        "deployer.yaml:17: services.envs.environment: a key expected a text that should match pattern "
        "'^[A-Za-z_][A-Za-z0-9_]*$' (got 'bad-key')",
        "deployer.yaml:23: services.lb.load_balancer.listener.protocl: unknown field; did you mean 'protocol'?",
    ]
