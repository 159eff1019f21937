"""`deployer bootstrap` and `deployer provision SERVICE`: which stacks, with which parameters."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.aws.cloudformation import CloudFormation
from deployer.provision.live import stack_parameters
from deployer.provision.observe import Observer
from deployer.provision.stacks import Progress, StackResult, apply_stack
from deployer.spec import Service
from deployer.synth import bootstrap_template, cluster_template, names, service_template


@dataclass
class ProvisionReport:
    results: list[StackResult]

    @property
    def changed(self) -> bool:
        return any(r.action in ("created", "updated") for r in self.results)

    def to_dict(self) -> dict:
        return {"result": "provisioned" if self.changed else "noop", "stacks": [r.to_dict() for r in self.results]}


def bootstrap(cfn: CloudFormation, progress: Progress, *, dry_run: bool = False) -> ProvisionReport:
    result = apply_stack(
        cfn, stack=names.BOOTSTRAP_STACK, template=bootstrap_template().to_dict(), parameters={}, progress=progress, dry_run=dry_run
    )
    return ProvisionReport([result])


def provision(service: Service, observer: Observer, progress: Progress, *, dry_run: bool = False) -> ProvisionReport:
    """Cluster stack first (shared by the cluster's services), then the service's own stack.

    The service's parameters are read from the live service right before the change set,
    so whatever a release has set (revision, counts, weights) is what the update keeps.
    """
    cfn = observer.cloudformation
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
