"""A service's target and executor built from boto3 clients: one place, for the command line's
factory and for the judge function (which has no command line, and no deployer.yaml)."""

from __future__ import annotations

import os
import threading
import time


def service_target(service, clients):
    """The ServiceTarget of a provisioned service (its stack's outputs); ConfigError when it is not."""
    from deployer.aws.cloudformation import CloudFormation
    from deployer.aws.cloudwatch import CloudWatch
    from deployer.aws.ecs import EcsReleases
    from deployer.aws.elbv2 import Elbv2
    from deployer.aws.route53 import Route53
    from deployer.errors import ConfigError, NotFound
    from deployer.release.target import ServiceTarget
    from deployer.synth import names

    try:
        return ServiceTarget.load(
            service,
            CloudFormation(clients.client("cloudformation")),
            EcsReleases(clients.client("ecs")),
            Elbv2(clients.client("elbv2")),
            Route53(clients.client("route53")),
            CloudWatch(clients.client("cloudwatch")),
        )
    except NotFound:
        raise ConfigError([f"{service.name} is not provisioned (no stack {names.stack_name(service.name)})"],
                          hint=f"run `deployer provision {service.name}`") from None


def executor(service, target, journal, progress, *, poll: float = 5.0, stop: threading.Event | None = None,
             wait_for_lock: float = 0.0, stop_requested=None):
    """An executor on the wall clock, its waits cut short by `stop` (set by a signal)."""
    from deployer.release.executor import Executor, Settings

    stop = stop or threading.Event()
    return Executor(
        service=service,
        target=target,
        journal=journal,
        progress=progress,
        clock=time.time,
        sleep=stop.wait,
        stop_requested=stop_requested or stop.is_set,
        settings=Settings(poll=poll, wait_for_lock=wait_for_lock, check_proxy=os.environ.get("DEPLOYER_HTTP_PROXY") or None),
    )
