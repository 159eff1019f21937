"""spec -> CloudFormation templates (troposphere). Pure: no AWS calls, no file writes.

One module per concern; `service_template` composes them and runs our own checks.
"""

from __future__ import annotations

from troposphere import Template

from deployer.errors import SynthError
from deployer.spec import Service
from deployer.synth import alarms, alb, dns, iam, network, outputs, parameters, services, task
from deployer.synth.bootstrap import bootstrap_template
from deployer.synth.checks import check_template
from deployer.synth.cluster import cluster_template

__all__ = ["bootstrap_template", "cluster_template", "service_template", "checked"]


def service_template(service: Service) -> Template:
    t = Template(Description=f"deployer: service {service.name} ({service.release.strategy})")
    parameters.add_parameters(t, service)
    iam.add_roles(t, service)
    network.add_security_groups(t, service)
    task.add_task_definition(t, service)
    alb.add_load_balancing(t, service)
    services.add_services(t, service)
    dns.add_records(t, service)
    alarms.add_alarms(t, service)
    outputs.add_outputs(t, service)
    return checked(t)


def checked(t: Template) -> Template:
    problems = check_template(t.to_dict())
    if problems:
        raise SynthError(problems)
    return t
