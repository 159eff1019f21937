"""Route53: hosted zones and weighted record sets."""

from __future__ import annotations

from deployer.aws.base import Adapter
from deployer.errors import NotFound


def _fqdn(name: str) -> str:
    return name.rstrip(".") + "."


class Route53(Adapter):
    service_name = "route53"

    def zone_id(self, zone_name: str) -> str:
        wanted = _fqdn(zone_name)
        response = self._call("list_hosted_zones_by_name", idempotent=True, DNSName=wanted, MaxItems="10")
        for zone in response.get("HostedZones", []):
            if zone["Name"] == wanted:
                return zone["Id"].split("/")[-1]
        raise NotFound("ListHostedZonesByName", "NoSuchHostedZone", f"no hosted zone named {wanted}")

    def weighted_records(self, zone_id: str, name: str) -> dict[str, dict]:
        """SetIdentifier -> record set, for the weighted records of `name`."""
        wanted = _fqdn(name)
        response = self._call(
            "list_resource_record_sets", idempotent=True, HostedZoneId=zone_id, StartRecordName=wanted, MaxItems="20"
        )
        return {
            r["SetIdentifier"]: r
            for r in response.get("ResourceRecordSets", [])
            if _fqdn(r["Name"]) == wanted and "SetIdentifier" in r and "Weight" in r
        }

    def set_weights(self, zone_id: str, name: str, weights: dict[str, int]) -> None:
        """UPSERT the weight of each weighted record (by SetIdentifier) in one change batch."""
        for identifier, weight in weights.items():
            if not 0 <= weight <= 255:  # AWS rejects it; moto does not check
                from deployer.errors import UsageError

                raise UsageError(f"Route53 weight {weight} for {identifier} is outside 0..255")
        current = self.weighted_records(zone_id, name)
        missing = sorted(set(weights) - set(current))
        if missing:
            raise NotFound("ListResourceRecordSets", "NoSuchRecord", f"no weighted record {name} for {', '.join(missing)}")
        changes = []
        for identifier, weight in weights.items():
            record = {k: v for k, v in current[identifier].items()}
            record["Weight"] = weight
            changes.append({"Action": "UPSERT", "ResourceRecordSet": record})
        self._call("change_resource_record_sets", idempotent=True, HostedZoneId=zone_id,
                   ChangeBatch={"Comment": "deployer: traffic weights", "Changes": changes})
