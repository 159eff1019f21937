"""One service as the release engine sees it: its colors, traffic and metrics.

Built from the service's stack outputs; translates "shift web to green 25%" into adapter calls
and reads every change back. I/O only through `deployer.aws` adapters; no decisions here.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timezone

from deployer.aws.cloudformation import CloudFormation
from deployer.aws.cloudwatch import ALB_SUFFIXES, CloudWatch, GroupMetrics, alb_queries, latency_rank_queries, slower_than
from deployer.aws.ecs import EcsReleases, Rollout
from deployer.aws.ecs_deployments import EcsDeployments, ServiceDeployment
from deployer.aws.elbv2 import Elbv2
from deployer.aws.route53 import Route53
from deployer.errors import InconsistentState
from deployer.release.gates import WindowStats
from deployer.release.metric_verdict import MetricCheck
from deployer.release.plan import ColorState, Observed
from deployer.release.sources import Readout
from deployer.spec import Service
from deployer.synth import names


@dataclass
class ServiceTarget:
    service: Service
    outputs: dict[str, str]
    ecs: EcsReleases
    elbv2: Elbv2
    route53: Route53
    cloudwatch: CloudWatch
    zone_id: str | None = None
    deployments: EcsDeployments | None = None  # engine ecs: ECS's own deployments

    def __post_init__(self) -> None:
        if self.deployments is None and self.service.release.native:
            self.deployments = EcsDeployments(self.ecs.client, sleep=self.ecs.sleep)

    @classmethod
    def load(cls, service: Service, cfn: CloudFormation, ecs: EcsReleases, elbv2: Elbv2, route53: Route53, cloudwatch: CloudWatch) -> "ServiceTarget":
        outputs = cfn.outputs(names.stack_name(service.name))
        zone_id = route53.zone_id(service.dns.zone) if service.dns_switched else None
        return cls(service, outputs, ecs, elbv2, route53, cloudwatch, zone_id)

    # --- services ---
    def ecs_name(self, color: str) -> str:
        return self.outputs.get(names.output_service(color)) or self.service.ecs_service_name(color)

    def register(self, base_task_definition: str, image: str, token: str) -> str:
        """A revision with the new image, tagged with `token` (the release id) so that a lost
        answer or a resumed release finds it instead of registering another."""
        return self.ecs.register_with_image(base_task_definition, self.service.name, image, token=token)

    def find_registered(self, base_task_definition: str, token: str) -> str | None:
        family = base_task_definition.rsplit("/", 1)[-1].rsplit(":", 1)[0]
        return self.ecs.find_registered(family, token)

    def deploy(self, color: str, task_definition: str, count: int, min_healthy: int, max_percent: int,
               circuit_breaker: bool = True) -> None:
        self.ecs.update(self.service.cluster, self.ecs_name(color), task_definition=task_definition, desired_count=count,
                        min_healthy_percent=min_healthy, max_percent=max_percent, circuit_breaker=circuit_breaker)

    def scale(self, color: str, count: int) -> None:
        self.ecs.scale(self.service.cluster, self.ecs_name(color), count)

    def rollout(self, color: str) -> Rollout:
        return self.ecs.rollout(self.service.cluster, self.ecs_name(color))

    def healthy(self, color: str) -> int:
        return self.elbv2.healthy_targets(self.outputs[names.output_target_group(color)])

    def serving_revisions(self, color: str) -> dict[str, int]:
        """Healthy targets of the color's target group, counted by the task definition of the task
        behind each ("" for a target no running task of the service owns).

        Three reads (target health, ListTasks, DescribeTasks); the answer to "which version would
        take this color's traffic", which a count of healthy targets cannot give.
        """
        healthy = [t for t in self.elbv2.target_states(self.outputs[names.output_target_group(color)]) if t.state == "healthy"]
        if not healthy:
            return {}
        owners = {}
        for task in self.ecs.service_tasks(self.service.cluster, self.ecs_name(color)):
            for address in task.addresses:
                owners[address] = task.task_definition
        counts: dict[str, int] = {}
        for target in healthy:
            revision = owners.get((target.id, target.port), "")
            counts[revision] = counts.get(revision, 0) + 1
        return counts

    # --- traffic ---
    def weights(self) -> dict[str, int]:
        if self.service.dns_switched:
            records = self.route53.weighted_records(self.zone_id, self.service.dns.record)
            return {c: int(records[c]["Weight"]) for c in self.service.colors if c in records}
        # the listener's, the shared rule's, or (engine ecs) the production rule's: per target group
        by_arn = self.elbv2.forward_weights(self.outputs[names.OUTPUT_LISTENER])
        return {c: by_arn.get(self.outputs[names.output_target_group(c)], 0) for c in self.service.target_colors}

    def set_weights(self, weights: dict[str, int]) -> dict[str, int]:
        """Write, then read back; a mismatch is an error, never silently accepted."""
        if self.service.dns_switched:
            self.route53.set_weights(self.zone_id, self.service.dns.record, weights)
        else:
            self.elbv2.set_forward_weights(
                self.outputs[names.OUTPUT_LISTENER],
                {self.outputs[names.output_target_group(c)]: w for c, w in weights.items()},
            )
        seen = self.weights()
        if any(seen.get(c) != w for c, w in weights.items()):
            raise InconsistentState(f"{self.service.name}: weights read back as {seen} after writing {weights}")
        return seen

    def point_test_listener(self, color: str) -> None:
        self.elbv2.forward_to(self.outputs[names.OUTPUT_TEST_LISTENER], self.outputs[names.output_target_group(color)])

    def test_listener_url(self) -> str:
        host, port, protocol = self.elbv2.listener_address(self.outputs[names.OUTPUT_TEST_LISTENER])
        return f"{protocol.lower()}://{host}:{port}"

    # --- metrics ---
    def read_window(self, colors: list[str], start: float, end: float, period: int,
                    checks: tuple[MetricCheck, ...] = (), latency_ms: tuple[float, float] | None = None) -> Readout:
        """Each color's ALB target-group numbers and the gate's own metrics, in one GetMetricData call.
        A custom metric's dimensions are filled in with the color, the color's target group (full
        name) and its ECS service name. With `latency_ms` (allowed, reference), each color's requests
        slower than each are counted too."""
        queries = {}
        for color in colors:
            lb_key = names.output_load_balancer_full_name(color if self.service.dns_switched else None)
            lb = self.outputs.get(lb_key) or (self.service.load_balancer.rule.load_balancer_full_name if self.service.load_balancer.rule else "")
            group = self.outputs[names.output_target_group_full_name(color)]
            queries.update({("alb", color, suffix): query for suffix, query in alb_queries(lb, group).items()})
            if latency_ms:
                queries.update({("slow", color, key): query for key, query in latency_rank_queries(lb, group, latency_ms).items()})
            values = {"color": color, "service": self.ecs_name(color),
                      "target_group": self.outputs.get(names.output_target_group_full_name(color), "")}
            for check in checks:
                queries[("metric", check.name, color)] = (check.namespace, check.metric, check.dimensions_for(values), check.statistic)
        found = self.cloudwatch.metric_values(
            queries, datetime.fromtimestamp(start, timezone.utc), datetime.fromtimestamp(end, timezone.utc), period)
        traffic = {}
        for color in colors:
            m = GroupMetrics(*(found[("alb", color, suffix)] for suffix in ALB_SUFFIXES))
            p99 = max(m.p99_seconds) * 1000 if m.p99_seconds else None  # the worst period: conservative
            p50 = statistics.median(m.p50_seconds) * 1000 if m.p50_seconds else None
            # a request the target never answered (refused, or dropped mid-request) is an error too
            requests = int(sum(m.requests))
            errors = min(requests, int(sum(m.errors)) + m.unanswered)
            slow = {}
            if latency_ms:
                allowed, reference = (slower_than(m.answered, found[("slow", color, f"pr{ms:g}")]) for ms in latency_ms)
                slow = {"slower_than_allowed": allowed, "slower_than_reference": reference}
            traffic[color] = WindowStats(requests, errors, p99, p50, **slow)
        metrics = {check.name: {color: found[("metric", check.name, color)] for color in colors} for check in checks}
        return Readout(traffic, metrics)

    def alarms_in_alarm(self, alarm_names: list[str]) -> list[str]:
        return self.cloudwatch.alarms_in_alarm(alarm_names)

    # --- engine ecs: ECS's own deployments ---
    def start_deployment(self, task_definition: str) -> None:
        self.deployments.start(self.service.cluster, self.ecs_name("main"), task_definition)

    def current_deployment(self) -> str | None:
        return self.deployments.current(self.service.cluster, self.ecs_name("main"))

    def deployment_created_since(self, at: float) -> str | None:
        """The newest deployment ECS created for the service at or after `at` (epoch seconds)."""
        since = datetime.fromtimestamp(at - 1.0, timezone.utc)  # a second of clock skew
        found = self.deployments.list(self.service.cluster, self.ecs_name("main"), created_after=since)
        return found[0]["serviceDeploymentArn"] if found else None

    def deployment(self, arn: str) -> ServiceDeployment:
        return self.deployments.describe(arn)

    def answer_hook(self, arn: str, hook_id: str, action: str) -> None:
        self.deployments.answer(arn, hook_id, action)

    def stop_deployment(self, arn: str) -> None:
        self.deployments.stop(arn, "ROLLBACK")

    # --- for the planner ---
    def observe(self) -> Observed:
        services = self.ecs.services(self.service.cluster, [self.ecs_name(c) for c in self.service.colors])
        weights = self.weights() if self.service.target_colors != ("main",) else {}
        colors = {}
        for color in self.service.colors:
            state = services.get(self.ecs_name(color))
            if state is None:
                raise InconsistentState(f"ECS service {self.ecs_name(color)} not found", hint=f"run `deployer provision {self.service.name}`")
            colors[color] = ColorState(state.task_definition, state.desired_count, weights.get(color))
        groups = weights if self.service.release.native else {}
        return Observed(colors, groups)
