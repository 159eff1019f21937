"""ECS: a service's tasks appear in ListTasks and DescribeTasks, with their addresses and lifecycle.

AWS: every task the service scheduler starts is listed by ListTasks(cluster, serviceName=...,
desiredStatus=...) and described by DescribeTasks: its task definition ARN, `startedBy` the
deployment ID, group `service:<name>`, launch type, an ElasticNetworkInterface attachment whose
`privateIPv4Address` is the address registered in the target group (awsvpc), and containers
with name, image and network interfaces. lastStatus goes PENDING -> RUNNING; when the scheduler
stops a task its desiredStatus becomes STOPPED at once and lastStatus goes DEACTIVATING (while
the target drains for the deregistration delay) -> STOPPING -> STOPPED, with stopCode,
stoppedReason and the times. Stopped tasks stay describable for at least an hour. ListTasks
filters on serviceName, and its desiredStatus filter defaults to RUNNING.

moto 5.2.5 knows nothing of the sandbox's task processes, ignores serviceName (returns every
task of the cluster), returns tasks of any desired status when none is asked for, matches the
cluster by substring, and moves its own tasks one state further at every DescribeTasks.

`SandboxTask` is the moto model of one sandbox task; the ECS controller creates it when it
starts the process and moves its state. Tasks are published copy-on-write (a new dict replaces
the old), so moto's request threads can iterate `backend.tasks` while the controller adds one.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import EC2ContainerServiceBackend, Task

KEEP_STOPPED_SECONDS = 3600  # AWS: stopped tasks remain visible for at least an hour
KEEP_STOPPED_MAX = 500       # and the sandbox keeps no more than this many per cluster (bounded memory)


def _get(d: dict, camel: str):
    return d.get(camel, d.get(camel[:1].upper() + camel[1:]))


class SandboxTask(Task):
    """A service task the sandbox runs as a local process, as ECS describes it.

    Built without Task.__init__ (which would create an EC2 network interface with a random
    address); its state is moved only by the controller, never by a DescribeTasks.
    """

    def __init__(self, backend: EC2ContainerServiceBackend, service: Any, task_definition: Any, deployment_id: str,
                 ip: str, port: int):
        self._backend = backend
        self._account_id = backend.account_id
        self.region_name = backend.region_name
        self.id = uuid.uuid4().hex
        self.cluster_name = service.cluster_name
        self.cluster_arn = service.cluster_arn
        self.container_instance_arn = None
        self.resource_requirements = None
        self.task_definition_arn = task_definition.arn
        self.overrides: dict = {}
        self.started_by = deployment_id
        self.group = f"service:{service.name}"
        self.launch_type = service.launch_type or None
        self.capacity_provider_name = None
        self.platform_version = "1.4.0" if self.launch_type == "FARGATE" else None
        self.platform_family = "Linux" if self.launch_type == "FARGATE" else None
        self.tags: list = []
        self.cpu = str(task_definition.cpu) if getattr(task_definition, "cpu", None) else None
        self.memory = str(task_definition.memory) if getattr(task_definition, "memory", None) else None
        self.desired_status = "RUNNING"
        self._last_status = "PENDING"
        self.stopped_reason = None
        self.stop_code = None
        self.health_status = "UNKNOWN"
        self.connectivity = None
        self.created_at = utcnow()
        self.connectivity_at = self.pull_started_at = self.pull_stopped_at = self.started_at = None
        self.stopping_at = self.execution_stopped_at = self.stopped_at = None
        self.version = 1
        self.ip = ip
        self.port = port
        self.stopped_monotonic: float | None = None

        awsvpc = (getattr(task_definition, "network_mode", None) or "awsvpc") == "awsvpc"
        subnets = (_get(getattr(service, "network_configuration", None) or {}, "awsvpcConfiguration") or {}).get("subnets") or []
        self.availability_zone = _availability_zone(backend, subnets[0] if subnets else None)
        attachment_id = str(uuid.uuid4())
        self.attachments: list[dict] = []
        if awsvpc:
            octets = [int(x) for x in ip.split(".")]
            self.attachments.append({
                "id": attachment_id, "type": "ElasticNetworkInterface", "status": "ATTACHED",
                "details": [
                    {"name": "subnetId", "value": subnets[0] if subnets else "subnet-sandbox"},
                    {"name": "networkInterfaceId", "value": f"eni-{self.id[:17]}"},
                    {"name": "macAddress", "value": "0e:" + ":".join(f"{o:02x}" for o in octets) + ":00"},
                    {"name": "privateDnsName", "value": f"ip-{ip.replace('.', '-')}.ec2.internal"},
                    {"name": "privateIPv4Address", "value": ip},
                ],
            })
        self.containers = [_Container(self, definition, attachment_id if awsvpc else None, ip, port)
                           for definition in task_definition.container_definitions]

    # moto's Task takes lastStatus from its ManagedState; a sandbox task's comes from its process.
    @property
    def last_status(self) -> str:
        return self._last_status

    @last_status.setter
    def last_status(self, value: str) -> None:
        self._last_status = value

    @property
    def status(self) -> str:
        return self._last_status

    @status.setter
    def status(self, value: str) -> None:
        self._last_status = value

    def advance(self) -> None:
        """moto calls this on every DescribeTasks; the controller moves a sandbox task instead."""

    # ------------------------------------------------------------ the controller's transitions
    def running(self) -> None:
        if self._last_status != "PENDING":
            return
        now = utcnow()
        self.pull_started_at = self.pull_stopped_at = self.created_at
        self.connectivity, self.connectivity_at, self.started_at = "CONNECTED", now, now
        self._set("RUNNING")

    def stop(self, reason: str, code: str = "ServiceSchedulerInitiated", draining: bool = True) -> None:
        """desiredStatus STOPPED; DEACTIVATING while the load balancer drains the target."""
        if self.desired_status != "STOPPED":  # the first reason given is the one ECS keeps
            self.desired_status = "STOPPED"
            self.stopped_reason, self.stop_code, self.stopping_at = reason, code, utcnow()
        if self._last_status not in ("STOPPING", "STOPPED"):
            self._set("DEACTIVATING" if draining else "STOPPING")

    def stopping(self) -> None:
        if self._last_status != "STOPPED":
            self._set("STOPPING")

    def stopped(self, exit_code: int | None) -> None:
        if self._last_status == "STOPPED":
            return
        self.desired_status = "STOPPED"
        self.stop_code = self.stop_code or "EssentialContainerExited"
        self.stopped_reason = self.stopped_reason or "Essential container in task exited"
        self.stopping_at = self.stopping_at or utcnow()
        self.execution_stopped_at = self.stopped_at = utcnow()
        self.connectivity = "DISCONNECTED"
        for attachment in self.attachments:
            attachment["status"] = "DELETED"
        for container in self.containers:
            container.exit_code = exit_code
        self.stopped_monotonic = time.monotonic()
        self._set("STOPPED")

    def _set(self, status: str) -> None:
        self._last_status = status
        self.version += 1
        for container in self.containers:
            container.last_status = {"DEACTIVATING": "RUNNING", "STOPPING": "RUNNING"}.get(status, status)


class _Container:
    """containers[] of DescribeTasks (the serializer reads attributes by their snake_case names)."""

    def __init__(self, task: SandboxTask, definition: dict, attachment_id: str | None, ip: str, port: int):
        self.container_arn = f"arn:aws:ecs:{task.region_name}:{task._account_id}:container/{task.cluster_name}/{task.id}/{uuid.uuid4()}"
        self.task_arn = task.task_arn
        self.name = _get(definition, "name")
        self.image = _get(definition, "image")
        self.last_status = "PENDING"
        self.exit_code: int | None = None
        self.health_status = "UNKNOWN"
        self.cpu = str(_get(definition, "cpu") or 0)
        memory = _get(definition, "memory")
        self.memory = str(memory) if memory else None
        self.network_interfaces = [{"attachmentId": attachment_id, "privateIpv4Address": ip}] if attachment_id else []
        mappings = _get(definition, "portMappings") or []
        self.network_bindings = [] if attachment_id else [
            {"bindIP": ip, "containerPort": int(_get(m, "containerPort")), "hostPort": int(_get(m, "hostPort") or _get(m, "containerPort")),
             "protocol": "tcp"} for m in mappings]


def _availability_zone(backend: EC2ContainerServiceBackend, subnet_id: str | None) -> str:
    try:
        from moto.ec2.models import ec2_backends

        return ec2_backends[backend.account_id][backend.region_name].get_subnet(subnet_id).availability_zone
    except Exception:  # noqa: BLE001 - no such subnet: the region's first zone
        return f"{backend.region_name}a"


def publish(backend: EC2ContainerServiceBackend, task: SandboxTask) -> None:
    """Add `task` to the backend copy-on-write, and forget stopped tasks past their time (bounded)."""
    clusters = dict(backend.tasks)
    tasks = dict(clusters.get(task.cluster_name, {}))
    tasks[task.task_arn] = task
    clusters[task.cluster_name] = _pruned(tasks)
    backend.tasks = clusters


def _pruned(tasks: dict[str, Any]) -> dict[str, Any]:
    now = time.monotonic()
    stopped = [arn for arn, t in tasks.items() if isinstance(t, SandboxTask) and t.stopped_monotonic is not None]
    expired = {arn for arn in stopped if now - tasks[arn].stopped_monotonic > KEEP_STOPPED_SECONDS}
    alive = [arn for arn in stopped if arn not in expired]
    expired.update(sorted(alive, key=lambda a: tasks[a].stopped_monotonic)[: max(0, len(alive) - KEEP_STOPPED_MAX)])
    return {arn: t for arn, t in tasks.items() if arn not in expired}


def install() -> None:
    original_list = EC2ContainerServiceBackend.list_tasks
    original_stop = EC2ContainerServiceBackend.stop_task

    def list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None, service_name=None,
                   desiredStatus=None):
        tasks = original_list(self, cluster_str, container_instance, family, started_by, None, None)
        cluster = self._get_cluster(cluster_str or "default")
        tasks = [t for t in tasks if t.cluster_arn == cluster.arn]
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if t.group == group]
        wanted = desiredStatus or "RUNNING"
        return [t for t in tasks if t.desired_status == wanted]

    def stop_task(self, cluster_str, task_str, reason):
        """StopTask on a sandbox task: desiredStatus STOPPED now; the controller drains and stops it."""
        cluster = self._get_cluster(cluster_str)
        task_id = task_str.split("/")[-1]
        for arn, task in self.tasks.get(cluster.name, {}).items():
            if isinstance(task, SandboxTask) and arn.endswith(task_id):
                task.stop(reason or "Task stopped by user", code="UserInitiated")
                return task
        return original_stop(self, cluster_str, task_str, reason)

    EC2ContainerServiceBackend.list_tasks = list_tasks
    EC2ContainerServiceBackend.stop_task = stop_task
