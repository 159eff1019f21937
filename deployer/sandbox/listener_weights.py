"""The weights of the listener rules an ECS-native deployment moves, in moto's ELBv2 backend.

ECS shifts traffic by changing the weights of the forward action of the production listener rule
(and of the test listener rule), which forwards to both target groups; for an NLB those are
listener ARNs and the listener's default action moves (AWS: "Application Load Balancer resources
for blue/green deployments",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb-resources-for-blue-green.html).
(ECS's 10-minute wait for NLB weight propagation, nlb-resources-for-blue-green.html, is not emulated.)
Written here as ModifyRule would (a new action list, copy-on-write), so the sandbox's listener
proxies (deployer.sandbox.proxy, which route by rules) and DescribeRules see the same weights.
ALB weights are integers 0-999: a whole percent is written as `p / 100-p`, a tenth as `10p / 1000-10p`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from moto.elbv2.models import FakeAction

from deployer.sandbox.routing import forward_targets


@dataclass(frozen=True)
class RuleRef:
    rule: object  # moto's FakeListenerRule, or a listener's default FakeRule
    listener: object  # its listener (whose default actions move with its default rule)


def find(elbv2_backend, arn: str | None) -> RuleRef | None:
    """The rule with this ARN, or the default rule of the listener with this ARN (NLB)."""
    if not arn:
        return None
    for balancer in list(elbv2_backend.load_balancers.values()):
        for listener in list(balancer.listeners.values()):
            if listener.arn == arn:
                return RuleRef(next(iter(listener._default_rule.values())), listener)
            for rule in list(listener.rules.values()):
                if rule.arn == arn:
                    return RuleRef(rule, listener)
    return None


def weights(ref: RuleRef) -> dict[str, int]:
    return dict(forward_targets(ref.rule.actions))


def production_group(ref: RuleRef | None, groups: tuple[str, str]) -> str:
    """The group of `groups` the rule sends most production traffic to (the first on a tie)."""
    current = weights(ref) if ref else {}
    return max(groups, key=lambda g: (current.get(g, 0), g == groups[0]))


def percent_on(ref: RuleRef, group: str) -> float:
    current = weights(ref)
    total = sum(current.values())
    return 100.0 * current.get(group, 0) / total if total else 0.0


def integer_weights(percent: float) -> tuple[int, int]:
    if float(percent).is_integer():
        return int(percent), 100 - int(percent)
    tenths = round(percent * 10)
    return tenths, 1000 - tenths


def shift(ref: RuleRef, group: str, other: str, percent: float) -> bool:
    """`percent` of the rule's traffic to `group`, the rest to `other`; True when the rule changed."""
    mine, theirs = integer_weights(percent)
    current = weights(ref)
    if current.get(group) == mine and current.get(other) == theirs and set(current) <= {group, other}:
        return False
    actions = []
    for action in ref.rule.actions:
        data = copy.deepcopy(getattr(action, "data", action))
        if data.get("Type") == "forward":
            config = data.get("ForwardConfig") or {}
            order = [g["TargetGroupArn"] for g in config.get("TargetGroups") or []] or [data.pop("TargetGroupArn", None)]
            order = [g for g in dict.fromkeys([*order, group, other]) if g in (group, other)]  # keep the rule's order
            wanted = {group: mine, other: theirs}
            data.pop("TargetGroupArn", None)
            data["ForwardConfig"] = {
                "TargetGroups": [{"TargetGroupArn": g, "Weight": wanted[g]} for g in order],
                "TargetGroupStickinessConfig": config.get("TargetGroupStickinessConfig") or {"Enabled": False},
            }
        actions.append(FakeAction(data))
    ref.rule.actions = actions
    if getattr(ref.rule, "is_default", False):
        ref.listener.default_actions = actions
    return True
