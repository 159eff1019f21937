"""One service's stack: the concerns composed in order, then our own checks. Pure."""

from __future__ import annotations

from troposphere import Template

from deployer.spec import Service
from deployer.synth import alarms, alb, dns, iam, network, outputs, parameters, services, task
from deployer.synth.checks import checked


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
