"""The sandbox's ECS scheduler: moves every service's deployments the way ECS does.

Each tick, per service: reap tasks that exited (a failed task counts toward the circuit
breaker), replace tasks their target group found unhealthy, start tasks of the PRIMARY
deployment while the total stays within maximumPercent, stop tasks of older deployments while
the healthy ones stay at or above minimumHealthyPercent, drain stopped tasks for the target
group's deregistration delay, and mark the rollout COMPLETED, or FAILED when the circuit
breaker trips (rolling back to the previous deployment when asked to).

Every task is also a moto ECS task (deployer.sandbox.moto_ext.ecs_tasks), so ListTasks and
DescribeTasks show it: PENDING until its port answers, then RUNNING; when stopped, desiredStatus
STOPPED and DEACTIVATING while its target drains, STOPPING, then STOPPED with its reason. A
StopTask call is honoured the same way (the service then starts a replacement).

Native services (blue/green, linear, canary run by ECS itself) are scheduled differently: the
native scheduler (deployer.sandbox.native_scheduler) runs their service deployments and says
which revision runs how many tasks in which target group; this controller keeps those fleets.
One ECS minute lasts `minute` seconds here (DEPLOYER_SANDBOX_MINUTE, read by the daemon).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random

from deployer.sandbox.alarm_watch import AlarmWatch
from deployer.sandbox.hook_calls import HookCalls
from deployer.sandbox.images import image_env
from deployer.sandbox.native_deployments import DEFAULT_MINUTE
from deployer.sandbox.native_scheduler import Fleet, NativeScheduler
from deployer.sandbox.target_health import TargetHealth
from deployer.sandbox.moto_ext import ecs_deployments
from deployer.sandbox.moto_ext.ecs import new_deployment
from deployer.sandbox.moto_ext.ecs_tasks import SandboxTask, publish
from deployer.sandbox.tasks import Task, TaskRunner


def _get(d: dict, camel: str):
    """Container definitions come camelCase from the API and PascalCase from CloudFormation."""
    return d.get(camel, d.get(camel[:1].upper() + camel[1:]))


def breaker_threshold(desired: int) -> int:
    """AWS: half the desired count, at least 3 and at most 200 failed tasks."""
    return min(200, max(3, math.ceil(desired * 0.5)))


@dataclass
class EcsController:
    ecs_backend: object
    elbv2_backend: object
    runner: TaskRunner
    images: dict
    target_health: TargetHealth  # written at registration and draining; read to judge a rollout
    lock: threading.Lock = field(default_factory=threading.Lock)
    tasks: dict[str, list[Task]] = field(default_factory=dict)  # "cluster:service" -> tasks
    draining: list[Task] = field(default_factory=list)
    minute: float = DEFAULT_MINUTE  # seconds one ECS minute lasts (bake times, hook timeouts of native deployments)
    cloudwatch_backend: object = None  # where deployment alarms are evaluated (default: moto's, same account and region)
    lambdas: object = None  # the LambdaRunner that runs AWS_LAMBDA lifecycle hooks (none: every such hook fails)
    native: NativeScheduler = field(init=False)

    def __post_init__(self) -> None:
        cloudwatch = self.cloudwatch_backend or cloudwatch_backends[self.ecs_backend.account_id][self.ecs_backend.region_name]
        self.native = NativeScheduler(self.ecs_backend, self.elbv2_backend, self.target_health, AlarmWatch(cloudwatch),
                                      self.minute, self._event, HookCalls(self.lambdas))

    # ------------------------------------------------------------ the loop body
    def tick(self, now: float | None = None) -> None:
        now = now or time.time()
        with self.lock:
            with ecs_deployments.LOCK:  # a service being created is seen whole (its deployment configuration set)
                services = list(self.ecs_backend.services.items())
            for key, service in services:
                if service.status != "ACTIVE":
                    continue
                self._reconcile(key, service, now)
            self._finish_draining(now)

    def stop_all(self) -> None:
        with self.lock:
            for tasks in self.tasks.values():
                for task in tasks:
                    self.runner.stop(task, timeout=3)
            for task in self.draining:
                self.runner.stop(task, timeout=3)
            for task in [t for tasks in self.tasks.values() for t in tasks] + self.draining:
                if task.record is not None:
                    task.record.stop("Sandbox stopped", code="UserInitiated", draining=False)
                    task.record.stopped(task.process.returncode)
            self.tasks.clear()
            self.draining.clear()

    # ------------------------------------------------------------ per service
    def _reconcile(self, key: str, service, now: float) -> None:
        if not getattr(service, "deployments", None):
            service.deployments = [new_deployment(service, service.task_definition)]
        if ecs_deployments.native(service):
            self._reconcile_native(key, service, now)
            return
        primary = service.deployments[0]
        config = getattr(service, "deployment_configuration", None) or {}
        max_percent = int(config.get("maximumPercent", 200))
        min_percent = int(config.get("minimumHealthyPercent", 100))
        breaker = config.get("deploymentCircuitBreaker") or {}
        desired = int(service.desired_count)
        tasks = self.tasks.setdefault(key, [])
        target_group = self._target_group(service)
        grace = int(getattr(service, "health_check_grace_period_seconds", 0) or 0)
        self._reap(service, tasks, primary, grace, now)

        if primary["rolloutState"] == "IN_PROGRESS" and breaker.get("enable") and primary.get("failedTasks", 0) >= breaker_threshold(desired):
            self._trip_breaker(service, primary, bool(breaker.get("rollback")))
            primary = service.deployments[0]

        new = [t for t in tasks if t.deployment_id == primary["id"]]
        old = [t for t in tasks if t.deployment_id != primary["id"]]
        max_total = max(desired, math.floor(desired * max_percent / 100))
        min_healthy = math.ceil(desired * min_percent / 100)

        def healthy(group: list[Task]) -> list[Task]:
            return [t for t in group if self._is_healthy(t)]

        # too many of the current deployment (scaled down): stop the newest first
        scaling = f"Scaling activity initiated by (deployment {primary['id']})"
        for task in sorted(new, key=lambda t: t.started_at, reverse=True)[: max(0, len(new) - desired)]:
            tasks.remove(task)
            new.remove(task)
            self._drain(task, now, reason=scaling)

        # stop old tasks: unhealthy ones freely, healthy ones while the floor holds
        healthy_total = len(healthy(new)) + len(healthy(old))
        for task in sorted(old, key=lambda t: (self._is_healthy(t), t.started_at)):
            if self._is_healthy(task):
                if healthy_total - 1 < min_healthy:
                    continue
                healthy_total -= 1
            tasks.remove(task)
            old.remove(task)
            self._drain(task, now, reason=scaling)

        # start new tasks within maximumPercent (draining tasks still count, as on ECS)
        if primary["rolloutState"] != "FAILED":
            draining_here = sum(1 for t in self.draining if t.service_key == key)
            room = max_total - len(new) - len(old) - draining_here
            for _ in range(max(0, min(room, desired - len(new)))):
                task = self._start(key, service, primary, target_group)
                if task is not None:
                    tasks.append(task)
                    new.append(task)

        running_new = [t for t in new if t.alive()]
        primary["runningCount"] = len(running_new)
        primary["pendingCount"] = max(0, desired - len(running_new))
        primary["desiredCount"] = desired
        primary["updatedAt"] = utcnow()
        for deployment in service.deployments[1:]:
            deployment["runningCount"] = sum(1 for t in old if t.deployment_id == deployment["id"])
        service.running_count = len([t for t in tasks if t.alive()])
        service.pending_count = primary["pendingCount"]

        if primary["rolloutState"] == "IN_PROGRESS" and not old and len(healthy(new)) == desired \
                and not any(t.service_key == key for t in self.draining):
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            service.deployments = [primary]
            self._event(service, f"(service {service.name}) has reached a steady state.")

    def _reap(self, service, tasks: list[Task], primary: dict, grace: int, now: float) -> None:
        """Tasks that exited, or that their target group found unhealthy after the grace period,
        are stopped (a failure of the PRIMARY deployment's counts); StopTask is honoured; a task
        whose port answers is RUNNING."""
        for task in list(tasks):
            health = self.target_health.state(task.target_group, task.ip) if task.target_group else "healthy"
            crashed = not task.alive()
            unhealthy = health == "unhealthy" and now - task.started_at > grace
            record = task.record
            if crashed or unhealthy:
                tasks.remove(task)
                why = "Essential container in task exited" if crashed else "Task failed ELB health checks"
                self._event(service, f"(service {service.name}) has stopped 1 running tasks: (task {self._id(task)}). {why}.")
                if crashed:
                    self._drain(task, now, immediately=True, reason=why, code="EssentialContainerExited")
                else:
                    self._drain(task, now, immediately=True, reason=f"{why} in (target-group {task.target_group})")
                if task.deployment_id == primary["id"]:
                    primary["failedTasks"] = primary.get("failedTasks", 0) + 1
            elif record is not None and record.desired_status == "STOPPED":  # StopTask
                tasks.remove(task)
                self._event(service, f"(service {service.name}) has stopped 1 running tasks: (task {self._id(task)}).")
                self._drain(task, now)
            elif record is not None and record.last_status == "PENDING" and task.answers():
                record.running()

    # ------------------------------------------------------------ native services
    def _reconcile_native(self, key: str, service, now: float) -> None:
        tasks = self.tasks.setdefault(key, [])
        grace = int(getattr(service, "health_check_grace_period_seconds", 0) or 0)
        self._reap(service, tasks, service.deployments[0], grace, now)
        fleets = self.native.tick(service, tasks, [t for t in self.draining if t.service_key == key], now)
        self._keep(key, service, tasks, fleets, now)

    def _keep(self, key: str, service, tasks: list[Task], fleets: list[Fleet], now: float) -> None:
        """Each fleet at its count (the newest extra tasks stop first); tasks of no fleet stop."""
        wanted = {f.deployment["id"]: f for f in fleets}
        kept: dict[str, int] = {}
        for task in sorted(tasks, key=lambda t: t.started_at):
            fleet = wanted.get(task.deployment_id)
            if fleet is not None and kept.get(task.deployment_id, 0) < fleet.count:
                kept[task.deployment_id] = kept.get(task.deployment_id, 0) + 1
                continue
            tasks.remove(task)
            self._event(service, f"(service {service.name}) has stopped 1 running tasks: (task {self._id(task)}).")
            self._drain(task, now, reason=f"Scaling activity initiated by (deployment {task.deployment_id})")
        for fleet in fleets:
            for _ in range(fleet.count - kept.get(fleet.deployment["id"], 0)):
                task = self._start(key, service, fleet.deployment, fleet.target_group)
                if task is not None:
                    tasks.append(task)
        for deployment in service.deployments:
            count = wanted[deployment["id"]].count if deployment["id"] in wanted else 0
            running = sum(1 for t in tasks if t.deployment_id == deployment["id"] and t.alive())
            deployment.update(desiredCount=count, runningCount=running, pendingCount=max(0, count - running), updatedAt=utcnow())
        service.running_count = sum(1 for t in tasks if t.alive())
        service.pending_count = sum(d["pendingCount"] for d in service.deployments)

    # ------------------------------------------------------------ helpers
    def _target_group(self, service) -> str | None:
        for lb in getattr(service, "load_balancers", None) or []:
            arn = lb.get("targetGroupArn") or lb.get("TargetGroupArn")
            if arn:
                return arn
        return None

    def _is_healthy(self, task: Task) -> bool:
        if not task.alive():
            return False
        if task.target_group is None:
            return time.time() - task.started_at > 1.0
        return self.target_health.is_healthy(task.target_group, task.ip)

    def _start(self, key: str, service, deployment: dict, target_group: str | None) -> Task | None:
        task_definition = self.ecs_backend.describe_task_definition(deployment["taskDefinition"])
        containers = task_definition.container_definitions
        if not containers:
            return None
        container = containers[0]
        env = {_get(e, "name"): _get(e, "value") for e in _get(container, "environment") or []}
        env.update(image_env(_get(container, "image") or "", self.images))
        env["ECS_SERVICE_NAME"] = service.name  # on ECS: ServiceName from the task metadata endpoint (v4)
        mappings = _get(container, "portMappings") or [{"containerPort": 8080}]
        port = int(_get(mappings[0], "containerPort"))
        task = self.runner.start(key, deployment["id"], deployment["taskDefinition"], port, env)
        task.record = SandboxTask(self.ecs_backend, service, task_definition, deployment["id"], task.ip, port)
        publish(self.ecs_backend, task.record)
        if target_group:
            group = self.elbv2_backend.target_groups.get(target_group)
            if group is not None:
                group.register([{"Id": task.ip, "Port": port}])
                self.target_health.set(target_group, task.ip, "initial", "Elb.RegistrationInProgress")
                task.target_group = target_group
        self._event(service, f"(service {service.name}) has started 1 tasks: (task {self._id(task)}).")
        return task

    @staticmethod
    def _id(task: Task) -> str:
        return task.record.id if task.record is not None else task.task_id

    def _drain(self, task: Task, now: float, immediately: bool = False, reason: str = "Task stopped by the service scheduler",
               code: str = "ServiceSchedulerInitiated") -> None:
        if task.record is not None:
            task.record.stop(reason, code=code, draining=bool(task.target_group))
        delay = 0
        if task.target_group:
            group = self.elbv2_backend.target_groups.get(task.target_group)
            if group is not None:
                delay = 0 if immediately else int(group.attributes.get("deregistration_delay.timeout_seconds", 300))
                self.target_health.set(task.target_group, task.ip, "draining", "Target.DeregistrationInProgress")
        task.draining_until = now + delay
        self.draining.append(task)

    def _finish_draining(self, now: float) -> None:
        for task in [t for t in self.draining if (t.draining_until or 0) <= now]:
            self.draining.remove(task)
            if task.target_group:
                group = self.elbv2_backend.target_groups.get(task.target_group)
                if group is not None and task.ip in group.targets:
                    group.deregister([{"Id": task.ip}])
                self.target_health.forget(task.target_group, task.ip)
            if task.record is not None:
                task.record.stopping()
            self.runner.stop(task)
            if task.record is not None:
                task.record.stopped(task.process.returncode)

    def _trip_breaker(self, service, primary: dict, rollback: bool) -> None:
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        self._event(service, f"(service {service.name}) deployment {primary['id']} deployment failed: tasks failed to start.")
        previous = next((d for d in service.deployments[1:] if d["taskDefinition"] != primary["taskDefinition"]), None)
        if not rollback or previous is None:
            return
        # The previous deployment becomes PRIMARY again; its tasks keep serving.
        service.task_definition = previous["taskDefinition"]
        previous["status"] = "PRIMARY"
        previous["rolloutState"] = "IN_PROGRESS"
        previous["rolloutStateReason"] = f"ECS deployment circuit breaker: rolling back to deploymentId {previous['id']}."
        primary["status"] = "INACTIVE"
        service.deployments = [previous] + [d for d in service.deployments if d is not primary and d is not previous]
        self._event(service, f"(service {service.name}) rolling back to deployment {previous['id']}.")

    @staticmethod
    def _event(service, message: str) -> None:
        service.events.insert(0, {"id": str(mock_random.uuid4()), "createdAt": utcnow(), "message": message})
        del service.events[100:]
