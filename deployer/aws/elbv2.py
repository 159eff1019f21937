"""Elastic Load Balancing v2: listener/rule forward weights and target health."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.aws.base import Adapter


@dataclass(frozen=True)
class TargetState:
    """One registered target of a target group: an IP (ip targets) or an instance id, its port and health."""

    id: str
    port: int
    state: str  # initial | healthy | unhealthy | unused | draining | unavailable
    reason: str = ""  # e.g. Target.ResponseCodeMismatch; empty when healthy


def is_rule(arn: str) -> bool:
    return ":listener-rule/" in arn


class Elbv2(Adapter):
    service_name = "elbv2"

    def forward_weights(self, listener_or_rule_arn: str) -> dict[str, int]:
        """Target group ARN -> weight of the forward action on a listener (default action) or a rule."""
        actions = self._actions(listener_or_rule_arn)
        for action in actions:
            if action.get("Type") != "forward":
                continue
            config = action.get("ForwardConfig")
            if config and config.get("TargetGroups"):
                return {tg["TargetGroupArn"]: int(tg.get("Weight", 1)) for tg in config["TargetGroups"]}
            if action.get("TargetGroupArn"):
                return {action["TargetGroupArn"]: 1}
        return {}

    def _actions(self, arn: str) -> list[dict]:
        if is_rule(arn):
            rules = self._call("describe_rules", idempotent=True, RuleArns=[arn])["Rules"]
            return rules[0].get("Actions", []) if rules else []
        listeners = self._call("describe_listeners", idempotent=True, ListenerArns=[arn])["Listeners"]
        return listeners[0].get("DefaultActions", []) if listeners else []

    def set_forward_weights(self, listener_or_rule_arn: str, weights: dict[str, int]) -> None:
        """Forward to target groups by weight (ARN -> weight); one call on a listener or a rule."""
        for arn, weight in weights.items():
            if not 0 <= weight <= 999:  # AWS rejects it; moto does not check
                from deployer.errors import UsageError

                raise UsageError(f"ALB weight {weight} for {arn} is outside 0..999")
        action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]}}
        if is_rule(listener_or_rule_arn):
            self._call("modify_rule", idempotent=True, RuleArn=listener_or_rule_arn, Actions=[action])
        else:
            self._call("modify_listener", idempotent=True, ListenerArn=listener_or_rule_arn, DefaultActions=[action])

    def forward_to(self, listener_arn: str, target_group_arn: str) -> None:
        self._call("modify_listener", idempotent=True, ListenerArn=listener_arn,
                   DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group_arn}])

    def healthy_targets(self, target_group_arn: str) -> int:
        response = self._call("describe_target_health", idempotent=True, TargetGroupArn=target_group_arn)
        return sum(1 for t in response.get("TargetHealthDescriptions", []) if t.get("TargetHealth", {}).get("State") == "healthy")

    def target_states(self, target_group_arn: str) -> list[TargetState]:
        """Every registered target with its health; one DescribeTargetHealth request."""
        response = self._call("describe_target_health", idempotent=True, TargetGroupArn=target_group_arn)
        return [
            TargetState(
                id=t.get("Target", {}).get("Id", ""),
                port=int(t.get("Target", {}).get("Port") or 0),
                state=t.get("TargetHealth", {}).get("State", ""),
                reason=t.get("TargetHealth", {}).get("Reason", ""),
            )
            for t in response.get("TargetHealthDescriptions", [])
        ]

    def listener_address(self, listener_arn: str) -> tuple[str, int, str]:
        """(DNS name of the load balancer, port, protocol) of a listener."""
        listener = self._call("describe_listeners", idempotent=True, ListenerArns=[listener_arn])["Listeners"][0]
        lb = self._call("describe_load_balancers", idempotent=True, LoadBalancerArns=[listener["LoadBalancerArn"]])["LoadBalancers"][0]
        return lb["DNSName"], int(listener["Port"]), listener.get("Protocol", "HTTP")
