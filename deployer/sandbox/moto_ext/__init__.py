"""Extensions that make moto (pinned exactly) behave like documented AWS where it does not.

Each extension patches one moto backend method, says which AWS behaviour it imitates, and has
a test in tests/functional/test_moto_ext.py (the service deployments of native ECS services and
AWS::CloudWatch::Alarm: in tests/functional/test_sandbox_native*.py; Lambda's Invoke and
AWS::Scheduler::Schedule: in tests/functional/test_sandbox_lambda*.py). `install()` is idempotent;
Invoke runs functions once the sandbox names its runner (`awslambda.use`).
"""

from __future__ import annotations

MOTO_VERSION = "5.2.5"
_installed_with = None  # the TargetHealth the patches report from (one per process)


def install(target_health) -> None:
    """Patch moto; DescribeTargetHealth answers from `target_health`, the sandbox process's TargetHealth."""
    global _installed_with
    if _installed_with is not None:
        if _installed_with is not target_health:
            raise RuntimeError("moto's extensions are installed already, reporting another TargetHealth")
        return
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(f"the sandbox's moto extensions are written for moto {MOTO_VERSION}, found {moto.__version__}")
    from deployer.sandbox.moto_ext import (awslambda, cloudformation, cloudwatch, cloudwatch_alarms, ecs, ecs_deployments, ecs_tasks,
                                           elbv2, route53, scheduler)

    cloudformation.install()
    elbv2.install()
    elbv2.install_forward_config()
    elbv2.install_health(target_health)
    route53.install()
    cloudwatch.install()
    cloudwatch_alarms.install()
    ecs.install()
    ecs_deployments.install()
    ecs_tasks.install()
    awslambda.install()
    scheduler.install()
    _installed_with = target_health
