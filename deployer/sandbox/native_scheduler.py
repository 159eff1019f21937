"""The ECS scheduler for native services: their deployments run through the stage machine.

Each tick, per native service, under the service deployments' lock: a PENDING deployment picks
its target group (the production one is the group the production listener rule sends the larger
weight to; the new revision registers in the other, a first deployment in the production one);
what is gets gathered (the new revision's healthy tasks, the tasks still running or draining, the
deployment alarms in ALARM); the stage machine (deployer.sandbox.native_deployments) advances;
and the world is made to match its intent: the rules' weights first, then the fleets the ECS
controller keeps (which revision runs how many tasks, registered in which group), so a rollback
takes traffic back before any task of the new revision stops. The Lambda hook invocations the
machine asks for start on workers (deployer.sandbox.hook_calls), and their answers go into the
next tick's `Seen`: a slow function never holds up the loop. A finished deployment is folded
into the service: its `deployments` (PRIMARY/ACTIVE, rolloutState) and, after a rollback, its
task definition. With no deployment running, every deployment the service lists keeps its tasks
(one after a success; two after a deployment stopped half way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from deployer.sandbox import listener_weights as rules
from deployer.sandbox import native_deployments as machine
from deployer.sandbox.alarm_watch import AlarmWatch
from deployer.sandbox.hook_calls import HookCalls
from deployer.sandbox.moto_ext.ecs_deployments import LOCK, Revision, active, store
from deployer.sandbox.native_settings import advanced_configuration
from deployer.sandbox.target_health import TargetHealth
from deployer.sandbox.tasks import Task


@dataclass(frozen=True)
class Fleet:
    deployment: dict  # the service's deployment (id, taskDefinition) whose tasks these are
    target_group: str | None
    count: int


@dataclass
class NativeScheduler:
    ecs_backend: object
    elbv2_backend: object
    target_health: TargetHealth
    alarms: AlarmWatch
    minute: float  # seconds one ECS minute lasts in the sandbox (DEPLOYER_SANDBOX_MINUTE)
    event: Callable[[object, str], None]  # writes a service event
    hooks: HookCalls = field(default_factory=HookCalls)  # Lambda lifecycle hooks' invocations

    def tick(self, service, tasks: list[Task], draining: list[Task], now: float) -> list[Fleet]:
        """The fleets the service should run now (the rules' weights are written before this returns)."""
        with LOCK:
            lb = (service.load_balancers or [{}])[0]
            advanced = advanced_configuration(service.load_balancers)
            groups = (lb.get("targetGroupArn"), advanced.get("alternateTargetGroupArn"))
            production = rules.find(self.elbv2_backend, advanced.get("productionListenerRule"))
            test = rules.find(self.elbv2_backend, advanced.get("testListenerRule"))
            record = active(self.ecs_backend, service)
            if record is not None and self._revision(record.target_revision).deployment_id not in store(self.ecs_backend).placement:
                self._begin(record, service, production, groups, tasks, now)  # once, even if stopped while PENDING
            if record is None or record.status not in machine.ACTIVE:
                return self._steady(service, tasks, draining, production, groups)
            intent = machine.advance(record, self._seen(record, service, tasks, draining, now), now, self.minute)
            for text in intent.events:
                self.event(service, f"(service {service.name}) service deployment {record.arn.rsplit('/', 1)[-1]} {text}")
            for call in intent.calls:
                self.hooks.start(record.arn, call)
            if record.status in machine.ACTIVE:
                self._shift(record, service, intent, production, test, groups)
                self._mark_rollback(record, service)
                fleets = self._fleets(record, service, intent)
            else:
                self.hooks.forget(record.arn)
                self._finish(record, service)
                fleets = self._steady(service, tasks, draining, production, groups)
            self._count(record, service, tasks, fleets)
            return fleets

    # ------------------------------------------------------------ a deployment
    def _begin(self, record: machine.Deployment, service, production, groups, tasks: list[Task], now: float) -> None:
        if production is None or not all(groups):
            machine.fail(record, f"The production listener rule {advanced_configuration(service.load_balancers).get('productionListenerRule')} "
                                 "or a target group of the service was not found.", now)
            return
        placement = store(self.ecs_backend).placement
        live = rules.production_group(production, groups)
        for arn in record.source_revisions:
            dep = self._revision(arn).deployment_id
            placement.setdefault(dep, self._group_of(dep, tasks) or live)
        target = self._revision(record.target_revision).deployment_id
        placement[target] = live if record.initial else next(g for g in groups if g != live)
        # the source serving production comes first: the one a rollback returns to
        record.source_revisions = tuple(sorted(record.source_revisions,
                                               key=lambda a: placement.get(self._revision(a).deployment_id) != live))

    def _seen(self, record: machine.Deployment, service, tasks: list[Task], draining: list[Task], now: float) -> machine.Seen:
        target = self._revision(record.target_revision).deployment_id
        sources = [self._revision(a).deployment_id for a in record.source_revisions]
        left = [t.deployment_id for t in tasks + draining]
        healthy = sum(1 for t in tasks if t.deployment_id == target and t.alive() and t.target_group
                      and self.target_health.is_healthy(t.target_group, t.ip))
        alarms = self.alarms.in_alarm(record.settings.alarms.names, now) if machine.monitoring(record) else ()
        return machine.Seen(desired=int(service.desired_count), target_healthy=healthy, target_left=left.count(target),
                            sources_left=left.count(sources[0]) if sources else 0,
                            stale_left=sum(left.count(s) for s in sources[1:]), alarms=alarms,
                            answers=self.hooks.answers(record.arn))

    def _shift(self, record: machine.Deployment, service, intent: machine.Intent, production, test, groups) -> None:
        if intent.production_weight is None or production is None:
            return
        group = store(self.ecs_backend).placement.get(self._revision(record.target_revision).deployment_id)
        if group is None:
            return
        other = next(g for g in groups if g != group)
        for ref, weight, name in ((production, intent.production_weight, "production"), (test, intent.test_weight, "test")):
            if ref is not None and rules.shift(ref, group, other, weight):
                self.event(service, f"(service {service.name}) {name} listener rule: {weight:g}% to target group "
                                    f"{group.rsplit('/', 2)[-2]}")

    def _fleets(self, record: machine.Deployment, service, intent: machine.Intent) -> list[Fleet]:
        placement = store(self.ecs_backend).placement
        desired = int(service.desired_count)
        wanted = [(record.target_revision, intent.target_tasks)]
        wanted += [(arn, intent.source_tasks if i == 0 else intent.stale_tasks) for i, arn in enumerate(record.source_revisions)]
        fleets = []
        for arn, runs in wanted:
            dep = self._deployment(service, self._revision(arn).deployment_id)
            if dep is not None:
                fleets.append(Fleet(dep, placement.get(dep["id"]), desired if runs else 0))
        return fleets

    def _mark_rollback(self, record: machine.Deployment, service) -> None:
        """Once rolling back: the source revision is the service's again (PRIMARY, its task definition)."""
        if record.status not in (machine.ROLLBACK_IN_PROGRESS, machine.ROLLBACK_SUCCESSFUL) or not record.source_revisions:
            return
        source = self._deployment(service, self._revision(record.source_revisions[0]).deployment_id)
        target = self._deployment(service, self._revision(record.target_revision).deployment_id)
        if source is None or source["status"] == "PRIMARY":
            return
        service.task_definition = source["taskDefinition"]
        source["status"], source["rolloutState"] = "PRIMARY", "COMPLETED"
        source["rolloutStateReason"] = f"ECS deployment {source['id']} completed."
        if target is not None:
            target["status"], target["rolloutState"], target["rolloutStateReason"] = "ACTIVE", "FAILED", record.status_reason
        service.deployments = [source] + [d for d in service.deployments if d is not source]

    def _finish(self, record: machine.Deployment, service) -> None:
        placement = store(self.ecs_backend).placement
        target = self._deployment(service, self._revision(record.target_revision).deployment_id)
        if record.status == machine.SUCCESSFUL and target is not None:
            target["status"], target["rolloutState"] = "PRIMARY", "COMPLETED"
            target["rolloutStateReason"] = f"ECS deployment {target['id']} completed."
            for dep in service.deployments:
                if dep is not target:
                    placement.pop(dep["id"], None)
            service.deployments = [target]
            self.event(service, f"(service {service.name}) has reached a steady state.")
        elif record.status == machine.ROLLBACK_SUCCESSFUL:
            self._mark_rollback(record, service)
            keep = service.deployments[0]
            for dep in service.deployments[1:]:
                placement.pop(dep["id"], None)
            service.deployments = [keep]
        elif record.status == machine.STOPPED and target is not None and not record.initial:
            target["rolloutState"], target["rolloutStateReason"] = "FAILED", record.status_reason

    # ------------------------------------------------------------ no deployment running
    def _steady(self, service, tasks: list[Task], draining: list[Task], production, groups) -> list[Fleet]:
        placement = store(self.ecs_backend).placement
        live = rules.production_group(production, groups) if all(groups) else groups[0]
        desired = int(service.desired_count)
        fleets = [Fleet(dep, placement.setdefault(dep["id"], self._group_of(dep["id"], tasks) or live), desired)
                  for dep in service.deployments]
        primary = service.deployments[0] if service.deployments else None
        if primary is not None and primary["rolloutState"] == "IN_PROGRESS" and len(service.deployments) == 1:
            healthy = [t for t in tasks if t.deployment_id == primary["id"] and t.alive() and t.target_group
                       and self.target_health.is_healthy(t.target_group, t.ip)]
            extra = [t for t in tasks if t.deployment_id != primary["id"]] + draining
            if len(healthy) == desired and not extra:
                primary["rolloutState"] = "COMPLETED"
                primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
                self.event(service, f"(service {service.name}) has reached a steady state.")
        return fleets

    # ------------------------------------------------------------ helpers
    def _count(self, record: machine.Deployment, service, tasks: list[Task], fleets: list[Fleet]) -> None:
        requested = {f.deployment["id"]: f.count for f in fleets}
        for arn in (record.target_revision, *record.source_revisions):
            dep = self._revision(arn).deployment_id
            mine = [t for t in tasks if t.deployment_id == dep and t.alive()]
            running = sum(1 for t in mine if t.record is not None and t.record.last_status == "RUNNING")
            record.counts[arn] = (requested.get(dep, 0), running, len(mine) - running)

    def _revision(self, arn: str) -> Revision:
        return next(r for r in store(self.ecs_backend).revisions.values() if r.arn == arn)

    @staticmethod
    def _deployment(service, deployment_id: str) -> dict | None:
        return next((d for d in service.deployments if d["id"] == deployment_id), None)

    @staticmethod
    def _group_of(deployment_id: str, tasks: list[Task]) -> str | None:
        return next((t.target_group for t in tasks if t.deployment_id == deployment_id and t.target_group), None)
