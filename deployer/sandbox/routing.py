"""Which target groups a request goes to: the listener's rules by priority, then its default action.

An ALB evaluates a listener's rules in priority order (lowest first); the first rule whose every
condition matches decides, else the default action does (AWS: "Listener rules for your
Application Load Balancer"). ECS native blue/green, linear and canary deployments move traffic by
changing the weights of a *rule's* forward action (the production listener rule), not the
default action, so the sandbox's proxy routes by rules too. Emulated conditions: `path-pattern`
(case-sensitive) and `host-header` (case-insensitive), with ALB wildcards `*` and `?`; a rule
with any other condition never matches here, and `unemulated` names it. Pure: moto's listener
objects in, tuples out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

EMULATED = ("path-pattern", "host-header")


@dataclass(frozen=True)
class Route:
    priority: int | None  # None: the default action
    conditions: tuple[tuple[str, tuple[str, ...]], ...]  # (field, values): every field must match one value
    groups: tuple[tuple[str, int], ...]  # (target group ARN, weight)

    def matches(self, host: str, path: str) -> bool:
        for field, values in self.conditions:
            if field == "path-pattern":
                if not any(_wildcard(v, False).fullmatch(path) for v in values):
                    return False
            elif field == "host-header":
                if not any(_wildcard(v, True).fullmatch(host) for v in values):
                    return False
            else:
                return False
        return True

    def describe(self) -> str:
        where = "default" if self.priority is None else f"rule {self.priority}"
        return f"{where}: " + ", ".join(f"{arn.rsplit('/', 2)[-2]}={w}" for arn, w in self.groups)


def forward_targets(actions) -> tuple[tuple[str, int], ...]:
    """(target group ARN, weight) of the first forward action among `actions`."""
    for action in actions or ():
        data = getattr(action, "data", action)
        if data.get("Type") != "forward":
            continue
        config = data.get("ForwardConfig")
        if config and config.get("TargetGroups"):
            return tuple((g["TargetGroupArn"], int(g.get("Weight", 1))) for g in config["TargetGroups"])
        if data.get("TargetGroupArn"):
            return ((data["TargetGroupArn"], 1),)
    return ()


def listener_routes(listener) -> tuple[Route, ...]:
    """The listener's rules, lowest priority number first, then its default action."""
    rules = []
    for rule in (getattr(listener, "_non_default_rules", None) or {}).values():
        conditions = tuple(_condition(c) for c in (rule.conditions or ()))
        rules.append(Route(int(rule.priority), conditions, forward_targets(rule.actions)))
    rules.sort(key=lambda r: r.priority)
    return (*rules, Route(None, (), forward_targets(listener.default_actions)))


def route_for(routes: tuple[Route, ...], host: str, path: str) -> tuple[tuple[str, int], ...]:
    """The target groups of the first route the request matches (the default matches everything)."""
    return next((r.groups for r in routes if r.matches(host, path)), ())


def unemulated(routes: tuple[Route, ...]) -> list[str]:
    """Rules the sandbox cannot evaluate, e.g. `rule 5: http-header`: they never match here."""
    return [f"rule {r.priority}: {field}" for r in routes for field, _ in r.conditions if field not in EMULATED]


def _condition(condition: dict) -> tuple[str, tuple[str, ...]]:
    field = condition.get("Field", "")
    config = {"path-pattern": "PathPatternConfig", "host-header": "HostHeaderConfig"}.get(field)
    values = condition.get("Values") or ((condition.get(config) or {}).get("Values") if config else None) or []
    return field, tuple(values)


@lru_cache(maxsize=256)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    """ALB wildcards: `*` any run of characters, `?` exactly one; everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)
