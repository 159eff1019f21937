"""ECS: services, their deployments and task definitions."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.aws.base import Adapter


@dataclass(frozen=True)
class ServiceState:
    name: str
    task_definition: str
    desired_count: int
    running_count: int
    status: str
    deployments: tuple[dict, ...] = ()


class Ecs(Adapter):
    service_name = "ecs"

    def services(self, cluster: str, names: list[str]) -> dict[str, ServiceState]:
        """Active services by name; missing or inactive ones are simply absent."""
        if not names:
            return {}
        response = self._call("describe_services", idempotent=True, cluster=cluster, services=list(names))
        out = {}
        for s in response.get("services", []):
            if s.get("status") == "INACTIVE":
                continue
            out[s["serviceName"]] = ServiceState(
                name=s["serviceName"],
                task_definition=s.get("taskDefinition", ""),
                desired_count=int(s.get("desiredCount", 0)),
                running_count=int(s.get("runningCount", 0)),
                status=s.get("status", ""),
                deployments=tuple(s.get("deployments", [])),
            )
        return out


# Fields DescribeTaskDefinition returns that RegisterTaskDefinition does not accept.
_READ_ONLY_TASK_DEFINITION_FIELDS = (
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
    "registeredAt", "registeredBy", "deregisteredAt",
)


@dataclass(frozen=True)
class Rollout:
    """The service's PRIMARY deployment and what ECS said lately."""

    task_definition: str
    desired: int
    running: int
    pending: int
    failed_tasks: int
    rollout_state: str  # IN_PROGRESS | COMPLETED | FAILED
    rollout_reason: str
    deployments: int  # how many deployments are active (old ones drain)
    events: tuple[tuple[str, str], ...]  # (id, message), newest first


class EcsReleases(Ecs):
    """The ECS calls a release makes."""

    def task_definition(self, arn: str) -> dict:
        return self._call("describe_task_definition", idempotent=True, taskDefinition=arn)["taskDefinition"]

    def register_with_image(self, base_arn: str, container: str, image: str) -> str:
        """A new revision of `base_arn` whose `container` runs `image`; everything else unchanged."""
        base = self.task_definition(base_arn)
        body = {k: v for k, v in base.items() if k not in _READ_ONLY_TASK_DEFINITION_FIELDS}
        containers = body.get("containerDefinitions", [])
        names = [c.get("name") for c in containers]
        if container not in names:
            from deployer.errors import InconsistentState

            raise InconsistentState(f"task definition {base_arn} has no container {container!r} (has {', '.join(map(str, names))})")
        body["containerDefinitions"] = [{**c, "image": image} if c.get("name") == container else c for c in containers]
        return self._call("register_task_definition", idempotent=False, **body)["taskDefinition"]["taskDefinitionArn"]

    def update(self, cluster: str, service: str, *, task_definition: str, desired_count: int,
               min_healthy_percent: int, max_percent: int, circuit_breaker: bool) -> None:
        # Setting the same revision and count twice leaves the service as it was: safe to retry.
        self._call(
            "update_service",
            idempotent=True,
            cluster=cluster,
            service=service,
            taskDefinition=task_definition,
            desiredCount=desired_count,
            deploymentConfiguration={
                "minimumHealthyPercent": min_healthy_percent,
                "maximumPercent": max_percent,
                "deploymentCircuitBreaker": {"enable": circuit_breaker, "rollback": circuit_breaker},
            },
        )

    def scale(self, cluster: str, service: str, desired_count: int) -> None:
        self._call("update_service", idempotent=True, cluster=cluster, service=service, desiredCount=desired_count)

    def rollout(self, cluster: str, service: str) -> Rollout:
        response = self._call("describe_services", idempotent=True, cluster=cluster, services=[service])
        found = response.get("services", [])
        if not found:
            from deployer.errors import NotFound

            raise NotFound("DescribeServices", "ServiceNotFoundException", f"service {service} not found in cluster {cluster}")
        s = found[0]
        deployments = s.get("deployments", [])
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), deployments[0] if deployments else {})
        return Rollout(
            task_definition=primary.get("taskDefinition", s.get("taskDefinition", "")),
            desired=int(primary.get("desiredCount", s.get("desiredCount", 0))),
            running=int(primary.get("runningCount", s.get("runningCount", 0))),
            pending=int(primary.get("pendingCount", 0)),
            failed_tasks=int(primary.get("failedTasks", 0)),
            rollout_state=primary.get("rolloutState", "COMPLETED"),
            rollout_reason=primary.get("rolloutStateReason", ""),
            deployments=len(deployments),
            events=tuple((e.get("id", ""), e.get("message", "")) for e in s.get("events", [])[:20]),
        )
