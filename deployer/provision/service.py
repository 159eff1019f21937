"""`deployer bootstrap` and `deployer provision SERVICE`: which stacks, with which parameters."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.aws.cloudformation import CloudFormation, iter_parameters
from deployer.errors import ConfigError
from deployer.provision.live import stack_parameters
from deployer.provision.observe import Observer
from deployer.provision.stacks import Progress, StackResult, apply_stack
from deployer.spec import Service
from deployer.synth import bootstrap_template, cluster_template, names, service_template
from deployer.synth.native import judged_by_lambda


@dataclass
class ProvisionReport:
    results: list[StackResult]

    @property
    def changed(self) -> bool:
        return any(r.action in ("created", "updated") for r in self.results)

    def to_dict(self) -> dict:
        return {"result": "provisioned" if self.changed else "noop", "stacks": [r.to_dict() for r in self.results]}


def bootstrap(
    cfn: CloudFormation, progress: Progress, *, dry_run: bool = False, settings: dict[str, str] | None = None
) -> ProvisionReport:
    """Create or update the bootstrap stack. `settings` (template parameter -> value) change what
    they name; every parameter not named keeps its live value, so a plain `deployer bootstrap`
    never switches a table back from a customer-managed key."""
    template = bootstrap_template().to_dict()
    existing = cfn.stack(names.BOOTSTRAP_STACK)
    live = dict(iter_parameters(existing)) if existing else {}
    parameters = {k: v for k, v in live.items() if k in template.get("Parameters", {})}
    parameters.update(settings or {})
    result = apply_stack(
        cfn, stack=names.BOOTSTRAP_STACK, template=template, parameters=parameters, progress=progress, dry_run=dry_run
    )
    return ProvisionReport([result])


def _require_bootstrap_exports(cfn: CloudFormation, service: Service) -> None:
    """A service that logs to the bootstrap bucket imports its name: say so before CloudFormation fails."""
    logs = service.load_balancer.access_logs
    if logs is None or logs.bucket != "bootstrap":
        return
    stack = cfn.stack(names.BOOTSTRAP_STACK)
    outputs = {o["OutputKey"] for o in (stack or {}).get("Outputs", [])}
    if names.ACCESS_LOGS_OUTPUT not in outputs:
        why = "there is no stack deployer-bootstrap" if stack is None else "stack deployer-bootstrap predates the access-log bucket"
        raise ConfigError(
            [f"{service.name}: load_balancer.access_logs.bucket is 'bootstrap', but {why}"],
            hint="run `deployer bootstrap` (once per account and region), then provision again",
        )


def _require_judge_export(cfn: CloudFormation, service: Service) -> None:
    """A service judged by the judge function imports its ARN: say so before CloudFormation fails."""
    if not judged_by_lambda(service):
        return
    stack = cfn.stack(names.JUDGE_STACK)
    outputs = {o["OutputKey"] for o in (stack or {}).get("Outputs", [])}
    if names.JUDGE_FUNCTION_OUTPUT not in outputs:
        why = "there is no stack deployer-judge" if stack is None else f"stack deployer-judge is {stack['StackStatus']}"
        raise ConfigError(
            [f"{service.name}: release.ecs.judge is 'lambda', but {why}"],
            hint="run `deployer judge install` (once per account and region, after `deployer bootstrap`), then provision again",
        )


def provision(service: Service, observer: Observer, progress: Progress, *, dry_run: bool = False) -> ProvisionReport:
    """Cluster stack first (shared by the cluster's services), then the service's own stack.

    The service's parameters are read from the live service right before the change set,
    so whatever a release has set (revision, counts, weights) is what the update keeps.
    """
    cfn = observer.cloudformation
    _require_bootstrap_exports(cfn, service)
    _require_judge_export(cfn, service)
    results = [
        apply_stack(
            cfn,
            stack=names.cluster_stack_name(service.cluster),
            template=cluster_template(service.cluster).to_dict(),
            parameters={},
            progress=progress,
            dry_run=dry_run,
        )
    ]
    template = service_template(service).to_dict()
    parameters = stack_parameters(service, observer.live_state(service))
    results.append(
        apply_stack(
            cfn, stack=names.stack_name(service.name), template=template, parameters=parameters, progress=progress, dry_run=dry_run
        )
    )
    return ProvisionReport(results)
