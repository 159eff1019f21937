"""Route53 in CloudFormation: updating one weighted record leaves its siblings alone.

AWS identifies a weighted record set by name, type and SetIdentifier. moto 5.2.5 deletes every
record with the same name when CloudFormation updates one of them, so a DNS blue/green stack
loses the other color's record on any update.
"""

from __future__ import annotations

from moto.route53.models import RecordSet, route53_backends
from moto.utilities.utils import get_partition


def install() -> None:
    original = RecordSet.delete_from_cloudformation_json.__func__

    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        properties = cloudformation_json["Properties"]
        set_identifier = properties.get("SetIdentifier")
        if not set_identifier:
            return original(cls, resource_name, cloudformation_json, account_id, region_name)
        backend = route53_backends[account_id][get_partition(region_name)]
        zone_name = properties.get("HostedZoneName")
        zone = backend.get_hosted_zone_by_name(zone_name) if zone_name else backend.get_hosted_zone(properties["HostedZoneId"])
        zone.rrsets = [
            r
            for r in zone.rrsets
            if not (r.name == resource_name and r.type == properties.get("Type") and r.set_identifier == set_identifier)
        ]

    RecordSet.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)
