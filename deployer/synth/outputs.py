"""Stack outputs: how the release engine finds services, target groups and listeners. Pure."""

from __future__ import annotations

from troposphere import GetAtt, Output, Ref, Template

from deployer.spec import Service
from deployer.synth import alb, names, native
from deployer.synth.dns import record_name, zone_name


def add_outputs(t: Template, service: Service) -> None:
    t.add_output(Output(names.OUTPUT_CLUSTER, Value=service.cluster))
    t.add_output(Output(names.OUTPUT_TASK_DEFINITION, Value=Ref(names.TASK_DEFINITION)))
    for color in service.colors:
        t.add_output(Output(names.output_service(color), Value=GetAtt(names.ecs_service(color), "Name")))
    for color in service.target_colors:
        t.add_output(Output(names.output_target_group(color), Value=Ref(names.target_group(color))))
        t.add_output(
            Output(
                names.output_target_group_full_name(color),
                Value=GetAtt(names.target_group(color), "TargetGroupFullName"),
            )
        )
        if service.dns_switched:
            t.add_output(
                Output(names.output_load_balancer_full_name(color), Value=alb.load_balancer_full_name(service, color))
            )
    if not service.dns_switched:
        t.add_output(Output(names.output_load_balancer_full_name(), Value=alb.load_balancer_full_name(service)))
        traffic = alb.traffic_resource(service, service.colors[0])
        t.add_output(Output(names.OUTPUT_LISTENER, Value=Ref(traffic)))
    if service.load_balancer.test_listener is not None:
        t.add_output(Output(names.OUTPUT_TEST_LISTENER, Value=Ref(names.TEST_LISTENER)))
        if native.two_target_groups(service):
            t.add_output(Output(names.OUTPUT_TEST_RULE, Value=Ref(names.TEST_RULE)))
    if service.dns is not None and service.load_balancer.rule is None:
        t.add_output(Output(names.OUTPUT_RECORD, Value=record_name(service)))
        t.add_output(Output(names.OUTPUT_ZONE, Value=zone_name(service)))
