"""ECS: services, their deployments and task definitions."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.aws.base import Adapter, is_ambiguous
from deployer.errors import AwsError

# The tag a release puts on the revision it registers; its value is the release id.
RELEASE_TAG = "deployer:release"
# How many of a family's newest revisions `find_registered` looks at.
NEWEST_REVISIONS = 5


@dataclass(frozen=True)
class ServiceState:
    name: str
    task_definition: str
    desired_count: int
    running_count: int
    status: str
    deployments: tuple[dict, ...] = ()


@dataclass(frozen=True)
class TaskInfo:
    """A task of a service and where a load balancer reaches it.

    `addresses` are (target id, port) pairs as a target group registers them: for awsvpc tasks
    (the task's ENI private IP, container port); for bridge/host tasks (EC2 instance id, host port).
    """

    arn: str
    task_definition: str
    last_status: str
    desired_status: str
    addresses: tuple[tuple[str, int], ...] = ()


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

    def service_tasks(self, cluster: str, service: str) -> list[TaskInfo]:
        """The service's tasks whose desired status is RUNNING, with their load balancer addresses.

        Requests: ListTasks, one per 100 tasks; DescribeTasks, one per 100 tasks (none when there is
        no task); DescribeContainerInstances, one per 100 distinct instances of bridge/host tasks;
        DescribeTaskDefinition, once per distinct revision among the tasks that report no network
        bindings (awsvpc tasks usually: the container port is only in the task definition).
        """
        arns: list[str] = []
        token = None
        while True:
            page = self._call("list_tasks", idempotent=True, cluster=cluster, serviceName=service, desiredStatus="RUNNING",
                              maxResults=100, **({"nextToken": token} if token else {}))
            arns.extend(page.get("taskArns", []))
            token = page.get("nextToken")
            if not token:
                break
        tasks: list[dict] = []
        for i in range(0, len(arns), 100):
            tasks.extend(self._call("describe_tasks", idempotent=True, cluster=cluster, tasks=arns[i:i + 100]).get("tasks", []))
        instances = self._instance_ids(cluster, {t["containerInstanceArn"] for t in tasks
                                                 if t.get("containerInstanceArn") and not _is_awsvpc(t)})
        definitions: dict[str, dict] = {}

        def definition(arn: str) -> dict:
            if arn not in definitions:
                definitions[arn] = self._call("describe_task_definition", idempotent=True, taskDefinition=arn)["taskDefinition"]
            return definitions[arn]

        out = []
        for t in tasks:
            td_arn = t.get("taskDefinitionArn", "")
            bindings = [b for c in t.get("containers", []) for b in c.get("networkBindings", [])]
            if _is_awsvpc(t):  # the target is the task's IP (none yet while its ENI attaches) and the container port
                ips = _task_ips(t)
                ports = {int(b["containerPort"]) for b in bindings if b.get("containerPort")}
                ports = ports or (_mapped_ports(definition(td_arn), host=False) if ips else set())
                addresses = {(ip, port) for ip in ips for port in ports}
            elif t.get("containerInstanceArn") in instances:  # bridge/host: the EC2 instance and the host port
                ports = {int(b["hostPort"]) for b in bindings if b.get("hostPort")}
                ports = ports if bindings else _mapped_ports(definition(td_arn), host=True)
                addresses = {(instances[t["containerInstanceArn"]], port) for port in ports}
            else:
                addresses = set()
            out.append(TaskInfo(
                arn=t.get("taskArn", ""),
                task_definition=td_arn,
                last_status=t.get("lastStatus", ""),
                desired_status=t.get("desiredStatus", ""),
                addresses=tuple(sorted(addresses)),
            ))
        return out

    def _instance_ids(self, cluster: str, container_instance_arns: set[str]) -> dict[str, str]:
        """Container instance ARN -> EC2 instance id."""
        wanted = sorted(container_instance_arns)
        out: dict[str, str] = {}
        for i in range(0, len(wanted), 100):
            response = self._call("describe_container_instances", idempotent=True, cluster=cluster, containerInstances=wanted[i:i + 100])
            for ci in response.get("containerInstances", []):
                if ci.get("ec2InstanceId"):
                    out[ci["containerInstanceArn"]] = ci["ec2InstanceId"]
        return out


def _is_awsvpc(task: dict) -> bool:
    return bool(_task_ips(task)) or any(a.get("type") == "ElasticNetworkInterface" for a in task.get("attachments", []))


def _task_ips(task: dict) -> list[str]:
    """Private IPv4 addresses of an awsvpc task: its ENI attachment, and what its containers report."""
    ips = [d.get("value", "") for a in task.get("attachments", []) if a.get("type") == "ElasticNetworkInterface"
           for d in a.get("details", []) if d.get("name") == "privateIPv4Address"]
    ips += [n.get("privateIpv4Address", "") for c in task.get("containers", []) for n in c.get("networkInterfaces", [])]
    return sorted({ip for ip in ips if ip})


def _mapped_ports(definition: dict, *, host: bool) -> set[int]:
    """Ports of the task definition's port mappings: container ports, or (host=True) the static host ports.

    Only used when a task reports no network bindings. In host mode the host port is the container
    port; a bridge mapping without a host port is dynamic, unknown until the task reports it.
    """
    network_mode = definition.get("networkMode", "bridge")
    ports = set()
    for c in definition.get("containerDefinitions", []):
        for m in c.get("portMappings", []):
            if not host:
                port = m.get("containerPort")
            elif network_mode == "host":
                port = m.get("hostPort") or m.get("containerPort")
            else:
                port = m.get("hostPort")
            if port:
                ports.add(int(port))
    return ports


def _family_and_revision(arn: str) -> tuple[str, int]:
    name = arn.rsplit("/", 1)[-1]
    family, _, revision = name.rpartition(":")
    return family, int(revision) if revision.isdigit() else 0


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

    def register_with_image(self, base_arn: str, container: str, image: str, token: str | None = None) -> str:
        """A new revision of `base_arn` whose `container` runs `image`; everything else unchanged.

        With a `token` (the release id) the revision is tagged `deployer:release=<token>`, and an
        ambiguous failure (dropped connection, read timeout, 5xx: the register may have happened)
        is settled by looking for the revision with that tag (`find_registered`): found, it is
        returned; not found, the register is sent once more. Without a token such a failure is
        raised, never blindly retried. Throttling is retried by `_call` either way.
        """
        base = self.task_definition(base_arn)
        body = {k: v for k, v in base.items() if k not in _READ_ONLY_TASK_DEFINITION_FIELDS}
        containers = body.get("containerDefinitions", [])
        names = [c.get("name") for c in containers]
        if container not in names:
            from deployer.errors import InconsistentState

            raise InconsistentState(f"task definition {base_arn} has no container {container!r} (has {', '.join(map(str, names))})")
        body["containerDefinitions"] = [{**c, "image": image} if c.get("name") == container else c for c in containers]
        if token is None:
            return self._register(body)
        body["tags"] = [{"key": RELEASE_TAG, "value": token}]
        try:
            return self._register(body)
        except AwsError as exc:
            if not is_ambiguous(exc):
                raise
        found = self.find_registered(body["family"], token)
        return found if found is not None else self._register(body)

    def _register(self, body: dict) -> str:
        return self._call("register_task_definition", idempotent=False, **body)["taskDefinition"]["taskDefinitionArn"]

    def find_registered(self, family: str, token: str) -> str | None:
        """The ARN of the active revision of `family` registered with `token`, among its newest few; else None.

        Requests: one ListTaskDefinitions, then one DescribeTaskDefinition per revision looked at
        (newest first, at most NEWEST_REVISIONS; one when the token is on the newest).
        """
        arns = self._call("list_task_definitions", idempotent=True, familyPrefix=family, status="ACTIVE", sort="DESC",
                          maxResults=NEWEST_REVISIONS).get("taskDefinitionArns", [])
        # familyPrefix is the whole family on AWS; keep only that family, newest first, whatever the order received
        mine = sorted((a for a in arns if _family_and_revision(a)[0] == family), key=lambda a: _family_and_revision(a)[1], reverse=True)
        for arn in mine[:NEWEST_REVISIONS]:
            response = self._call("describe_task_definition", idempotent=True, taskDefinition=arn, include=["TAGS"])
            if any(t.get("key") == RELEASE_TAG and t.get("value") == token for t in response.get("tags", [])):
                return response["taskDefinition"]["taskDefinitionArn"]
        return None

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
