"""Stack parameters: the values the release engine owns (version, counts, weights).

`provision` fills them from the live service so an infrastructure update never reverts a
release; their bounds are where CloudFormation itself enforces AWS's limits.
"""

from __future__ import annotations

from troposphere import Equals, Not, Parameter, Ref, Template

from deployer.spec import Service
from deployer.synth import names

ALB_MAX_WEIGHT = 999
ROUTE53_MAX_WEIGHT = 255


def max_weight(service: Service) -> int:
    return ROUTE53_MAX_WEIGHT if service.dns_switched else ALB_MAX_WEIGHT


def initial_weight(service: Service, color: str) -> int:
    """Traffic starts on blue (or the only color)."""
    return 100 if color in ("blue", "main") else 0


def initial_desired_count(service: Service, color: str) -> int:
    return service.desired_count if color in ("blue", "main") else 0


def add_parameters(t: Template, service: Service) -> None:
    t.add_parameter(
        Parameter(names.PARAM_IMAGE, Type="String", Default=service.image, Description="Image of the template's task definition")
    )
    for color in service.colors:
        t.add_parameter(
            Parameter(
                names.param_task_definition(color),
                Type="String",
                Default="",
                Description=f"Live task definition ARN of the {color} service; empty uses the template's own",
            )
        )
        t.add_condition(
            names.condition_live_task_definition(color),
            Not(Equals(Ref(names.param_task_definition(color)), "")),
        )
        t.add_parameter(
            Parameter(
                names.param_desired_count(color),
                Type="Number",
                Default=initial_desired_count(service, color),
                MinValue=0,
                MaxValue=1000,
                Description=f"Desired task count of the {color} service (owned by releases)",
            )
        )
    for color in service.target_colors:
        if color != "main":
            t.add_parameter(
                Parameter(
                    names.param_weight(color),
                    Type="Number",
                    Default=initial_weight(service, color),
                    MinValue=0,
                    MaxValue=max_weight(service),
                    Description=f"Traffic weight of the {color} color (owned by releases)",
                )
            )
    if service.load_balancer.test_listener is not None and not service.release.native:
        t.add_parameter(
            Parameter(
                names.PARAM_TEST_COLOR,
                Type="String",
                Default="green",
                AllowedValues=["blue", "green"],
                Description="Color the test listener reaches (the idle one; owned by releases)",
            )
        )
        t.add_condition("TestListenerOnBlue", Equals(Ref(names.PARAM_TEST_COLOR), "blue"))
