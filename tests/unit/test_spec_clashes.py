"""Two services that would fight over one DNS record or one shared listener: one clear line each, exit 2."""

from __future__ import annotations

import pytest

from deployer.errors import ConfigError
from deployer.spec import parse_config

RULE = ("{listener_arn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shared/0123456789abcdef/0123456789abcdef', "
        "load_balancer_full_name: app/shared/0123456789abcdef, alb_security_group: sg-0123456789abcdef0, ")


def spec(web: str, api: str) -> str:
    return f"""version: 1
defaults:
  cluster: main
  image: example/app:1
  network: {{vpc: vpc-0123456789abcdef0, subnets: [subnet-0123456789abcdef0, subnet-0123456789abcdef1]}}
  release: {{strategy: canary}}
services:
  web:
{web}
  api:
{api}
"""


ALB = "    load_balancer: {listener: {port: 80}}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


def test_two_services_with_one_dns_record():
    dns = "    dns: {zone: example.com, record: shop.example.com}\n"
    assert problems(spec(ALB + dns, ALB + dns.replace("shop.example.com}", "shop.example.com.}"))) == [
        "deployer.yaml:14: services.api.dns.record: shop.example.com is also web's record; each service needs its own "
        "(the second would take over the first's traffic)"]


def test_one_priority_twice_on_a_shared_listener():
    web = f"    load_balancer: {{rule: {RULE}priority: 10, hosts: [web.example.com]}}}}\n"
    api = f"    load_balancer: {{rule: {RULE}priority: 10, hosts: [api.example.com]}}}}\n"
    assert problems(spec(web, api)) == [
        "deployer.yaml:12: services.api.load_balancer.rule.priority: 10 is also web's rule priority on the same listener "
        "(priorities are unique per listener)"]


def test_overlapping_conditions_on_a_shared_listener():
    web = f"    load_balancer: {{rule: {RULE}priority: 10, hosts: [shop.example.com]}}}}\n"
    api = f"    load_balancer: {{rule: {RULE}priority: 20, hosts: [shop.example.com], paths: [/api/*]}}}}\n"
    found = problems(spec(web, api))
    assert len(found) == 1 and found[0].startswith("deployer.yaml:12: services.api.load_balancer.rule: matches the same requests as web's rule")
    assert "shop.example.com; any path); web's lower priority would take them all" in found[0]


def test_distinct_records_and_rules_pass():
    web = f"    load_balancer: {{rule: {RULE}priority: 10, hosts: [web.example.com]}}}}\n"
    api = f"    load_balancer: {{rule: {RULE}priority: 20, hosts: [api.example.com]}}}}\n"
    assert set(parse_config(spec(web, api)).services) == {"web", "api"}
