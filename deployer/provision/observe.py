"""Read what a release owns from the live service: task definitions, counts, weights.

I/O through the adapters only; the decisions about what to do with it are in `live.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from deployer.aws.cloudformation import CloudFormation
from deployer.aws.ecs import Ecs
from deployer.aws.elbv2 import Elbv2
from deployer.aws.route53 import Route53
from deployer.provision.live import ColorState, LiveState
from deployer.spec import Service
from deployer.synth import names


@dataclass
class Observer:
    cloudformation: CloudFormation
    ecs: Ecs
    elbv2: Elbv2
    route53: Route53

    def live_state(self, service: Service) -> LiveState:
        stack = self.cloudformation.stack(names.stack_name(service.name))
        if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
            return LiveState()
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        ecs_names = {color: service.ecs_service_name(color) for color in service.colors}
        running = self.ecs.services(service.cluster, list(ecs_names.values()))
        weights = self._weights(service, outputs)
        colors = {color: ColorState(weight=weights.get(color)) for color in service.target_colors}  # engine ecs: no service each
        for color, ecs_name in ecs_names.items():
            state = running.get(ecs_name)
            colors[color] = ColorState(
                task_definition=state.task_definition if state else None,
                desired_count=state.desired_count if state else None,
                weight=weights.get(color),
            )
        return LiveState(
            stack_exists=True,
            colors=colors,
            test_listener_color=self._test_color(service, outputs),
            template_task_definition=outputs.get(names.OUTPUT_TASK_DEFINITION),
        )

    def _weights(self, service: Service, outputs: dict[str, str]) -> dict[str, int]:
        """Per target group: the listener's (or under engine ecs the production rule's) weights."""
        if service.target_colors == ("main",):
            return {}
        if service.dns_switched:
            zone_id = self.route53.zone_id(service.dns.zone)
            records = self.route53.weighted_records(zone_id, service.dns.record)
            return {color: int(records[color]["Weight"]) for color in service.colors if color in records}
        listener = outputs.get(names.OUTPUT_LISTENER)
        if not listener:
            return {}
        by_arn = self.elbv2.forward_weights(listener)
        return {
            color: by_arn[outputs[names.output_target_group(color)]]
            for color in service.target_colors
            if outputs.get(names.output_target_group(color)) in by_arn
        }

    def _test_color(self, service: Service, outputs: dict[str, str]) -> str | None:
        arn = outputs.get(names.OUTPUT_TEST_LISTENER)
        if not arn:
            return None
        targets = self.elbv2.forward_weights(arn)
        for color in service.colors:
            if outputs.get(names.output_target_group(color)) in targets:
                return color
        return None
