"""Route53: an A alias to the ALB, or two weighted CNAMEs (one per color's ALB) for DNS blue/green. Pure."""

from __future__ import annotations

from troposphere import GetAtt, Ref, Template
from troposphere.route53 import AliasTarget, RecordSetType

from deployer.spec import Service
from deployer.synth import names


def zone_name(service: Service) -> str:
    return service.dns.zone.rstrip(".") + "."


def record_name(service: Service) -> str:
    return service.dns.record.rstrip(".") + "."


def add_records(t: Template, service: Service) -> None:
    if service.dns is None or service.load_balancer.rule is not None:
        return
    if service.dns_switched:
        for color in service.colors:
            t.add_resource(
                RecordSetType(
                    names.weighted_record(color),
                    HostedZoneName=zone_name(service),
                    Name=record_name(service),
                    Type="CNAME",
                    TTL=str(service.dns.ttl),
                    SetIdentifier=color,
                    Weight=Ref(names.param_weight(color)),
                    ResourceRecords=[GetAtt(names.load_balancer(color), "DNSName")],
                )
            )
        return
    t.add_resource(
        RecordSetType(
            names.RECORD,
            HostedZoneName=zone_name(service),
            Name=record_name(service),
            Type="A",
            AliasTarget=AliasTarget(
                DNSName=GetAtt(names.load_balancer(), "DNSName"),
                HostedZoneId=GetAtt(names.load_balancer(), "CanonicalHostedZoneID"),
                EvaluateTargetHealth=True,
            ),
        )
    )
