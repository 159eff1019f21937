"""Listener rules as an ALB evaluates them: lowest priority first, every condition of a rule must
match, the default action last; ALB wildcards; conditions the sandbox cannot evaluate never match."""

from __future__ import annotations

from types import SimpleNamespace

from deployer.sandbox.routing import Route, listener_routes, route_for, unemulated

TG = {c: f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-{c}/{i}" for i, c in enumerate(("blue", "green", "api"))}


def forward(**weights: int) -> list[dict]:
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG[c], "Weight": w} for c, w in weights.items()]}}]


def listener(*rules) -> SimpleNamespace:
    return SimpleNamespace(default_actions=[{"Type": "forward", "TargetGroupArn": TG["blue"]}],
                           _non_default_rules={f"r{i}": SimpleNamespace(priority=str(p), conditions=c, actions=a)
                                               for i, (p, c, a) in enumerate(rules)})


def test_rules_go_by_priority_then_the_default_action():
    routes = listener(
        (20, [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}], forward(blue=90, green=10)),
        (10, [{"Field": "path-pattern", "Values": ["/api/*"]}], forward(api=1)),
    )
    routes = listener_routes(routes)
    assert [r.priority for r in routes] == [10, 20, None]
    assert route_for(routes, "web.example.com", "/api/orders") == ((TG["api"], 1),)
    assert route_for(routes, "web.example.com", "/") == ((TG["blue"], 90), (TG["green"], 10))  # ECS native: the rule's weights
    assert routes[-1] == Route(None, (), ((TG["blue"], 1),))
    assert routes[1].describe() == "rule 20: web-blue=90, web-green=10"


def test_every_condition_of_a_rule_must_match_and_wildcards_are_the_albs():
    routes = listener_routes(listener(
        (5, [{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.Example.com"]}},
             {"Field": "path-pattern", "Values": ["/v?/[x]"]}], forward(green=1)),
    ))
    assert route_for(routes, "shop.example.COM", "/v1/[x]") == ((TG["green"], 1),)  # host: any case; [ ] literal
    assert route_for(routes, "shop.example.com", "/v12/[x]") == ((TG["blue"], 1),)  # ? is one character
    assert route_for(routes, "example.org", "/v1/[x]") == ((TG["blue"], 1),)
    assert route_for(routes, "shop.example.com", "/V1/[x]") == ((TG["blue"], 1),)  # paths are case-sensitive


def test_a_condition_the_sandbox_cannot_evaluate_never_matches_and_is_named():
    routes = listener_routes(listener((7, [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["1"]}}],
                                       forward(green=1))))
    assert route_for(routes, "a", "/") == ((TG["blue"], 1),)
    assert unemulated(routes) == ["rule 7: http-header"]


def test_a_listener_without_rules_is_its_default_action():
    routes = listener_routes(SimpleNamespace(default_actions=forward(blue=100, green=0)))
    assert routes == (Route(None, (), ((TG["blue"], 100), (TG["green"], 0))),)
